"""Render one patient's visits: CT and MRI arrays in scanner world space, truth and masks.

Tissue values (paper notes): CT white matter 27 HU, grey matter 40, CSF 8, blood 45-65, bone
600 (diploe) to 1300 (tables), calcium 130 to >1000; noise 4 HU SD. MRI contrasts use tissue
signal levels typical of each weighting (FLAIR: CSF dark, WMH bright; T2w: CSF bright;
T2*/SWI: microbleeds dark with blooming 1.6x their size), a multiplicative smooth bias field
and Rician noise (``sqrt((s + n1)^2 + n2^2)``, Gudbjartsson & Patz, MRM 1995). Each MR series
gets a small rigid motion relative to the FLAIR, whose grid carries the truth masks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from calcisvd.measures import MR_CONTRASTS
from simulator import geometry as geo
from simulator import protocols
from simulator.anatomy import Anatomy, build_anatomy, smooth_noise
from simulator.arteries import describe, sample_vessels
from simulator.cohort import PatientSpec, patient_rng, sample_patient
from simulator.lesions import Blob, VisitLesions, band_on_grid, plan_visits
from simulator.truth import icac_truth, jsonable, svd_truth, ventricle_distance
from simulator.vessels import Plaque, grow, plaque_centre, render_arteries, sample_plaques

#: MR signal per tissue and contrast (arbitrary units, WM ~ 400-800)
MR_SIGNAL: dict[str, dict[str, float]] = {
    "T1w": {"gm": 600, "wm": 800, "csf": 220, "wmh": 590, "table": 40, "diploe": 720,
            "scalp": 820, "mb": 560, "rim": 600},
    "T2w": {"gm": 560, "wm": 420, "csf": 1000, "wmh": 800, "table": 40, "diploe": 450,
            "scalp": 560, "mb": 230, "rim": 800},
    "FLAIR": {"gm": 560, "wm": 430, "csf": 70, "wmh": 950, "table": 40, "diploe": 360,
              "scalp": 600, "mb": 300, "rim": 900},
    "T2starw": {"gm": 450, "wm": 520, "csf": 760, "wmh": 560, "table": 30, "diploe": 300,
                "scalp": 450, "mb": 40, "rim": 560},
}
CT_HU = {"gm": 40.0, "wm": 27.0, "csf": 8.0, "table": 1300.0, "diploe": 600.0, "scalp": 30.0,
         "air": -1000.0, "lacune": 10.0, "wmh": 20.0}
CT_NOISE_HU = 4.0
BLOOMING = 1.6
#: NAWM variation (SD / mean) of a bias-corrected FLAIR, the unit of the graded lesions'
#: 2.5-8 SD: texture and noise alone (3.9%) understate it; calcisvd's QC measured 4.1-8.9% on
#: the rendered thick slices (`qc.nawm_cov`, seeds 2100-2105, 2026-12-05), and with the 3.9%
#: unit the truth lesions stood at a median 0.6-3.1 SD there instead of 2.5-8
NAWM_SD_FRACTION = 0.06
#: graded protocols: lesion contrast range in units of that SD (issue 16: real WMH/MS lesions
#: lie 2.5-7 SD above NAWM); a lacune's gliotic rim is the same tissue change (STRIVE: a rim
#: of hyperintensity like WMH, Wardlaw JM et al., Lancet Neurol 2013) and is drawn in the same
#: range, not at the ungraded rim level (FLAIR 900 = 18 SD, twice the brightest lesion)
LESION_SD = (2.5, 8.0)
#: a thick-slice voxel is WMH truth only if a reader sees it bright: it holds at least half
#: lesion (slab fraction >= 0.5) *and* its slab's noise-free, bias-free FLAIR lies at least
#: THICK_TRUTH_VISIBLE_SD NAWM SD (``NAWM_SD_FRACTION`` of the WM signal) above white matter.
#: 1.25 SD is the half-maximum of the faintest lesion drawn (``LESION_SD`` 2.5): the partial-
#: volume convention of the 0.5 fraction, applied to what the slab shows. The slab's CSF
#: (FLAIR 70 against WM 430) darkens a lesion on the ventricle wall below NAWM once its share
#: exceeds about f x k x 0.06 / 0.84 (0.09 for k = 2.5 SD, 0.29 for k = 8, lesion fraction
#: f 0.5). Until 2026-12-07 the rule was a ventricle share < 0.2, a proxy for this from the
#: signals at the median contrast: too loose for faint lesions, too strict for bright ones.
#: The change moved the truth of the heavy renders little (seed 2203, severe x 8,
#: clinical2d_flair_stripped: 78.5 -> 78.1 mL), that of faint small loads more (wmh_load x1,
#: clinical2d, mean of seeds 2201/2203: 10.9 -> 9.9 mL; held-out 2207's 0.69 mL of faint foci
#: leave no slab visibly bright). A reader marks what is visibly bright, not the lesion
#: volume a slab holds.
#: Thick protocols also get a second truth, ``wmh_visible`` (the reader who marks every
#: visibly bright slab, whatever share of it is lesion): the slab is as bright as above *and*
#: the WMH alone lift it by at least the same 1.25 SD (the rendered FLAIR minus the same
#: FLAIR without WMH, noise-free). The half-slab truth keeps its place as ``wmh_mask``; the
#: two bracket how readers delineate partial volume on thick slices. Measured 2026-12-07 on
#: clinical2d_flair_stripped seeds 2101 and 2107: of the voxels the method found outside the
#: half-slab truth but in a lesion it found, 79-81 % were visibly bright on the noise-free
#: image (median slab lesion share 0.01-0.25).
THICK_TRUTH_VISIBLE_SD = 1.25


@dataclass
class Session:
    """One rendered visit. Images and masks map a name to ``(float32 array, 4x4 RAS affine)``."""

    patient: PatientSpec
    visit: str
    images: dict[str, tuple[NDArray, NDArray]]
    masks: dict[str, tuple[NDArray, NDArray]]
    truth: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)


def _world_blob(b: Blob, w: NDArray) -> tuple[NDArray, NDArray, NDArray]:
    scale = np.linalg.norm(w[:3, :3], axis=0).mean()
    rot = w[:3, :3] / scale
    return geo.apply(w, b.centre)[0], b.radii * scale, rot @ b.axes


def _paint(img: NDArray, affine: NDArray, blobs: list[Blob], w: NDArray, value: float,
           grow_mm: float = 0.0, factor: float = 1.0) -> None:
    for b in blobs:
        c, r, ax = _world_blob(b, w)
        sl, f = geo.ellipsoid_fraction(affine, img.shape, c, r * factor + grow_mm, ax, b.lobes)
        if f.size:
            img[sl] = img[sl] * (1 - f) + value * f


def _label(shape, affine, blobs: list[Blob], w: NDArray) -> NDArray:
    """Label map (1..n) of blobs: fraction >= 0.5, or at least each blob's best voxel."""
    lab = np.zeros(shape, np.int16)
    for i, b in enumerate(blobs, start=1):
        c, r, ax = _world_blob(b, w)
        sl, f = geo.ellipsoid_fraction(affine, shape, c, r, ax, b.lobes)
        if not f.size or f.max() <= 0:
            continue
        m = f >= 0.5
        if not m.any():
            m = f == f.max()
        sub = lab[sl]
        sub[m] = i
        lab[sl] = sub
    return lab


