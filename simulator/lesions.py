"""Place small-vessel-disease lesions in template space so that they realise the targets.

* periventricular WMH: a band around the ventricles whose local thickness is a smooth random
  field (caps at the horns, thinner bands along the bodies, gaps elsewhere), never further than
  ``PV_MAX_MM`` from the ventricle wall (loads that cannot fit there reach further into the
  deep white matter, up to ``PV_CONFLUENT_MAX_MM``); its overall thickness is found by
  bisection on volume;
* deep WMH: ellipsoidal foci more than 10 mm (plus their radius) from the ventricles; the largest
  one sized for the deep Fazekas grade;
* punctate periventricular foci: 3-4.5 mm spheres 3-8 mm from the ventricle wall, apart from
  the band (they count for the punctate grade);
* microbleeds (2-10 mm; 3-6 mm drawn, blooming on T2*), lacunes (4-12 mm CSF cavities with a
  FLAIR rim), enlarged perivascular spaces (thin tubes < 3 mm wide, 5-14 mm long; some in the
  basal ganglia).

The follow-up keeps every baseline lesion (WMH grow, new foci, microbleeds and lacunes are
added). Sizes are in template mm; the subject's head scale multiplies them in the world.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage as ndi

from simulator.anatomy import Anatomy, smooth_noise
from simulator.cohort import PatientSpec, VisitTargets
from simulator.geometry import lobe_factor, rotation

PV_MAX_MM = 8.5
#: loads a band PV_MAX_MM thick cannot hold (real clinical cases carry up to 128 mL of WMH,
#: issue 16) grow it further into the deep white matter, up to this distance (mm) from the
#: wall: Fazekas grade 3 PV lesions are "irregular, extending into the deep white matter"
#: (Fazekas F et al., AJR 1987), and the white matter between the lateral ventricle's body and
#: the cortex of the centrum semiovale is about 25-35 mm thick in adults. Only such loads use
#: it; every band PV_MAX_MM can hold is drawn as before.
PV_CONFLUENT_MAX_MM = 25.0
DEEP_MARGIN_MM = 11.5


def _fibonacci_sphere(n: int = 256) -> NDArray:
    i = np.arange(n) + 0.5
    phi = np.arccos(1 - 2 * i / n)
    theta = np.pi * (1 + 5**0.5) * i
    return np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], 1)


_SPHERE_DIRS = _fibonacci_sphere()


@dataclass(eq=False)
class Blob:
    """An ellipsoidal lesion in template space (mm)."""

    kind: str  # wmh_deep | punctate | microbleed | lacune | pvs
    centre: NDArray
    radii: NDArray
    axes: NDArray  # 3x3, columns are unit axes
    region: str = ""
    lobes: NDArray | None = None  # blobby bulges (see geometry.lobe_factor)

    @property
    def volume_mm3(self) -> float:
        """Volume: ellipsoid volume times the mean cubed lobe stretch."""
        base = 4.0 / 3.0 * np.pi * np.prod(self.radii)
        if self.lobes is None or len(self.lobes) == 0:
            return float(base)
        return float(base * np.mean(lobe_factor(_SPHERE_DIRS, self.lobes) ** 3))

    @property
    def diameter_mm(self) -> float:
        """Equivalent-sphere diameter."""
        return float((6.0 * self.volume_mm3 / np.pi) ** (1 / 3))


@dataclass
class VisitLesions:
    """Lesions of one visit: the PV band (a fraction map) and the lists of blobs."""

    pv_band: NDArray
    blobs: list[Blob] = field(default_factory=list)

    def of(self, kind: str) -> list[Blob]:
        """Blobs of one kind."""
        return [b for b in self.blobs if b.kind == kind]


def _random_axes(rng: np.random.Generator, spread_deg: float = 180.0) -> NDArray:
    return rotation(rng.uniform(-spread_deg, spread_deg, 3))


def _pick(cand: NDArray, affine: NDArray, rng: np.random.Generator, taken: list[Blob],
          radius: float, gap: float) -> NDArray | None:
    """A random candidate voxel centre (mm) at least ``radius + r_other + gap`` from others."""
    idx = np.argwhere(cand)
    if len(idx) == 0:
        return None
    for _ in range(60):
        ijk = idx[rng.integers(len(idx))]
        c = affine[:3, :3] @ ijk + affine[:3, 3] + rng.uniform(-0.5, 0.5, 3) * affine[0, 0]
        if all(np.linalg.norm(c - b.centre) > radius + b.radii.max() + gap for b in taken):
            return c
    return None


class LesionPlanner:
    """Plans both visits of one patient on the anatomy's working grid."""

    def __init__(self, anat: Anatomy, spec: PatientSpec, rng: np.random.Generator):
        self.a = anat
        self.spec = spec
        self.rng = rng
        self.r = anat.spacing
        self.dv = anat.vent_dist
        self.wm_region = (anat.wm + anat.gm * 0.3) > 0.55
        self.vox_mm3 = self.r**3
        self.scale3 = spec.head_scale**3
        shape = anat.gm.shape
        n1 = smooth_noise(shape, rng, 8.0 / self.r)
        idx = np.indices(shape, dtype=np.float32)
        y = anat.affine[1, 1] * idx[1] + anat.affine[1, 3]
        # caps: thicker towards the frontal and occipital horns
        caps = 0.5 * (np.abs(y + 10) / 35.0) ** 2
        self.shape_field = shape_field = np.clip(0.55 + 0.5 * n1 + caps, 0, 3)
        region = (self.dv <= PV_CONFLUENT_MAX_MM + self.r) & self.wm_region & (anat.vent < 0.5)
        self.band_idx = np.flatnonzero(region)
        self.band_dv = self.dv.ravel()[self.band_idx]
        self.band_shape = shape_field.ravel()[self.band_idx]
        self._away: dict[int, NDArray] = {}

    # -- periventricular band --------------------------------------------------------
    def band_for_volume(self, cm3: float) -> NDArray:
        """Band whose volume (world cm^3, voxels >= 0.5) is ``cm3``, by bisection on thickness."""
        target = cm3 * 1000.0 / self.scale3
        out = np.zeros(self.dv.size, np.float32)
        if target > 0:
            out[self.band_idx] = _fit_band(self.band_dv, self.band_shape, self.r,
                                           target / self.vox_mm3)
        return out.reshape(self.dv.shape)

    def away_from(self, band: NDArray) -> NDArray:
        """Distance (mm) to the band (cached per band)."""
        key = id(band)
        if key not in self._away:
            self._away[key] = ndi.distance_transform_edt(band < 0.05) * self.r
        return self._away[key]

    # -- blobs --------------------------------------------------------------------------
    def _deep_cand(self, radius: float, band: NDArray) -> NDArray:
        a = self.a
        margin = DEEP_MARGIN_MM + radius
        cand = (self.dv > margin) & (a.wm > 0.8) & (band < 0.01) & ~a.deep_gm
        if cand.sum() < 5:
            cand = (self.dv > 10.0 + 0.5 * radius) & (a.wm > 0.6) & (band < 0.01)
        return cand

    def _ellipsoid(self, kind: str, c: NDArray, d: float, elong: float = 1.25,
                   region: str = "") -> Blob:
        r = d / 2.0
        ratios = np.array([elong, 1.0, 1.0 / elong]) ** (1 / 1.5)
        ratios /= np.prod(ratios) ** (1 / 3)
        return Blob(kind, c, r * ratios, _random_axes(self.rng), region)

    def add_deep(self, taken: list[Blob], band: NDArray, diameter: float) -> Blob | None:
        """One deep WMH focus of equivalent diameter ``diameter`` (template mm)."""
        c = _pick(self._deep_cand(diameter / 2, band), self.a.affine, self.rng, taken,
                  diameter / 2, 2.5 * self.r)
        if c is None:
            return None
        b = self._ellipsoid("wmh_deep", c, diameter, self.rng.uniform(1.0, 1.4), "deep")
        # smooth bulges, then shrink so the equivalent diameter stays ``diameter``
        v = self.rng.standard_normal((3, 3))
        b.lobes = np.column_stack([v / np.linalg.norm(v, axis=1, keepdims=True),
                                   self.rng.uniform(0.1, 0.35, 3)])
        b.radii = b.radii * (np.pi / 6 * diameter**3 / b.volume_mm3) ** (1 / 3)
        taken.append(b)
        return b

    def add_punctate(self, taken: list[Blob], band: NDArray) -> Blob | None:
        """A punctate PV focus (3-4.5 mm) 3-8 mm from the ventricles, apart from the band."""
        d = self.rng.uniform(3.0, 4.5) / self.spec.head_scale
        away = self.away_from(band)
        cand = ((self.dv > 2.0 + d / 2 + self.r) & (self.dv < 9.0 - d / 2)
                & (away > d / 2 + 1.5 * self.r) & self.wm_region)
        c = _pick(cand, self.a.affine, self.rng, taken, d / 2, 2.0 * self.r)
        if c is None:
            return None
        b = self._ellipsoid("punctate", c, d, 1.0, "periventricular")
        taken.append(b)
        return b

    def add_microbleed(self, taken: list[Blob]) -> Blob | None:
        """A microbleed (3-6 mm) at the grey-white junction, deep grey matter or infratentorial."""
        a = self.a
        d = self.rng.uniform(3.0, 6.0)
        u = self.rng.random()
        if u < 0.55:
            cand, region = (a.gm > 0.3) & (a.gm < 0.7) & (a.wm > 0.25), "lobar"
        elif u < 0.85:
            cand, region = a.deep_gm & (self.dv > 4) & ((a.gm + a.wm) > 0.9), "deep"
        else:
            world_z = a.affine[2, 2] * np.arange(a.gm.shape[2]) + a.affine[2, 3]
            cand = ((a.gm + a.wm) > 0.9) & (world_z[None, None, :] < -20)
            region = "infratentorial"
        c = _pick(cand, a.affine, self.rng, taken, d / 2, 3.0 + self.r)
        if c is None:
            return None
        b = self._ellipsoid("microbleed", c, d, 1.0, region)
        taken.append(b)
        return b

    def add_lacune(self, taken: list[Blob]) -> Blob | None:
        """A lacune (4-12 mm cavity) in the basal ganglia/thalamus or the deep white matter."""
        a = self.a
        d = self.rng.uniform(4.0, 12.0)
        options = [(a.deep_gm & (self.dv > d / 2 + 3) & ((a.gm + a.wm) > 0.9), "deep_gm"),
                   ((a.wm > 0.8) & (self.dv > d / 2 + 4), "white_matter")]
        if self.rng.random() >= 0.6:
            options.reverse()
        found = None
        for cand, where in options:
            c = _pick(cand, a.affine, self.rng, taken, d / 2 + 1.5, 2.0 * self.r)
            if c is not None:
                found = (c, where)
                break
        if found is None:
            return None
        b = self._ellipsoid("lacune", found[0], d, self.rng.uniform(1.0, 1.6), found[1])
        taken.append(b)
        return b

    def add_pvs(self, taken: list[Blob], basal_ganglia: bool) -> Blob | None:
        """An enlarged PVS: a tube 1.2-2.6 mm wide and 5-14 mm long (vertical-ish)."""
        a = self.a
        if basal_ganglia:
            world_z = a.affine[2, 2] * np.arange(a.gm.shape[2]) + a.affine[2, 3]
            cand = a.deep_gm & (world_z[None, None, :] < 8) & (self.dv > 4)
            region = "basal_ganglia"
        else:
            cand, region = (a.wm > 0.8) & (self.dv > 12), "centrum_semiovale"
        width = self.rng.uniform(1.2, 2.6)
        length = self.rng.uniform(5.0, 14.0)
        c = _pick(cand, a.affine, self.rng, taken, length / 2, 1.5 * self.r)
        if c is None:
            return None
        axes = rotation(self.rng.uniform(-15, 15, 3))
        axes = axes[:, [2, 0, 1]]  # first axis ~ z: long axis vertical
        b = Blob("pvs", c, np.array([length / 2, width / 2, width / 2]), axes, region)
        taken.append(b)
        return b


