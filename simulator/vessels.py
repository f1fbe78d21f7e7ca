"""Calcified plaques on the subject's own arteries (:mod:`.arteries`): sampling and CT rendering.

Arteries are tubes along the subject's vessels (subject head mm, carried into the world by the
subject's pose) filled with blood (45-65 HU). A plaque is a wall deposit: an arc of the vessel
wall (``arc_deg`` of the circumference starting at ``phi_deg``), ``length_mm`` along the
centreline, ``thickness_mm`` thick, reaching ``intrusion`` of its thickness into the lumen
(stenosis for the severe group), at a uniform density ``hu`` (130 to >1000 HU at 120 kVp).

Volume of a deposit (the ground-truth calcium volume): ``arc/360 * pi * (r_out^2 - r_in^2) * L``
with ``r_in = R - intrusion * h`` and ``r_out = r_in + h`` (R the local lumen radius).

Plaques in a bony stretch (petrous-cavernous ICA, vertebral entry) are turned towards the bone
with probability 0.7; their ``bone_gap_mm`` (outer deposit surface to the bone shell, 0-1 mm)
is recorded; ``None`` for plaques away from bone.

Rendering supersamples each voxel near an artery (``ss^3`` points) so deposits get partial
volume like a real CT's point-spread.

Group recipes (the paper's words, ``../shared/paper/README.md``): none/mild 1-2 small plaques
(arc <= 90 deg) in the dominant artery; moderate 3-8 plaques over >= 2 segments (arc <= 120 deg);
severe one plaque of 200-330 deg narrowing the lumen plus others. The dominant location always
holds the largest calcium volume.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

from simulator.arteries import BONE_WALL_MM, Vessel, find, tangents
from simulator.geometry import apply, voxel_centres

#: ICA plaques start 8 mm into the carotid canal (petrous segment), VA ones 2 mm past the entry
_START_MM = {"ICA": 8.0, "VA": 2.0}
_SIDES = {"ICA": ("L", "R"), "MCA": ("L", "R"), "BA": ("M",), "VA": ("L", "R")}


@dataclass
class Plaque:
    """One calcified deposit on an artery wall (template mm; see module doc)."""

    artery: str
    side: str
    s_mm: float  # start along the centreline
    length_mm: float
    arc_deg: float
    phi_deg: float
    thickness_mm: float
    intrusion: float
    hu: float
    radius_mm: float = 2.0  # local lumen radius
    bone_gap_mm: float | None = None  # outer surface to bone (mm); None away from bone

    def volume_mm3(self, scale: float = 1.0) -> float:
        """True deposit volume in the world (template volume times scale^3)."""
        r_in = self.radius_mm - self.intrusion * self.thickness_mm
        r_out = r_in + self.thickness_mm
        return float(self.arc_deg / 360.0 * np.pi * (r_out**2 - r_in**2) * self.length_mm
                     * scale**3)

    def record(self) -> dict:
        """JSON-friendly fields."""
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def _place(v: Vessel, length: float, taken: list[Plaque], rng: np.random.Generator,
           bony: bool = False) -> float | None:
    lo, hi = _START_MM.get(v.artery, 1.0), v.length_mm - 1.0 - length
    if bony and v.bony.any():
        sb = v.s[v.bony]
        lo, hi = max(lo, float(sb.min())), min(hi, float(sb.max()) - length)
    for _ in range(50):
        s = rng.uniform(lo, hi) if hi > lo else lo
        if all(p.artery != v.artery or p.side != v.side
               or s > p.s_mm + p.length_mm + 5.0 or s + length < p.s_mm - 5.0 for p in taken):
            return float(s)
    return None


def frame(t: NDArray) -> tuple[NDArray, NDArray]:
    """Wall-angle frame (n1, n2) per unit tangent, in subject head space (0 deg along n1)."""
    ref = np.where(np.abs(t[:, 2:3]) > 0.9, np.array([[1.0, 0, 0]]), np.array([[0, 0, 1.0]]))
    n1 = np.cross(t, ref)
    n1 /= np.linalg.norm(n1, axis=1, keepdims=True)
    return n1, np.cross(t, n1)


def _plaque_on(vessels: list[Vessel], artery, side, rng, taken, length, arc, thick, hu,
               intrusion=0.35) -> Plaque | None:
    v = find(vessels, artery, side)
    if v is None:
        return None
    bony_try = bool(v.bony.any() and rng.random() < 0.5)
    s = _place(v, length, taken, rng, bony=bony_try)
    if s is None:
        return None
    i = v.at(s + length / 2)
    radius = float(v.radius[i])
    thick = min(float(thick), 0.8 * radius)
    phi = float(rng.uniform(0, 360))
    gap = None
    if bony_try and v.bony[i] and rng.random() < 0.7:
        t = tangents(v.points)[i:i + 1]
        n1, n2 = frame(t)
        b = v.bone_dir[i]
        phi_b = float(np.degrees(np.arctan2(b @ n2[0], b @ n1[0])) % 360.0)
        phi = (phi_b - arc / 2 + rng.uniform(-0.2, 0.2) * arc) % 360.0
        r_out = radius - intrusion * thick + thick
        gap = max(0.0, radius + BONE_WALL_MM + v.bone_gap_mm - r_out)
    p = Plaque(artery, side, s, float(length), float(arc), phi, thick, float(intrusion),
               float(hu), radius, gap)
    taken.append(p)
    return p


def sample_plaques(group: str, location: str, rng: np.random.Generator,
                   vessels: list[Vessel]) -> list[Plaque]:
    """Plaques of one patient for a severity group and dominant location (baseline)."""

    def _plaque(*args, **kw) -> Plaque | None:
        return _plaque_on(vessels, *args, **kw)

    out: list[Plaque] = []
    dom_sides = _SIDES[location]
    u = rng.uniform
    if group == "none_mild":
        for _ in range(int(rng.integers(1, 3))):
            _plaque(location, str(rng.choice(dom_sides)), rng, out, u(3.0, 5.0), u(50, 90),
                    u(0.8, 1.2), u(400, 900))
    elif group == "moderate":
        n = int(rng.integers(3, 9))
        n_dom = max(2, n // 2)
        for _ in range(n_dom):
            _plaque(location, str(rng.choice(dom_sides)), rng, out, u(4.0, 6.5), u(70, 120),
                    u(0.8, 1.2), u(300, 900))
        others = [(a, s) for a, sides in _SIDES.items() for s in sides if a != location]
        for _ in range(n - n_dom):
            a, s = others[int(rng.integers(len(others)))]
            _plaque(a, s, rng, out, u(3.0, 5.0), u(45, 90), u(0.7, 1.1), u(300, 800))
    else:
        for attempt in range(6):
            side = str(dom_sides[attempt % len(dom_sides)])
            big = _plaque(location, side, rng, out, u(7.0, 11.0) * (1 - 0.1 * attempt),
                          u(200, 330), u(1.0, 1.5), u(600, 1300), intrusion=0.6)
            if big is not None:
                break
        for _ in range(int(rng.integers(3, 9))):
            a = str(rng.choice(["ICA", "MCA", "BA", "VA"]))
            _plaque(a, str(rng.choice(_SIDES[a])), rng, out, u(2.0, 5.0), u(40, 150),
                    u(0.6, 1.2), u(200, 1000))
    if group == "moderate":
        # "several, widely distributed": top up until >= 3 plaques over >= 2 segments
        others = [(a, s) for a, sides in _SIDES.items() for s in sides if a != location]
        for _ in range(40):
            if len(out) >= 3 and len({(p.artery, p.side) for p in out}) >= 2:
                break
            a, s = others[int(rng.integers(len(others)))]
            _plaque(a, s, rng, out, u(3.0, 5.0), u(45, 90), u(0.7, 1.1), u(300, 800))
    _enforce_dominance(out, location)
    return out


def volume_by_artery(plaques: list[Plaque], scale: float = 1.0) -> dict[str, float]:
    """True calcium volume (mm^3) per artery, sides pooled."""
    out: dict[str, float] = {}
    for p in plaques:
        out[p.artery] = out.get(p.artery, 0.0) + p.volume_mm3(scale)
    return out


def _enforce_dominance(plaques: list[Plaque], location: str) -> None:
    """Shrink plaques elsewhere until the dominant artery holds 1.3x any other's volume."""
    for _ in range(30):
        vols = volume_by_artery(plaques)
        dom = vols.get(location, 0.0)
        worst = max((v for a, v in vols.items() if a != location), default=0.0)
        if worst * 1.3 <= dom:
            return
        for p in plaques:
            if p.artery != location:
                p.length_mm = max(1.5, p.length_mm * 0.85)
                p.arc_deg = max(35.0, p.arc_deg * 0.9)