def _bias(shape, rng: np.random.Generator, strength: float = 0.12) -> NDArray:
    g = [np.linspace(-1, 1, s, dtype=np.float32) for s in shape]
    x, y, z = np.meshgrid(*g, indexing="ij", sparse=True)
    c = rng.normal(0, strength, 6)
    f = c[0] * x + c[1] * y + c[2] * z + c[3] * x * y + c[4] * (x**2 - 0.3) + c[5] * z**2
    return np.exp(f).astype(np.float32)


def _rician(img: NDArray, sigma: float, rng: np.random.Generator) -> NDArray:
    n1 = rng.standard_normal(img.shape, dtype=np.float32) * sigma
    n2 = rng.standard_normal(img.shape, dtype=np.float32) * sigma
    return np.sqrt((img + n1) ** 2 + n2**2).astype(np.float32)


#: CT coverage in template z (mm): the paper's "orbital roof to foramen magnum" with margins,
#: which holds every intracranial artery of the atlas; MR covers the head down to the
#: foramen magnum
CT_Z_RANGE_MM = (-80.0, 25.0)
#: HU above which a voxel of the clean CT is head (scalp -> bone), not air (-1000 HU)
HEAD_HU = -500.0
MR_Z_MIN_MM = -78.0


def _head_points(anat: Anatomy, z_lo: float = -1e9, z_hi: float = 1e9) -> NDArray:
    head = (anat.gm + anat.wm + anat.csf + anat.bone_table + anat.bone_diploe + anat.scalp) > 0.5
    idx = np.argwhere(head[::2, ::2, ::2]) * 2
    pts = idx @ anat.affine[:3, :3].T + anat.affine[:3, 3]
    return pts[(pts[:, 2] >= z_lo) & (pts[:, 2] <= z_hi)]