def _deep_diameters(grade: int, volume_cm3: float, scale: float,
                    rng: np.random.Generator) -> list[float]:
    """Diameters (template mm) of deep foci: the largest sets the grade, the rest fill volume."""
    if grade == 0 or volume_cm3 <= 0:
        return []
    s = 1.0 / scale
    largest = {1: rng.uniform(6.0, 8.5), 2: rng.uniform(12.5, 17.0),
               3: rng.uniform(22.5, 27.0)}[grade] * s
    left = volume_cm3 * 1000.0 / scale**3 - np.pi / 6 * largest**3
    out = [largest]
    while left > 0 and len(out) < 60:
        d = min(rng.uniform(5.0, 8.5) * s, (6 * max(left, 1.0) / np.pi) ** (1 / 3))
        if d < 3.5:
            break
        out.append(d)
        left -= np.pi / 6 * d**3
    return out


def plan_visits(anat: Anatomy, spec: PatientSpec, rng: np.random.Generator
                ) -> tuple[dict[str, VisitLesions], LesionPlanner]:
    """Lesions for every visit in ``spec.targets`` (baseline first; follow-up adds to it).

    ``pv_band`` here is the template-space band used to keep other lesions apart from it; the
    renderer redraws the band on each visit's FLAIR grid (:func:`band_on_grid`) so that its
    measured volume matches the target.
    """
    pl = LesionPlanner(anat, spec, rng)
    visits = list(spec.targets)
    bands = {v: pl.band_for_volume(spec.targets[v].wmh.pv_volume_cm3) for v in visits}
    widest = bands[visits[-1]]
    out: dict[str, VisitLesions] = {}
    taken: list[Blob] = []
    prev: VisitTargets | None = None
    for v in visits:
        t = spec.targets[v]
        blobs = [b for b in taken]
        if prev is None:
            for d in _deep_diameters(t.wmh.deep_grade, t.wmh.deep_volume_cm3,
                                     spec.head_scale, rng):
                pl.add_deep(blobs, widest, d)
        else:
            old = [b for b in blobs if b.kind == "wmh_deep"]
            have = sum(b.volume_mm3 for b in old) * spec.head_scale**3 / 1000.0
            need = t.wmh.deep_volume_cm3 - have
            if old and t.wmh.deep_grade > prev.wmh.deep_grade:
                big = max(old, key=lambda b: b.volume_mm3)
                new_d = _deep_diameters(t.wmh.deep_grade, 0.001, spec.head_scale, rng)[0]
                grown = Blob(big.kind, big.centre, big.radii * new_d / big.diameter_mm,
                             big.axes, big.region, big.lobes)
                blobs = [grown if b is big else b for b in blobs]
                need -= (grown.volume_mm3 - big.volume_mm3) * spec.head_scale**3 / 1000
            if not old:
                for d in _deep_diameters(t.wmh.deep_grade, need, spec.head_scale, rng):
                    pl.add_deep(blobs, widest, d)
            else:
                for d in _deep_diameters(1, need, spec.head_scale, rng)[1:]:
                    pl.add_deep(blobs, widest, d)
        for _ in range(max(0, t.n_punctate - len([b for b in blobs if b.kind == "punctate"]))):
            pl.add_punctate(blobs, widest)
        for _ in range(max(0, t.microbleed_count - sum(b.kind == "microbleed" for b in blobs))):
            pl.add_microbleed(blobs)
        for _ in range(max(0, t.lacune_count - sum(b.kind == "lacune" for b in blobs))):
            pl.add_lacune(blobs)
        n_bg = sum(b.kind == "pvs" and b.region == "basal_ganglia" for b in blobs)
        for _ in range(max(0, t.bg_pvs_count - n_bg)):
            pl.add_pvs(blobs, True)
        n_cso = sum(b.kind == "pvs" and b.region != "basal_ganglia" for b in blobs)
        for _ in range(max(0, t.other_pvs_count - n_cso)):
            pl.add_pvs(blobs, False)
        out[v] = VisitLesions(bands[v], blobs)
        taken = blobs
        prev = t
    return out, pl


