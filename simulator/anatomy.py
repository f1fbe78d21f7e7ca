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
from scipy.spatial import cKDTree

from simulator.arteries import BONE_WALL_MM, WALL_MM, Vessel
from simulator.ventricles import ventricle_signed_distance

PAD_MM = 24.0

#: neck below the skull base (template mm): an elliptic column of soft tissue (half-widths
#: 60 x 50 mm, a 35 cm circumference as an adult neck's 34-40 cm) from NECK_TOP_MM down to
#: the grid's end, with the spinal cord (radius 5 mm) in its CSF (to 7.5 mm) continuing the
#: template's medulla, which ends at z = -72; the cord is drawn as grey matter (its core is;
#: the lesion planner's white-matter region then leaves it alone). Without it the head ended
#: in air under the foramen magnum, which no head CT shows (its first slices cut through the
#: neck), and the measurer's cut check rightly called such a scan "cut off at the bottom".
NECK_TOP_MM, NECK_CENTRE_Y_MM, NECK_HALF_MM = -45.0, -20.0, (60.0, 50.0)
CORD_Y_MM, CORD_MM, CORD_SHEATH_MM, MEDULLA_END_MM = -45.0, 5.0, 7.5, -66.0

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
    d_out: NDArray  # distance outside the brain mask (mm)
    d_in: NDArray  # distance inside the brain mask (mm)
    csf_free: NDArray  # template CSF fraction (brain mask minus GM and WM)

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
    csf = np.clip(mask - gm - wm, 0, 1).astype(np.float32)
    return Template(aff, gm.astype(np.float32), wm.astype(np.float32),
                    mask.astype(np.float32), d_out, d_in, csf)


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


def build_anatomy(resolution_mm: float, atrophy_mm: float, rng: np.random.Generator,
                  vessels: list[Vessel] | None = None,
                  ventricle_scale: float = 1.0) -> Anatomy:
    """Tissue fractions of one subject: template brain, own ventricles, atrophy, skull, scalp.

    Ventricles come from :mod:`.ventricles` (own shape, ``ventricle_scale`` enlarges it), are
    dilated by ``atrophy_mm``; the template's own central CSF near them is filled with white
    matter, so the image's ventricles are the simulator's. Bone is cleared around the
    subject's ``vessels`` and a bone shell laid beside their bony stretches.
    """
    t = load_template(work_resolution(resolution_mm))
    r = t.spacing
    world = t.world()
    sd = ventricle_signed_distance(world, r, rng, ventricle_scale)
    vent = np.clip((atrophy_mm - sd) / r + 0.5, 0, 1).astype(np.float32) * (t.brain > 0)
    # the template's own deep CSF (its ventricles) near ours becomes white matter
    fill = (sd < 15.0) & (t.d_in > 8.0)
    wm0 = np.where(fill, t.wm + t.csf_free, t.wm)
    # cortical erosion: the outer atrophy_mm/3 of the brain becomes CSF
    keep = np.clip((t.d_in - atrophy_mm / 3.0) / r + 0.5, 0, 1).astype(np.float32)
    keep = np.where(t.brain > 0, keep, 0).astype(np.float32)
    tissue = (1 - vent) * keep
    gm = t.gm * tissue
    wm = wm0 * tissue
    csf = np.clip(t.brain - gm - wm, 0, 1)
    # skull thickness varies smoothly over the head (+-25%)
    var = 1.0 + 0.25 * np.clip(smooth_noise(t.gm.shape, rng, 12.0 / r), -2, 2) / 2
    d = t.d_out / var
    csf = csf + band(d, *LAYERS_MM["csf"], r) * (t.brain < 1)
    table = band(d, *LAYERS_MM["inner_table"], r) + band(d, *LAYERS_MM["outer_table"], r)
    diploe = band(d, *LAYERS_MM["diploe"], r)
    scalp = band(d, *LAYERS_MM["scalp"], r)
    # foramen magnum: no bone around the brainstem below the skull base
    canal = ((np.abs(world[0]) < 13) & (world[1] > -50) & (world[1] < -18)
             & (world[2] < -52))
    table = np.where(canal, 0, table)
    scalp = np.clip(scalp + np.where(canal, diploe, 0), 0, 1)
    diploe = np.where(canal, 0, diploe)
    if vessels:
        table, diploe, scalp = _vessel_bone(t.affine, table, diploe, scalp, vessels)
    gm, wm, csf, table, diploe, scalp = _neck(world, t.brain, gm, wm, csf, table, diploe,
                                              scalp)
    deep = ((np.abs(world[0]) > 8) & (np.abs(world[0]) < 30) & (world[1] > -28)
            & (world[1] < 20) & (world[2] > -6) & (world[2] < 18) & (t.brain > 0))
    f32 = np.float32
    return Anatomy(t.affine, gm.astype(f32), wm.astype(f32), csf.astype(f32), vent.astype(f32),
                   table.astype(f32), diploe.astype(f32), scalp.astype(f32), deep,
                   np.maximum(sd - atrophy_mm, 0).astype(f32))