def _mr_work(anat: Anatomy, contrast: str, s: dict[str, float] | None = None) -> NDArray:
    s = MR_SIGNAL[contrast] if s is None else s
    img = (anat.gm * s["gm"] + anat.wm * s["wm"] + anat.csf * s["csf"]
           + anat.bone_table * s["table"] + anat.bone_diploe * s["diploe"]
           + anat.scalp * s["scalp"])
    return img.astype(np.float32)


class PatientRenderer:
    """Anatomy and lesion plans of one patient, rendered visit by visit."""

    def __init__(self, spec: PatientSpec, resolution_mm: float, protocol: str = "paper"):
        self.spec = spec
        self.res = float(resolution_mm)
        self.protocol = protocols.get(protocol)
        vrng = patient_rng(spec.seed, spec.index, "vessels")
        self.vessels = sample_vessels(vrng, spec.age)
        # ventricle size: ~1 +- 0.12, and "enlarged" (1.4-1.8) in 12% of patients
        self.ventricle_scale = float(np.clip(vrng.normal(1.0, 0.12), 0.75, 1.3))
        if vrng.random() < 0.12:
            self.ventricle_scale = float(vrng.uniform(1.4, 1.8))
        rng = patient_rng(spec.seed, spec.index, "anatomy")
        self.anat = build_anatomy(self.res, spec.atrophy_mm, rng, self.vessels,
                                  self.ventricle_scale)
        self.lesions, planner = plan_visits(self.anat, spec,
                                            patient_rng(spec.seed, spec.index, "lesions"))
        self.shape_field = planner.shape_field
        self.wm_region = planner.wm_region.astype(np.float32)
        prng = patient_rng(spec.seed, spec.index, "plaques")
        self.plaques = sample_plaques(spec.group, spec.location, prng, self.vessels)
        self.blood_hu = float(prng.uniform(45, 65))
        self.head = geo.subject_transform(spec.head_scale, prng.uniform(-4, 4, 3))
        self.head_pts = _head_points(self.anat, z_lo=MR_Z_MIN_MM)
        self.ct_pts = _head_points(self.anat, CT_Z_RANGE_MM[0],
                                   1e9 if self.protocol.ct_whole_head else CT_Z_RANGE_MM[1])

    def plaques_for(self, visit: str) -> list[Plaque]:
        """Plaques of a visit (the follow-up grows them slightly)."""
        g = self.spec.targets[visit].calcium_growth if visit in self.spec.targets else 1.0
        return self.plaques if visit == "baseline" else grow(self.plaques, g)

    def render(self, visit: str = "baseline") -> Session:
        """Render one visit."""
        spec, anat = self.spec, self.anat
        rng = patient_rng(spec.seed, spec.index, f"render:{visit}")
        les: VisitLesions = self.lesions[visit]
        sp = (self.res,) * 3
        # ---- FLAIR grid, ventricles and the periventricular WMH band ----------------------
        p_mr = geo.rigid(rng.uniform(-5, 5, 3), rng.uniform(-10, 10, 3))
        w_fl = p_mr @ self.head
        mr_aff, mr_shape = geo.bbox_grid(geo.apply(w_fl, self.head_pts), sp, margin_mm=2.0)
        vent = geo.resample(anat.vent, anat.affine, mr_aff, mr_shape, w_fl) >= 0.5
        dist = ventricle_distance(vent, sp)
        band = band_on_grid(
            dist, geo.resample(self.shape_field, anat.affine, mr_aff, mr_shape, w_fl),
            geo.resample(self.wm_region, anat.affine, mr_aff, mr_shape, w_fl) >= 0.5, vent,
            self.res, spec.targets[visit].wmh.pv_volume_cm3)
        # ---- CT ------------------------------------------------------------------------
        p_ct = geo.rigid(rng.uniform([-8, -2, -2], [8, 2, 2]), rng.uniform(-8, 8, 3))
        w_ct = p_ct @ self.head
        ct_aff, ct_shape = geo.bbox_grid(geo.apply(w_ct, self.ct_pts), sp, margin_mm=2.0)
        pr = self.protocol
        kf = protocols.kvp_factor(pr.kvp)  # calcium and bone HU shift with kVp
        tissue = (anat.gm * CT_HU["gm"] + anat.wm * CT_HU["wm"] + anat.csf * CT_HU["csf"]
                  + anat.bone_table * CT_HU["table"] * kf
                  + anat.bone_diploe * CT_HU["diploe"] * kf + anat.scalp * CT_HU["scalp"])
        filled = (anat.gm + anat.wm + anat.csf + anat.bone_table + anat.bone_diploe
                  + anat.scalp)
        tissue = tissue + (1 - np.clip(filled, 0, 1)) * CT_HU["air"]
        ct = geo.resample(tissue.astype(np.float32), anat.affine, ct_aff, ct_shape, w_ct,
                          cval=CT_HU["air"])
        b_ct = geo.resample(band, mr_aff, ct_aff, ct_shape, w_ct @ np.linalg.inv(w_fl))
        ct = ct * (1 - b_ct) + b_ct * CT_HU["wmh"]
        _paint(ct, ct_aff, les.of("lacune"), w_ct, CT_HU["lacune"])
        plaques = self.plaques_for(visit)
        shown = plaques if kf == 1.0 else [Plaque(**dict(vars(p), hu=p.hu * kf)) for p in plaques]
        rv = render_arteries(ct, ct_aff, w_ct, shown, self.blood_hu, self.vessels)
        ct_clean = rv.hu
        ct_labels = rv.labels
        if pr.name == "paper":
            ct_noisy = ct_clean + rng.standard_normal(ct_clean.shape,
                                                      dtype=np.float32) * CT_NOISE_HU
        else:
            ct_noisy, ct_clean, ct_labels, ct_aff = _ct_protocol(
                ct_clean, rv.labels, ct_aff, pr, w_ct, rng)
        ct_noisy = np.clip(np.round(ct_noisy), -1024, 3071).astype(np.float32)
        volumes = [p.volume_mm3(spec.head_scale) for p in plaques]
        icac = icac_truth(ct_clean, ct_labels, grid_spacing(ct_aff), plaques, volumes)
        # ---- MRI ----------------------------------------------------------------------
        images: dict[str, tuple[NDArray, NDArray]] = {"ct": (ct_noisy, ct_aff)}
        poses = {"ct": w_ct.tolist()}
        for contrast in MR_CONTRASTS:
            motion = (np.eye(4) if contrast == "FLAIR"
                      else geo.rigid(rng.uniform(-1.5, 1.5, 3), rng.uniform(-1.5, 1.5, 3)))
            w = motion @ w_fl
            if contrast not in pr.contrasts and contrast != "FLAIR":
                continue
            poses[contrast] = w.tolist()
            s = dict(MR_SIGNAL[contrast])
            if pr.graded_lesions and contrast == "FLAIR":
                s["gm"] = s["wm"] * float(rng.uniform(1.04, 1.12))  # weak GM/WM contrast
            img = geo.resample(_mr_work(anat, contrast, s), anat.affine, mr_aff, mr_shape, w)
            b = band if contrast == "FLAIR" else geo.resample(band, mr_aff, mr_aff, mr_shape,
                                                               motion)
            thick_flair = contrast == "FLAIR" and pr.mr_slice_mm is not None  # thick truths
            if pr.graded_lesions and thick_flair:
                img, lesion = _graded_lesions(img, mr_aff, b, les, w, s, self.res, rng,
                                              return_lesion=True)
            elif pr.graded_lesions:
                img = _graded_lesions(img, mr_aff, b, les, w, s, self.res, rng)
            else:
                before = img
                img = img * (1 - b) + b * s["wmh"]
                _paint(img, mr_aff, les.of("wmh_deep") + les.of("punctate"), w, s["wmh"])
                lesion = img - before if thick_flair else None
            _paint(img, mr_aff, les.of("pvs"), w, s["csf"])
            rim = s["rim"]
            if pr.graded_lesions:
                rim = lesion_level(s, "rim", float(rng.uniform(*LESION_SD)))
            _paint(img, mr_aff, les.of("lacune"), w, rim, grow_mm=1.3)
            _paint(img, mr_aff, les.of("lacune"), w, s["csf"])
            _paint(img, mr_aff, les.of("microbleed"), w, s["mb"],
                   factor=BLOOMING if contrast == "T2starw" else 1.0)
            if thick_flair:
                seen = (img.copy(), s["wm"] * (1.0 + THICK_TRUTH_VISIBLE_SD * NAWM_SD_FRACTION))
                seen_lesion = (lesion, s["wm"] * THICK_TRUTH_VISIBLE_SD * NAWM_SD_FRACTION)
            img *= _bias(mr_shape, rng, 0.25 if pr.graded_lesions else 0.12)
            img = _rician(img, 0.025 * s["wm"], rng)
            if pr.graded_lesions:  # vendor intensity scaling
                img *= float(np.exp(rng.uniform(np.log(0.3), np.log(4.0))))
            if pr.skull_stripped:
                brain = geo.resample(anat.gm + anat.wm + anat.vent, anat.affine, mr_aff,
                                     mr_shape, w) >= 0.5
                img = np.where(brain, img, 0).astype(np.float32)
            images[contrast] = (img, mr_aff)
        # ---- truth masks on the FLAIR grid ------------------------------------------------
        foci = _label(mr_shape, mr_aff, les.of("wmh_deep") + les.of("punctate"), w_fl) > 0
        lac = _label(mr_shape, mr_aff, les.of("lacune"), w_fl)
        mbl = _label(mr_shape, mr_aff, les.of("microbleed"), w_fl)
        pvs = _label(mr_shape, mr_aff, les.of("pvs"), w_fl)
        wmh = ((band >= 0.5) | foci) & (lac == 0) & ~vent
        n_bg = sum(b.region == "basal_ganglia" for b in les.of("pvs"))
        svd = svd_truth(wmh, vent, mbl, lac, pvs, sp, len(les.of("microbleed")),
                        len(les.of("lacune")), len(les.of("pvs")), n_bg, dist=dist)
        truth = {
            "patient_id": spec.patient_id, "visit": visit, "group": spec.group,
            "location": spec.location, "resolution_mm": self.res,
            "icac": icac, "svd": svd,
            "plaques": [dict(p.record(), label=k + 1, volume_mm3=round(v, 3),
                             centre_ras=plaque_centre(p, self.vessels, w_ct))
                        for k, (p, v) in enumerate(zip(plaques, volumes, strict=True))],
            "microbleeds": _blob_records(les.of("microbleed"), w_fl, spec.head_scale),
            "lacunes": _blob_records(les.of("lacune"), w_fl, spec.head_scale),
            "pvs": _blob_records(les.of("pvs"), w_fl, spec.head_scale),
            "wmh_foci": _blob_records(les.of("wmh_deep") + les.of("punctate"), w_fl,
                                      spec.head_scale),
            "targets": _targets_record(spec, visit),
            "anatomy": {"head_scale": spec.head_scale, "atrophy_mm": spec.atrophy_mm,
                        "ventricle_scale": round(self.ventricle_scale, 3),
                        "vessels": describe(self.vessels)},
            # world (scanner RAS mm) from MNI152 template mm, per image: a registration truth
            "world_from_mni": {k: np.round(np.asarray(v), 5).tolist() for k, v in poses.items()},
        }
        masks = {"calcium_labels": (ct_labels, ct_aff), "wmh_mask": (wmh.astype(np.uint8),
                                                                     mr_aff),
                 "microbleeds": (mbl, mr_aff), "lacunes": (lac, mr_aff), "pvs": (pvs, mr_aff),
                 "ventricles": (vent.astype(np.uint8), mr_aff)}
        truth["protocol"] = {"name": pr.name, "kvp": pr.kvp, "ct_kernel": pr.ct_kernel,
                             "ct_slice_mm": pr.ct_slice_mm or self.res,
                             "ct_tilt_deg": round(float(np.degrees(np.arctan2(
                                 ct_aff[2, 1], ct_aff[1, 1]))), 3),
                             "skull_stripped": pr.skull_stripped,
                             "contrasts": [c for c in MR_CONTRASTS if c in images]}
        if pr.mr_slice_mm is not None:
            images, masks, geom = _mr_thick(images, masks, pr, rng, seen, seen_lesion)
            truth["protocol"].update(geom)
        meta = {"poses_world_from_mni": poses, "ct_clean": (ct_clean, ct_aff)}
        return Session(spec, visit, images, masks, jsonable(truth), meta)


