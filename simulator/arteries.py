"""The simulator's own intracranial arteries: a base tree and per-subject variation.

Independent of the measurer's atlas (``tasks/``): the base tree below is written from
anatomical descriptions of the circle of Willis in MNI-like head coordinates (RAS mm; the
anterior commissure near the origin), then every subject gets

* a smooth non-rigid displacement of the whole tree, 3-8 mm everywhere (its size varies
  smoothly along the tree, so the measurer's template lines are never where the vessels are);
* tortuosity: a lateral sine wiggle along each segment (amplitude 0.5-2 mm, wavelength
  15-30 mm, tapered to zero at the segment ends so junctions stay joined), larger with age;
* ectasia (probability 0.25): one stretch of the basilar artery or an ICA widened 1.4-1.8x
  over 8-15 mm, with an extra 3-6 mm bow (dolichoectasia: Pico F et al., Neurology 2003,
  reports it in ~12% of stroke patients; the probability is raised for an elderly cohort);
* asymmetry: vertebral dominance (left 50%, right 25%, balanced 25%; the non-dominant radius
  0.45-0.7x, i.e. hypoplastic below ~2 mm diameter), a missing or hypoplastic A1 (10%) and
  P1 (15%) (Krabbe-Hartkamp MJ et al., Radiology 1998: a complete circle of Willis in 42%
  of adults; A1 and P1 variants are the commonest);
* bone contact: the petrous-cavernous ICA (carotid canal, siphon beside the sphenoid) and the
  first ~12 mm of the intracranial vertebral artery (dural entry at the foramen magnum) are
  ``bony``: the anatomy lays a bone shell on one side of them (:mod:`.anatomy`) at
  ``bone_gap_mm`` (0-1 mm) outside the outer wall.

Only ICA, MCA (M1), BA and VA carry plaques (the measures contract); A1 and P1 are drawn as
blood-filled vessels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage as ndi

STEP_MM = 0.25
#: wall thickness beyond the lumen used for bone clearance (mm; intracranial arterial wall
#: 0.3-0.6 mm, plaques add up to ~1 mm)
WALL_MM = 1.0
#: vessel wall (mm) between the lumen and a bone shell, before the vessel's bone gap
BONE_WALL_MM = 0.3

# right-side base control points (x > 0 is the subject's right), head coordinates (mm)
_BASE_R = {
    # petrous (carotid canal) -> cavernous siphon -> supraclinoid -> terminus
    "ICA": ((27.0, -12.0, -47.0), (23.0, -5.0, -42.0), (19.5, -0.5, -37.5),
            (18.5, 4.0, -33.0), (18.0, 10.5, -30.5), (16.5, 14.5, -25.5),
            (15.5, 10.0, -19.5), (13.5, 5.0, -16.5)),
    "MCA": ((13.5, 5.0, -16.5), (21.0, 6.5, -15.0), (29.0, 7.5, -13.5), (37.0, 6.0, -10.5)),
    "ACA": ((13.5, 5.0, -16.5), (9.0, 11.0, -13.0), (3.0, 16.0, -10.0)),
    "PCA": ((0.0, -16.5, -22.0), (6.0, -18.0, -21.0), (12.0, -21.0, -18.0)),
    "VA": ((13.0, -43.0, -67.0), (10.0, -38.5, -61.0), (5.0, -34.0, -54.5),
           (0.0, -32.0, -50.0)),
}
_BA = ((0.0, -32.0, -50.0), (0.0, -28.0, -41.0), (0.0, -23.0, -31.0), (0.0, -16.5, -22.0))
#: lumen radii (mm): ICA 4.5-5 mm diameter, M1 3, BA 3.2, VA 3.4, A1 2.2, P1 2.2
_RADIUS = {"ICA": 2.4, "MCA": 1.5, "BA": 1.6, "VA": 1.7, "ACA": 1.1, "PCA": 1.1}
#: bony stretch (mm from the segment start) and the template direction where the bone lies
_BONY = {"ICA": (0.0, 30.0, "medial"), "VA": (0.0, 12.0, "lateral")}


@dataclass
class Vessel:
    """One artery segment of one subject, densely sampled (subject head mm)."""

    artery: str  # ICA | MCA | BA | VA | ACA | PCA
    side: str  # L | R | M
    points: NDArray  # N x 3
    radius: NDArray  # N, lumen radius (mm)
    bony: NDArray  # N, bool: bone lies at bone_gap_mm outside the wall on one side
    bone_dir: NDArray  # N x 3 unit vectors towards the bone (perpendicular to the course)
    bone_gap_mm: float

    @property
    def s(self) -> NDArray:
        """Arc length (mm) at every point."""
        d = np.linalg.norm(np.diff(self.points, axis=0), axis=1)
        return np.concatenate([[0.0], np.cumsum(d)])

    @property
    def length_mm(self) -> float:
        """Segment length (mm)."""
        return float(self.s[-1])

    def at(self, s_mm: float) -> int:
        """Index of the point nearest arc length ``s_mm``."""
        return int(np.argmin(np.abs(self.s - s_mm)))


def _dense(ctrl: NDArray, step: float = STEP_MM) -> NDArray:
    """Smooth (Catmull-Rom) curve through control points, resampled every ``step`` mm."""
    p = np.vstack([2 * ctrl[0] - ctrl[1], ctrl, 2 * ctrl[-1] - ctrl[-2]])
    out = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        t = np.linspace(0, 1, 40, endpoint=False)[:, None]
        out.append(0.5 * (2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                          + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3))
    out.append(ctrl[-1:])
    c = np.vstack(out)
    s = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(c, axis=0), axis=1))])
    n = max(2, int(np.ceil(s[-1] / step)) + 1)
    si = np.linspace(0, s[-1], n)
    return np.stack([np.interp(si, s, c[:, k]) for k in range(3)], 1)


def _resample(pts: NDArray, radius: NDArray) -> tuple[NDArray, NDArray]:
    """Points and radii resampled every ``STEP_MM`` of arc length."""
    s = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    si = np.linspace(0, s[-1], max(2, int(np.ceil(s[-1] / STEP_MM)) + 1))
    return (np.stack([np.interp(si, s, pts[:, k]) for k in range(3)], 1),
            np.interp(si, s, radius))


def _field(rng: np.random.Generator) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    """Random smooth displacement field parameters (Fourier modes, 40-100 mm wavelengths)."""
    k = rng.normal(size=(4, 3))
    k *= (2 * np.pi / rng.uniform(40, 100, (4, 1))) / np.linalg.norm(k, axis=1, keepdims=True)
    return k, rng.uniform(0, 2 * np.pi, (4, 3)), rng.normal(size=(4, 3)), rng.normal(size=3)


def _displace(pts: NDArray, field, amp: tuple[NDArray, NDArray]) -> NDArray:
    """Displacement vectors of size 3-8 mm (varying smoothly) at ``pts``.

    Away from the segment ends the part along the course is removed, so the vessel moves
    sideways (3-8 mm off its base line); at the ends (junctions) the shared field is used
    as is, so segments that meet stay joined.
    """
    k, ph, coef, const = field
    modes = np.sin(pts @ k.T + ph[:, 0])  # N x 4
    f = const / np.linalg.norm(const) + 0.6 * (modes @ coef) / np.sqrt(4)
    t = tangents(pts, SIDEWAYS_SMOOTH_MM)
    s = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
    # 0 at the ends, 1 past 16 mm: the along-course part is removed gradually (at most
    # ~0.5 mm per mm of course) so the curve never folds back; short segments (< 40 mm)
    # keep the shared field throughout
    env = np.clip(np.minimum(s, s[-1] - s) / 16.0, 0, 1)[:, None] * float(s[-1] >= 40.0)
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    f = f - env * (f * t).sum(1, keepdims=True) * t
    # renormalise, but not where the field runs along the course (its sideways part would
    # flip direction there): the displacement shrinks instead, staying continuous
    f /= np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 0.6)
    ka, pa = amp
    mag = 5.5 + 2.5 * np.sin(pts @ ka + pa)  # 3-8 mm
    d = f * mag[:, None]
    # smoothed along the course (sigma 5 mm): a sideways offset larger than a bend's radius
    # would otherwise fold the curve at the siphon's knees
    sm = ndi.gaussian_filter1d(d, 5.0 / STEP_MM, axis=0, mode="nearest")
    w = env  # ends keep the shared field (junctions stay joined)
    return w * sm + (1 - w) * d


def _perp(t: NDArray, v: NDArray) -> NDArray:
    """Unit vectors of ``v`` made perpendicular to the unit tangents ``t``."""
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    w = v - (v * t).sum(1, keepdims=True) * t
    # unit length except where v runs along the course (shorter there, never flipping)
    return w / np.maximum(np.linalg.norm(w, axis=1, keepdims=True), 0.6)


def tangents(pts: NDArray, smooth_mm: float = 0.0) -> NDArray:
    """Unit tangents along a polyline (optionally smoothed over ``smooth_mm`` of course)."""
    t = np.gradient(pts, axis=0)
    t /= np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-9)
    if smooth_mm > 0:
        t = ndi.gaussian_filter1d(t, smooth_mm / STEP_MM, axis=0, mode="nearest")
        t /= np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-9)
    return t


#: sideways offsets (displacement, wiggle, bow) are taken perpendicular to the course
#: smoothed over this length (mm), so tight bends (the siphon's knees) do not fold
SIDEWAYS_SMOOTH_MM = 8.0


def sample_vessels(rng: np.random.Generator, age: float = 70.0) -> list[Vessel]:
    """The arterial tree of one subject (see the module doc for every variation)."""
    field = _field(rng)
    ka = rng.normal(size=3)
    ka *= 2 * np.pi / 60.0 / np.linalg.norm(ka)
    amp = (ka, float(rng.uniform(0, 2 * np.pi)))
    tort = float(np.clip(0.5 + (age - 50) / 40 * 1.2 + rng.normal(0, 0.3), 0.5, 2.0))
    dom = rng.choice(["L", "R", "both"], p=[0.5, 0.25, 0.25])
    va_scale = {"L": 1.0, "R": 1.0}
    if dom != "both":
        va_scale["R" if dom == "L" else "L"] = float(rng.uniform(0.45, 0.7))
        va_scale[str(dom)] = float(rng.uniform(1.05, 1.2))
    a1 = {s: 1.0 for s in "LR"}
    if rng.random() < 0.10:
        a1[str(rng.choice(["L", "R"]))] = float(rng.choice([0.0, 0.5]))
    p1 = {s: 1.0 for s in "LR"}
    if rng.random() < 0.15:
        p1[str(rng.choice(["L", "R"]))] = float(rng.choice([0.0, 0.5]))
    ectatic = str(rng.choice(["BA", "ICA_L", "ICA_R"])) if rng.random() < 0.25 else None
    bone_gap = float(rng.uniform(0.0, 1.0))
    specs: list[tuple[str, str, NDArray]] = [("BA", "M", np.asarray(_BA))]
    for art, ctrl in _BASE_R.items():
        for side in ("R", "L"):
            c = np.asarray(ctrl, float) * (np.array([1.0, 1, 1]) if side == "R"
                                            else np.array([-1.0, 1, 1]))
            specs.append((art, side, c))
    out = []
    for art, side, ctrl in specs:
        scale = {"VA": va_scale.get(side, 1.0), "ACA": a1.get(side, 1.0),
                 "PCA": p1.get(side, 1.0)}.get(art, 1.0)
        if scale == 0.0:
            continue
        pts = _dense(ctrl)
        pts = pts + _displace(pts, field, amp)
        t = tangents(pts, SIDEWAYS_SMOOTH_MM)
        s = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
        env = np.sin(np.pi * s / s[-1])
        wl = rng.uniform(15, 30)
        n1 = _perp(t, rng.normal(size=(1, 3)).repeat(len(pts), 0))
        n2 = np.cross(t, n1)
        ph = rng.uniform(0, 2 * np.pi)
        wig = tort * env * np.sin(2 * np.pi * s / wl + ph)
        turn = s / 30.0  # the wiggle's plane turns slowly along the course
        pts = pts + wig[:, None] * (n1 * np.cos(turn)[:, None] + n2 * np.sin(turn)[:, None])
        radius = np.full(len(pts), _RADIUS[art] * scale)
        key = art if art == "BA" else f"{art}_{side}"
        if ectatic == key:
            c0 = rng.uniform(0.3, 0.7) * s[-1]
            half = rng.uniform(4.0, 7.5)
            w = np.clip(1 - np.abs(s - c0) / half, 0, 1)
            w = np.sin(np.pi / 2 * w) ** 2
            radius = radius * (1 + rng.uniform(0.4, 0.8) * w)
            bow = _perp(t, rng.normal(size=(1, 3)).repeat(len(pts), 0))
            pts = pts + (rng.uniform(3, 6) * np.sin(np.pi * s / s[-1]))[:, None] * bow
        pts, radius = _resample(pts, radius)
        t = tangents(pts)
        s = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(pts, axis=0), axis=1))])
        bony = np.zeros(len(pts), bool)
        bdir = np.zeros((len(pts), 3))
        if art in _BONY:
            lo, hi, where = _BONY[art]
            bony = (s >= lo) & (s <= hi)
            sign = -1.0 if side == "R" else 1.0  # medial = towards x = 0
            v = np.array([sign, 0.0, -0.3]) if where == "medial" else np.array([-sign, -0.4, 0.0])
            bdir = _perp(t, np.repeat(v[None], len(pts), 0))
        out.append(Vessel(art, side, pts, radius, bony, bdir, bone_gap))
    return out


def find(vessels: list[Vessel], artery: str, side: str) -> Vessel | None:
    """The subject's vessel ``artery``/``side`` (None when absent)."""
    return next((v for v in vessels if v.artery == artery and v.side == side), None)


def describe(vessels: list[Vessel]) -> list[dict]:
    """Raw per-vessel truth: length, radii, bony stretch, ectasia (max/median radius)."""
    out = []
    for v in vessels:
        out.append({"artery": v.artery, "side": v.side, "length_mm": round(v.length_mm, 2),
                    "radius_mm_median": round(float(np.median(v.radius)), 3),
                    "radius_mm_max": round(float(v.radius.max()), 3),
                    "bony_length_mm": round(float(v.bony.sum() * STEP_MM), 1),
                    "bone_gap_mm": round(v.bone_gap_mm, 3),
                    "start_mm": [round(float(x), 2) for x in v.points[0]],
                    "end_mm": [round(float(x), 2) for x in v.points[-1]]})
    return out