def _neck(world: NDArray, brain: NDArray, *parts: NDArray) -> tuple[NDArray, ...]:
    """Tissue fractions with the neck and the cord below the skull base (``NECK_*``,
    ``CORD_*``): the cord column replaces whatever lay there, the neck's soft tissue fills
    the air left in its cross-section (fractions still sum to <= 1)."""
    gm, wm, csf, table, diploe, scalp = (np.array(p, np.float32) for p in parts)
    x, y, z = world
    r = np.hypot(x, y - CORD_Y_MM)
    column = (z < MEDULLA_END_MM) & (brain <= 0) & (r < CORD_SHEATH_MM)
    cord = column & (r < CORD_MM)
    for a in (wm, table, diploe, scalp):
        a[column] = 0.0
    gm[column] = np.where(cord[column], 1.0, 0.0)
    csf[column] = np.where(cord[column], 0.0, 1.0)
    neck = ((z < NECK_TOP_MM) & ~column
            & ((x / NECK_HALF_MM[0]) ** 2 + ((y - NECK_CENTRE_Y_MM) / NECK_HALF_MM[1]) ** 2
               <= 1.0))
    free = np.clip(1.0 - (gm + wm + csf + table + diploe + scalp), 0.0, 1.0)
    scalp[neck] += free[neck]
    return gm, wm, csf, table, diploe, scalp


#: bone kept this far (mm) outside the lumen of non-bony stretches: soft-tissue channels
CLEAR_MM = 3.0
#: bone shell beside bony stretches: thickness (mm) and half-angle (deg) around the bone side
SHELL_MM, SHELL_HALF_DEG = 3.0, 75.0


def _vessel_bone(aff: NDArray, table: NDArray, diploe: NDArray, scalp: NDArray,
                 vessels: list[Vessel]) -> tuple[NDArray, NDArray, NDArray]:
    """Clear bone around the arteries; lay a bone shell beside their bony stretches."""
    r = float(aff[0, 0])
    pts = np.concatenate([v.points for v in vessels])
    rad = np.concatenate([v.radius for v in vessels])
    bony = np.concatenate([v.bony for v in vessels])
    bdir = np.concatenate([v.bone_dir for v in vessels])
    gap = np.concatenate([np.full(len(v.points), v.bone_gap_mm) for v in vessels])
    reach = rad.max() + WALL_MM + 1.0 + SHELL_MM + CLEAR_MM
    inv = np.linalg.inv(aff)
    vox = pts @ inv[:3, :3].T + inv[:3, 3]
    lo = np.maximum(np.floor(vox.min(0) - reach / r).astype(int), 0)
    hi = np.minimum(np.ceil(vox.max(0) + reach / r).astype(int) + 1, table.shape)
    sl = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    idx = np.stack(np.meshgrid(*[np.arange(q.start, q.stop) for q in sl], indexing="ij"), -1)
    c = idx.reshape(-1, 3) * r + aff[:3, 3]
    dist, j = cKDTree(pts).query(c, distance_upper_bound=reach)
    ok = np.isfinite(dist)
    jj = np.where(ok, j, 0)
    dist = np.where(ok, dist, np.inf)
    inner = rad[jj] + BONE_WALL_MM + gap[jj]
    clear_r = np.where(bony[jj], inner, rad[jj] + CLEAR_MM)
    clear = (dist < clear_r + r / 2).reshape(idx.shape[:3])
    cosang = ((c - pts[jj]) * bdir[jj]).sum(1) / np.maximum(dist, 1e-6)
    shell = (np.clip((dist - inner) / r + 0.5, 0, 1)
             - np.clip((dist - inner - SHELL_MM) / r + 0.5, 0, 1))
    shell = np.where(ok & bony[jj] & (cosang > np.cos(np.radians(SHELL_HALF_DEG))), shell, 0)
    shell = shell.reshape(idx.shape[:3]).astype(np.float32)
    tb, dp, sc = table[sl], diploe[sl], scalp[sl]
    soft = np.where(clear, tb + dp, 0)
    tb = np.where(clear, 0, tb)
    dp = np.where(clear, 0, dp)
    tb = np.maximum(tb, shell)
    over = tb + dp > 1
    dp = np.where(over, np.clip(1 - tb, 0, 1), dp)
    table, diploe, scalp = table.copy(), diploe.copy(), scalp.copy()
    table[sl], diploe[sl] = tb, dp
    scalp[sl] = np.clip(sc + soft - shell, 0, 1)
    return table, diploe, scalp