def _blob_records(blobs: list[Blob], w: NDArray, scale: float) -> list[dict[str, Any]]:
    out = []
    for i, b in enumerate(blobs, start=1):
        c = geo.apply(w, b.centre)[0]
        out.append({"label": i, "centre_ras": [round(float(v), 2) for v in c],
                    "diameter_mm": round(b.diameter_mm * scale, 2),
                    "size_mm": [round(float(v) * 2 * scale, 2) for v in b.radii],
                    "volume_mm3": round(b.volume_mm3 * scale**3, 2), "region": b.region,
                    "kind": b.kind})
    return out


def _targets_record(spec: PatientSpec, visit: str) -> dict[str, Any]:
    t = spec.targets[visit]
    return {"wmh_volume_cm3": round(t.wmh.total_cm3, 3), "fazekas_total": t.wmh.fazekas_total,
            "fazekas_pv": t.wmh.pv_grade, "fazekas_deep": t.wmh.deep_grade,
            "microbleed_count": t.microbleed_count, "lacune_count": t.lacune_count,
            "pv_punctate_foci": t.n_punctate, "bg_pvs_count": t.bg_pvs_count}


def render_session(seed: int = 0, group: str = "moderate", location: str = "MCA",
                   resolution_mm: float = 2.0, visit: str = "baseline",
                   index: int = 0, protocol: str = "paper") -> Session:
    """Render one simulated visit of one patient (in memory); see the package doc.

    ``protocol`` names an acquisition protocol of :mod:`.protocols` (default ``paper``)."""
    spec = sample_patient(seed, index, group, location, follow_up=True)
    return PatientRenderer(spec, resolution_mm, protocol).render(visit)


