"""Subject anatomy from nilearn's MNI152 (2009) templates, deformed per subject.

The working space is the MNI grid at the requested resolution, padded by ``PAD_MM`` so the skull
and scalp fit. Tissue is held as fractions (partial volume): grey matter, white matter, CSF,
ventricles, bone (tables and diploe), scalp. Per subject: atrophy (ventricles dilated by
``atrophy_mm``, the cortical surface eroded by a third of it, the freed space becoming CSF);
the head-size scale and rotation are applied later by the pose (see :mod:`.geometry`).

Template reference: Fonov VS et al., NeuroImage 2011 (ICBM 2009a nonlinear symmetric), as
shipped by nilearn (``load_mni152_template``, ``load_mni152_gm_template``,
``load_mni152_wm_template``, ``load_mni152_brain_mask``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage as ndi

from tasks.icac.atlas import CENTRELINES

PAD_MM = 24.0

#: head layers outside the brain mask, distances in mm from the brain surface
LAYERS_MM = {"csf": (0.0, 1.5), "inner_table": (1.5, 3.0), "diploe": (3.0, 6.0),
             "outer_table": (6.0, 7.5), "scalp": (7.5, 12.0)}


@dataclass
class Template:
    """MNI maps on the padded working grid (float32 fractions) and its affine (RAS mm)."""

    affine: NDArray
    gm: NDArray
    wm: NDArray
    brain: NDArray  # brain mask fraction
    vent: NDArray  # ventricle mask (bool)
    d_out: NDArray  # distance outside the brain mask (mm)
    d_in: NDArray  # distance inside the brain mask (mm)
    vessel_dist: NDArray  # distance to the nearest artery centreline (mm)
    vent_sd: NDArray | None = None  # signed distance to the ventricle wall (mm, < 0 inside)

    @property
    def spacing(self) -> float:
        """Voxel size in mm."""
        return float(self.affine[0, 0])

    def world(self) -> NDArray:
        """RAS mm coordinates of every voxel, shape (3, *shape)."""
        idx = np.indices(self.gm.shape, dtype=np.float32)
        a = self.affine
        return np.stack([a[i, i] * idx[i] + a[i, 3] for i in range(3)])


def work_resolution(resolution_mm: float) -> int:
    """Working-grid resolution (whole mm, 1-3) for a requested output resolution."""
    return int(np.clip(round(resolution_mm), 1, 3))


@functools.lru_cache(maxsize=4)
def load_template(resolution_mm: int) -> Template:
    """Templates resampled to ``resolution_mm``, padded, with derived masks (cached)."""
    from nilearn import datasets

    r = work_resolution(resolution_mm)
    t1 = datasets.load_mni152_template(resolution=r)
    gm = datasets.load_mni152_gm_template(resolution=r).get_fdata(dtype=np.float32)
    wm = datasets.load_mni152_wm_template(resolution=r).get_fdata(dtype=np.float32)
    mask = datasets.load_mni152_brain_mask(resolution=r).get_fdata(dtype=np.float32) > 0.5
    t1d = t1.get_fdata(dtype=np.float32)
    pad = int(np.ceil(PAD_MM / r))
    aff = t1.affine.copy()
    aff[:3, 3] -= pad * r

    def p(a):
        return np.pad(a, pad)

    gm, wm, mask, t1d = p(gm * mask), p(wm * mask), p(mask), p(t1d)
    s = gm + wm
    over = s > 1
    gm[over] /= s[over]
    wm[over] /= s[over]
    d_in = ndi.distance_transform_edt(mask).astype(np.float32) * r
    d_out = ndi.distance_transform_edt(~mask).astype(np.float32) * r
    vent = _ventricles(gm, wm, t1d, mask, d_in, aff)
    tpl = Template(aff, gm.astype(np.float32), wm.astype(np.float32),
                   mask.astype(np.float32), vent, d_out, d_in, np.zeros(1, np.float32))
    tpl.vessel_dist = _vessel_distance(tpl)
    d_v_out = ndi.distance_transform_edt(~vent).astype(np.float32) * r
    d_v_in = ndi.distance_transform_edt(vent).astype(np.float32) * r
    tpl.vent_sd = np.where(vent, -d_v_in, d_v_out).astype(np.float32)
    return tpl


def _ventricles(gm, wm, t1, mask, d_in, aff) -> NDArray:
    """Lateral and third ventricles: central CSF-dark components larger than 1 cm^3."""
    r = aff[0, 0]
    idx = np.indices(gm.shape, dtype=np.float32)
    x, y, z = (aff[i, i] * idx[i] + aff[i, 3] for i in range(3))
    box = (np.abs(x) < 32) & (y > -50) & (y < 36) & (z > -8) & (z < 36)
    cand = ((1 - gm - wm) > 0.5) & (t1 < 0.5) & box & (d_in > 15) & mask
    lab, n = ndi.label(cand)
    if n == 0:
        return cand
    sizes = ndi.sum(cand, lab, np.arange(1, n + 1)) * r**3
    keep = np.flatnonzero(sizes > 1000.0) + 1
    return np.isin(lab, keep)


def _vessel_distance(tpl: Template) -> NDArray:
    """Distance (mm) from every working voxel to the nearest artery centreline point."""
    pts = np.concatenate([c.sample(0.5) for c in CENTRELINES])
    inv = np.linalg.inv(tpl.affine)
    ijk = pts @ inv[:3, :3].T + inv[:3, 3]
    seed = np.ones(tpl.gm.shape, dtype=bool)
    ii = np.clip(np.round(ijk).astype(int), 0, np.array(tpl.gm.shape) - 1)
    seed[ii[:, 0], ii[:, 1], ii[:, 2]] = False
    return ndi.distance_transform_edt(seed).astype(np.float32) * tpl.spacing


def band(d: NDArray, lo: float, hi: float, r: float) -> NDArray:
    """Partial-volume fraction of a layer ``lo <= d < hi`` (mm) on a grid of spacing ``r``."""
    return (np.clip((d - lo) / r + 0.5, 0, 1) - np.clip((d - hi) / r + 0.5, 0, 1)).astype(
        np.float32)


@dataclass
class Anatomy:
    """Per-subject tissue fractions on the working grid (they sum to <= 1; rest is air)."""

    affine: NDArray
    gm: NDArray
    wm: NDArray
    csf: NDArray
    vent: NDArray  # fraction (part of csf)
    bone_table: NDArray
    bone_diploe: NDArray
    scalp: NDArray
    deep_gm: NDArray  # bool: basal ganglia / thalamus region (lesion placement)
    vent_dist: NDArray  # distance (mm) to the (dilated) ventricle wall, 0 inside

    @property
    def spacing(self) -> float:
        """Voxel size in mm."""
        return float(self.affine[0, 0])


def smooth_noise(shape: tuple[int, ...], rng: np.random.Generator, sigma_vox: float) -> NDArray:
    """Zero-mean, unit-SD smooth random field (Gaussian-filtered white noise on a coarse grid)."""
    f = max(1, int(sigma_vox // 2))
    small = tuple(max(2, s // f + 1) for s in shape)
    n = ndi.gaussian_filter(rng.standard_normal(small).astype(np.float32), sigma_vox / f)
    up = ndi.zoom(n, [s / c for s, c in zip(shape, small, strict=True)], order=1)
    up = up[: shape[0], : shape[1], : shape[2]]
    return ((up - up.mean()) / (up.std() + 1e-6)).astype(np.float32)


def build_anatomy(resolution_mm: float, atrophy_mm: float, rng: np.random.Generator) -> Anatomy:
    """Tissue fractions of one subject: template + atrophy + skull and scalp layers."""
    t = load_template(work_resolution(resolution_mm))
    r = t.spacing
    # ventricles dilated by atrophy_mm (signed distance to the template ventricles)
    sd = t.vent_sd
    vent = np.clip((atrophy_mm - sd) / r + 0.5, 0, 1).astype(np.float32) * (t.brain > 0)
    # cortical erosion: the outer atrophy_mm/3 of the brain becomes CSF
    keep = np.clip((t.d_in - atrophy_mm / 3.0) / r + 0.5, 0, 1).astype(np.float32)
    keep = np.where(t.brain > 0, keep, 0).astype(np.float32)
    tissue = (1 - vent) * keep
    gm = t.gm * tissue
    wm = t.wm * tissue
    csf = np.clip(t.brain - gm - wm, 0, 1)
    # skull thickness varies smoothly over the head (+-25%)
    var = 1.0 + 0.25 * np.clip(smooth_noise(t.gm.shape, rng, 12.0 / r), -2, 2) / 2
    d = t.d_out / var
    csf = csf + band(d, *LAYERS_MM["csf"], r) * (t.brain < 1)
    table = band(d, *LAYERS_MM["inner_table"], r) + band(d, *LAYERS_MM["outer_table"], r)
    diploe = band(d, *LAYERS_MM["diploe"], r)
    scalp = band(d, *LAYERS_MM["scalp"], r)
    world = t.world()
    # foramen magnum: no bone around the brainstem below the skull base
    canal = ((np.abs(world[0]) < 13) & (world[1] > -50) & (world[1] < -18)
             & (world[2] < -52))
    # canals around the arteries: soft tissue instead of bone (keeps calcium apart from bone)
    clear = (t.vessel_dist < 5.0) | canal
    soft = np.where(clear, table + diploe, 0)
    table = np.where(clear, 0, table)
    diploe = np.where(clear, 0, diploe)
    scalp = np.clip(scalp + soft, 0, 1)
    deep = ((np.abs(world[0]) > 8) & (np.abs(world[0]) < 30) & (world[1] > -28)
            & (world[1] < 20) & (world[2] > -6) & (world[2] < 18) & (t.brain > 0))
    f32 = np.float32
    return Anatomy(t.affine, gm.astype(f32), wm.astype(f32), csf.astype(f32), vent.astype(f32),
                   table.astype(f32), diploe.astype(f32), scalp.astype(f32), deep,
                   np.maximum(sd - atrophy_mm, 0).astype(f32))