def _band_fraction(d: NDArray, sh: NDArray, spacing: float, tau: float, cap: float) -> NDArray:
    """Band fraction of voxels at ``d`` mm from the wall: local thickness ``min(tau * sh, cap)``
    with a one-voxel partial-volume edge."""
    th = np.minimum(tau * sh, cap)
    return (np.clip((th - d) / spacing + 0.5, 0, 1) * (th > 1.0)).astype(np.float32)


def _fit_band(d: NDArray, sh: NDArray, spacing: float, target_voxels: float) -> NDArray:
    """Band fraction whose ``>= 0.5`` voxel count reaches ``target_voxels``: bisection on the
    overall thickness ``tau`` (0-20 mm) with the thickness capped at ``PV_MAX_MM``; a load that
    cap cannot hold is met by raising the cap towards ``PV_CONFLUENT_MAX_MM`` (at the widest
    ``tau``), so bands within the cap are drawn exactly as before it existed."""
    def enough(tau: float, cap: float) -> bool:
        return int((_band_fraction(d, sh, spacing, tau, cap) >= 0.5).sum()) >= target_voxels

    tau = _smallest(lambda t: enough(t, PV_MAX_MM), 0.0, 20.0)
    if enough(tau, PV_MAX_MM):
        return _band_fraction(d, sh, spacing, tau, PV_MAX_MM)
    cap = _smallest(lambda c: enough(tau, c), PV_MAX_MM, PV_CONFLUENT_MAX_MM)
    return _band_fraction(d, sh, spacing, tau, cap)