#: petrous apices in head mm (beam-hardening streaks run between them)
_PETROUS = (np.array([-22.0, -8.0, -38.0]), np.array([22.0, -8.0, -38.0]))


def grid_spacing(aff: NDArray) -> tuple[float, float, float]:
    """In-plane pixel sizes and the slice spacing perpendicular to the plane (mm); their
    product is the voxel volume also on a sheared (gantry-tilted) grid."""
    n0, n1 = (float(np.linalg.norm(aff[:3, i])) for i in (0, 1))
    return n0, n1, float(abs(np.linalg.det(aff[:3, :3]))) / (n0 * n1)


def _ct_protocol(ct_clean: NDArray, labels: NDArray, aff: NDArray, pr, w_ct: NDArray,
                 rng: np.random.Generator):
    """Streaks, kernel (PSF and noise) and slice thickness of a CT protocol.

    A tilted CT is sampled from the blurred, noise-free head on its sheared grid (cubic
    spline: the PSF has made it smooth) and gets its noise there, per reconstructed voxel, as
    a scanner's would; resampling a finished noisy image would average the noise down and
    spread every deposit over the interpolation's extra blur."""
    from scipy import ndimage as ndi

    noise_sd, psf_mm = protocols.KERNEL[pr.ct_kernel]
    sp = float(aff[0, 0])
    clean = ct_clean
    tilted = pr.ct_tilt_deg is not None
    if pr.beam_hardening:
        left, right = (geo.apply(w_ct, p)[0] for p in _PETROUS)
        clean = clean + protocols.beam_hardening(clean.shape, aff, left, right, rng)
    seen = ndi.gaussian_filter(clean, psf_mm / sp) if psf_mm > 0 else clean
    # drawn on every protocol, so the stream (and the MR rendered after it) stays as it was
    noise = rng.standard_normal(seen.shape, dtype=np.float32) * noise_sd
    noisy = seen if tilted else seen + noise
    n_slab = 1
    if pr.ct_slice_mm is not None and pr.ct_slice_mm > sp * 1.01:
        noisy, aff2 = protocols.thick_slices(noisy, aff, pr.ct_slice_mm, 0.0)
        clean, _ = protocols.thick_slices(clean.astype(np.float32), aff, pr.ct_slice_mm, 0.0)
        lab, _ = protocols.thick_slices(labels, aff, pr.ct_slice_mm, 0.0, reduce="max")
        labels = np.where(clean >= 130.0, lab, 0).astype(np.int16)
        n_slab = max(1, int(round(pr.ct_slice_mm / sp)))  # the slab average's noise cut
        aff = aff2
    if tilted:
        tilt = float(rng.uniform(*pr.ct_tilt_deg))
        t_aff, t_shape = protocols.tilted_grid(aff, noisy.shape, tilt)
        noisy = geo.resample(noisy, aff, t_aff, t_shape, order=3, cval=-1000.0)
        (own,) = rng.spawn(1)  # the tilted grid's noise: a child stream, the parent unmoved
        noisy = noisy + own.standard_normal(noisy.shape, dtype=np.float32) * (
            noise_sd / np.sqrt(n_slab))
        clean = geo.resample(clean.astype(np.float32), aff, t_aff, t_shape, cval=-1000.0)
        lab = geo.resample(labels.astype(np.float32), aff, t_aff, t_shape, order=0)
        labels = np.where(clean >= 130.0, np.round(lab), 0).astype(np.int16)
        # slices planned to the head: from the first to the last that cut it (+1 of air)
        keep, aff = protocols.trim_to_head(clean, t_aff, clean > HEAD_HU)
        noisy, clean, labels = noisy[..., keep], clean[..., keep], labels[..., keep]
    return noisy.astype(np.float32), clean.astype(np.float32), labels, aff