def grow(plaques: list[Plaque], factor: float) -> list[Plaque]:
    """Follow-up plaques: the same deposits, lengths grown by ``factor`` (>= 1)."""
    out = []
    for p in plaques:
        d = asdict(p)
        d["length_mm"] = p.length_mm * factor
        out.append(Plaque(**d))
    return out


@dataclass
class RenderedVessels:
    """CT after drawing arteries and plaques, and the plaque label map (0 = none)."""

    hu: NDArray
    labels: NDArray
    fractions: list[float]  # rendered deposit volume per plaque (mm^3, from supersampling)


def render_arteries(hu: NDArray, affine: NDArray, world_from_mni: NDArray,
                    plaques: list[Plaque], blood_hu: float,
                    vessels: list[Vessel]) -> RenderedVessels:
    """Draw the arteries (blood) and the plaques into a CT array (HU) on grid ``affine``.

    ``world_from_mni`` maps subject head mm to the scanner world. Returns a new HU array, the
    label map (plaque index + 1 where the voxel's largest deposit fraction lies and the voxel is
    >= 130 HU after partial volume) and each plaque's supersampled volume.
    """
    hu = hu.copy()
    sp = np.abs(np.diag(affine)[:3])
    ss = int(np.clip(np.round(sp.max() / 0.45), 2, 5))
    lin = np.linalg.norm(world_from_mni[:3, :3], axis=0).mean()
    rot = world_from_mni[:3, :3] / lin
    pts, seg, arc_s, rad, f1, f2 = [], [], [], [], [], []
    for i, v in enumerate(vessels):
        n1, n2 = frame(tangents(v.points))  # head-space frame, carried by the pose rotation
        pts.append(apply(world_from_mni, v.points))
        seg.append(np.full(len(v.points), i))
        arc_s.append(v.s)
        rad.append(v.radius * lin)
        f1.append(n1 @ rot.T)
        f2.append(n2 @ rot.T)
    pts_a, seg_a = np.concatenate(pts), np.concatenate(seg)
    s_a, r_a = np.concatenate(arc_s), np.concatenate(rad)
    n1_a, n2_a = np.concatenate(f1), np.concatenate(f2)
    t_a = np.cross(n1_a, n2_a)
    tree = cKDTree(pts_a)
    reach = r_a.max() + 2.0 + sp.max()
    inv = np.linalg.inv(affine)
    vox = pts_a @ inv[:3, :3].T + inv[:3, 3]
    lo = np.floor(vox.min(0) - reach / sp).astype(int)
    hi = np.ceil(vox.max(0) + reach / sp).astype(int) + 1
    centres, sl = voxel_centres(affine, hu.shape, lo, hi)
    dist, _ = tree.query(centres, distance_upper_bound=reach)
    near = np.flatnonzero(np.isfinite(dist))
    centres = centres[near]
    offs = (np.stack(np.meshgrid(*[np.arange(ss)] * 3, indexing="ij"), -1).reshape(-1, 3)
            + 0.5) / ss - 0.5
    sub = (centres[:, None, :] + (offs * sp)[None]).reshape(-1, 3)
    _, j = tree.query(sub)
    sg = seg_a[j]
    radial = sub - pts_a[j]
    t = t_a[j]
    radial -= (radial * t).sum(1, keepdims=True) * t
    rho = np.linalg.norm(radial, axis=1)
    ang = np.degrees(np.arctan2((radial * n2_a[j]).sum(1), (radial * n1_a[j]).sum(1))) % 360.0
    lumen = rho < r_a[j]
    mat_hu = np.full(len(sub), np.nan)
    mat_hu[lumen] = blood_hu
    owner = np.full(len(sub), -1)
    seg_index = {(v.artery, v.side): i for i, v in enumerate(vessels)}
    for k, p in enumerate(plaques):
        si = seg_index[(p.artery, p.side)]
        r_in = (p.radius_mm - p.intrusion * p.thickness_mm) * lin
        r_out = r_in + p.thickness_mm * lin
        da = (ang - p.phi_deg) % 360.0
        inside = ((sg == si) & (s_a[j] >= p.s_mm) & (s_a[j] <= p.s_mm + p.length_mm)
                  & (rho >= r_in) & (rho <= r_out) & (da <= p.arc_deg))
        mat_hu[inside] = p.hu
        owner[inside] = k
    n_sub = ss**3
    sub_vol = float(np.prod(sp)) / n_sub
    base = hu[sl].reshape(-1)[near]
    mat = mat_hu.reshape(-1, n_sub)
    filled = np.where(np.isnan(mat), base[:, None], mat)
    new = filled.mean(1)
    flat = hu[sl].reshape(-1)
    flat[near] = new
    hu[sl] = flat.reshape(hu[sl].shape)
    labels = np.zeros(hu.shape, np.int16)
    own = owner.reshape(-1, n_sub)
    fractions = [float((owner == k).sum() * sub_vol) for k in range(len(plaques))]
    if plaques:
        counts = np.stack([(own == k).sum(1) for k in range(len(plaques))], 1)
        best = counts.argmax(1)
        has = (counts.max(1) > 0) & (new >= 130.0)
        lab_flat = labels[sl].reshape(-1)
        lab_flat[near[has]] = best[has] + 1
        labels[sl] = lab_flat.reshape(labels[sl].shape)
    return RenderedVessels(hu, labels, fractions)


def plaque_centre(p: Plaque, vessels: list[Vessel], w: NDArray) -> list[float]:
    """World position (mm) of a plaque's mid-point on its centreline."""
    v = find(vessels, p.artery, p.side)
    assert v is not None
    return [round(float(x), 2) for x in apply(w, v.points[v.at(p.s_mm + p.length_mm / 2)])[0]]