def _smallest(enough, lo: float, hi: float, steps: int = 16) -> float:
    """Upper end of a ``steps``-fold bisection for the smallest value in [lo, hi] for which
    the monotone test ``enough`` holds (``hi`` when none does)."""
    for _ in range(steps):
        mid = 0.5 * (lo + hi)
        if enough(mid):
            hi = mid
        else:
            lo = mid
    return hi


def band_on_grid(dist_mm: NDArray, shape_field: NDArray, wm_region: NDArray, vent: NDArray,
                 spacing: float, target_cm3: float) -> NDArray:
    """PV band fraction on an image grid whose ``>= 0.5`` volume is ``target_cm3``.

    ``dist_mm`` is the distance to the ventricle wall on that grid; the local thickness is
    ``min(tau * shape_field, PV_MAX_MM)`` with ``tau`` found by bisection (:func:`_fit_band`;
    heavier loads raise the cap). Islands that do not
    touch the ventricles are removed (they would count as punctate foci).
    """
    out = np.zeros(dist_mm.shape, np.float32)
    if target_cm3 <= 0:
        return out
    sel = np.flatnonzero((dist_mm <= PV_CONFLUENT_MAX_MM + spacing) & wm_region & ~vent)
    out.ravel()[sel] = _fit_band(dist_mm.ravel()[sel], shape_field.ravel()[sel], spacing,
                                 target_cm3 / (spacing**3 / 1000.0))
    lab, n = ndi.label(out >= 0.5, structure=np.ones((3, 3, 3), bool))
    if n:
        from simulator.truth import label_min_max

        touching = label_min_max(dist_mm, lab, n)[0] <= spacing * 1.01
        keep = np.concatenate([[False], touching])
        out[(lab > 0) & ~keep[lab]] = 0.0
    return out