def lesion_level(s: dict[str, float], tissue: str, k: float | NDArray) -> float | NDArray:
    """Signal of a graded lesion (``tissue``: ``"wmh"`` or a lacune's ``"rim"``) ``k`` NAWM SD
    (``NAWM_SD_FRACTION`` of the WM signal) away from white matter, on the side where the
    contrast's ungraded level ``s[tissue]`` lies (brighter on FLAIR/T2w, darker on T1w)."""
    return s["wm"] + float(np.sign(s[tissue] - s["wm"])) * k * (s["wm"] * NAWM_SD_FRACTION)


def _graded_lesions(img: NDArray, aff: NDArray, band: NDArray, les: VisitLesions,
                    w: NDArray, s: dict[str, float], res: float,
                    rng: np.random.Generator, return_lesion: bool = False
                    ) -> NDArray | tuple[NDArray, NDArray]:
    """WMH 2.5-8 SD of NAWM away from it, graded (smooth field), fuzzy borders (1-1.5 mm):
    brighter on contrasts where WMH are hyperintense (FLAIR, T2w), darker on T1w (WMH are
    T1-iso- to hypointense, never bright; Wardlaw JM et al., Lancet Neurol 2013).
    With ``return_lesion`` also the lesions' share of the signal (the image minus the same
    image without lesions; the same random draws)."""
    from scipy import ndimage as ndi

    frac = band.copy()
    _paint(frac, aff, les.of("wmh_deep") + les.of("punctate"), w, 1.0)
    frac = ndi.gaussian_filter(frac, float(rng.uniform(1.0, 1.5)) / res / 2.355 * 2)
    texture = 1.0 + 0.03 * smooth_noise(img.shape, rng, 3.0 / res)
    img = img * texture
    lo, hi = LESION_SD
    k = lo + (hi - lo) * (0.5 + 0.5 * np.clip(smooth_noise(img.shape, rng, 6.0 / res), -1, 1))
    value = lesion_level(s, "wmh", k)
    out = (img * (1 - frac) + frac * value).astype(np.float32)
    return (out, (frac * (value - img)).astype(np.float32)) if return_lesion else out


def _mr_thick(images, masks, pr, rng: np.random.Generator, seen: tuple[NDArray, float],
              lesion: tuple[NDArray, float] | None = None):
    """2-D thick-slice MR: every MR image and FLAIR-grid mask on the same slab grid. ``seen``:
    the noise-free, bias-free FLAIR on the FLAIR grid and the level a WMH truth voxel's slab
    must reach there (``THICK_TRUTH_VISIBLE_SD``). ``lesion``: the WMH's share of that FLAIR
    and the least share a slab must hold; with it the masks also get ``wmh_visible`` (see
    :data:`THICK_TRUTH_VISIBLE_SD`)."""
    t = float(rng.uniform(*pr.mr_slice_mm))
    gap = t * float(rng.uniform(*pr.mr_gap_frac))
    ip = float(rng.uniform(*pr.mr_in_plane_mm))
    out_i = {}
    for k, (arr, aff) in images.items():
        out_i[k] = ((arr, aff) if k == "ct"
                    else protocols.thick_slices(arr, aff, t, gap, ip))
    out_m = {}
    for k, (arr, aff) in masks.items():
        if k == "calcium_labels":
            out_m[k] = (arr, aff)
        elif k in ("wmh_mask", "ventricles"):  # at least half of the slab
            f, a = protocols.thick_slices(arr.astype(np.float32), aff, t, gap, ip, order=1)
            keep = f >= 0.5
            if k == "wmh_mask":  # and visibly bright (see THICK_TRUTH_VISIBLE_SD)
                bright = protocols.thick_slices(seen[0], aff, t, gap, ip, order=1)[0] >= seen[1]
                keep &= bright
                if lesion is not None:  # bright by at least that much because of the WMH
                    share = protocols.thick_slices(lesion[0], aff, t, gap, ip, order=1)[0]
                    out_m["wmh_visible"] = ((bright & (share >= lesion[1])).astype(np.uint8), a)
            out_m[k] = (keep.astype(np.uint8), a)
        else:
            m, a = protocols.thick_slices(arr, aff, t, gap, ip, order=0, reduce="max")
            out_m[k] = (m, a)
    geom = {"mr_slice_mm": round(t, 3), "mr_gap_mm": round(gap, 3), "mr_in_plane_mm": round(ip, 3)}
    return out_i, out_m, geom
