"""Image helpers for the MRI small-vessel-disease core: checks, robust normalisation, shapes.

Arrays follow the NIfTI/nibabel convention: ``arr[i, j, k]`` with a 4x4 ``affine`` mapping voxel
indices to RAS+ millimetres; conversion to SimpleITK, coordinates, templates and registration
live in the shared imaging layer (:mod:`tasks.imaging`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


class DegenerateImageError(ValueError):
    """An input image cannot be analysed (constant, empty, non-finite or not 3-D)."""


def check_image(arr: NDArray, name: str) -> NDArray[np.float32]:
    """Return ``arr`` as float32 3-D, or raise :class:`DegenerateImageError` with the reason.

    Degenerate means: not 3-D (a trailing singleton 4th axis is dropped), fewer than 8 voxels
    along an axis, non-finite values in more than 1% of voxels, or (almost) constant intensity
    (robust range p99 - p1 <= 1e-6 x max |value|, or zero).
    """
    a = np.asarray(arr)
    if a.ndim == 4 and a.shape[3] == 1:
        a = a[..., 0]
    if a.ndim != 3:
        raise DegenerateImageError(f"{name}: expected a 3-D image, got shape {a.shape}")
    if min(a.shape) < 8:
        raise DegenerateImageError(f"{name}: image too small {a.shape}")
    a = a.astype(np.float32, copy=False)
    finite = np.isfinite(a)
    if finite.mean() < 0.99:
        raise DegenerateImageError(f"{name}: {100 * (1 - finite.mean()):.1f}% non-finite voxels")
    if not finite.all():
        a = np.where(finite, a, 0.0).astype(np.float32)
    sample = a[:: max(1, a.shape[0] // 64), :: max(1, a.shape[1] // 64)]
    lo, hi = np.percentile(sample, [1, 99.5])
    scale = float(np.abs(sample).max())
    if scale == 0 or (hi - lo) <= 1e-6 * scale:
        raise DegenerateImageError(f"{name}: constant or empty image (no contrast)")
    return a


def robust_zscore(arr: NDArray, mask: NDArray[np.bool_],
                  apply_to: NDArray[np.bool_] | None = None) -> NDArray[np.float32]:
    """Robust z-score: (x - median) / (1.4826 x MAD) with statistics from ``mask``.

    Applied inside ``apply_to`` (default ``mask``), 0 elsewhere. Makes thresholds independent
    of the scanner's arbitrary intensity scale.
    """
    vals = arr[mask]
    med = float(np.median(vals))
    mad = float(np.median(np.abs(vals - med))) * 1.4826
    if mad <= 0:
        mad = float(vals.std()) or 1.0
    where = mask if apply_to is None else apply_to
    out = np.zeros(arr.shape, np.float32)
    out[where] = (arr[where] - med) / mad
    return out


def robust_stats(values: NDArray) -> tuple[float, float]:
    """Median and MAD-based SD (1.4826 x median absolute deviation) of ``values``."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        return 0.0, 1.0
    med = float(np.median(v))
    sd = float(np.median(np.abs(v - med))) * 1.4826
    return med, (sd if sd > 0 else float(v.std()) or 1.0)


#: local NAWM reference: the level of normal-appearing WM is the median z of the reference
#: voxels in blocks of LOCAL_REF_BLOCK_MM (at least one slice thick), smoothed over
#: neighbouring blocks and interpolated. MR bias fields vary over tens of cm (Sled JG et al.,
#: IEEE TMI 1998, model them as smooth over >= 50-100 mm); a residual level of -0.3 to +2.7
#: NAWM SD from the lowest to the highest slices remained after N4 on 5.5 mm thick slices
#: (simulator seed 2102, clinical2d), which N4's 4x-shrunk fit cannot resolve in z. A median
#: ignores lesions as long as they fill less than half of a block's WM.
LOCAL_REF_BLOCK_MM = 16.0
#: a block needs this many reference voxels for a level of its own (else interpolated)
LOCAL_REF_MIN_VOXELS = 50


def local_reference_z(z: NDArray, ref: NDArray[np.bool_], spacing: tuple[float, ...],
                      apply_to: NDArray[np.bool_], *, block_mm: float = LOCAL_REF_BLOCK_MM,
                      min_voxels: int = LOCAL_REF_MIN_VOXELS
                      ) -> tuple[NDArray[np.float32], float]:
    """Re-reference a z-score map to its *local* normal-appearing level.

    The level is the median of ``z`` over the reference voxels ``ref`` per block of
    ``block_mm`` (blocks at least one voxel; too few reference voxels: filled from neighbours
    by normalised Gaussian averaging), interpolated linearly between block centres; the
    re-referenced map is divided by the robust SD of the reference voxels. Returns (z map,
    0 outside ``apply_to``; that SD in input z units).
    """
    from scipy import ndimage

    sp = np.asarray(spacing, float)
    blk = np.maximum(1, np.round(block_mm / sp)).astype(int)
    nb = [int(np.ceil(n / b)) for n, b in zip(z.shape, blk, strict=True)]
    idx = np.nonzero(ref)
    if idx[0].size < min_voxels:
        level = np.zeros(z.shape, np.float32)
    else:
        bi = [ix // b for ix, b in zip(idx, blk, strict=True)]
        flat = np.ravel_multi_index(bi, nb)
        vals = z[idx]
        order = np.argsort(flat, kind="stable")
        flat, vals = flat[order], vals[order]
        ids, starts, counts = np.unique(flat, return_index=True, return_counts=True)
        med = np.zeros(int(np.prod(nb)), np.float32)
        wgt = np.zeros(int(np.prod(nb)), np.float32)
        for b_id, st, cnt in zip(ids, starts, counts, strict=True):
            if cnt >= min_voxels:
                med[b_id] = np.median(vals[st:st + cnt])
                wgt[b_id] = 1.0
        med, wgt = med.reshape(nb), wgt.reshape(nb)
        num = ndimage.gaussian_filter(med * wgt, 1.0, mode="constant")
        den = ndimage.gaussian_filter(wgt, 1.0, mode="constant")
        fill = np.where(den > 1e-3, num / np.maximum(den, 1e-3), 0.0)
        coarse = np.where(wgt > 0, med, fill).astype(np.float32)
        # block centres -> voxels: separable linear interpolation, edges held (one small
        # weight matrix per axis instead of a full coordinate grid: memory, speed)
        level = coarse
        for ax, (n, b, m) in enumerate(zip(z.shape, blk, nb, strict=True)):
            pos = np.clip((np.arange(n) + 0.5) / b - 0.5, 0, m - 1)
            lo = np.floor(pos).astype(int)
            hi = np.minimum(lo + 1, m - 1)
            wt = np.zeros((n, m), np.float32)
            wt[np.arange(n), lo] += (1 - (pos - lo)).astype(np.float32)
            wt[np.arange(n), hi] += (pos - lo).astype(np.float32)
            level = np.moveaxis(np.tensordot(wt, np.moveaxis(level, ax, 0), axes=1), 0, ax)
    res = z - level
    _, sd = robust_stats(res[ref]) if ref.sum() > 100 else (0.0, 1.0)
    out = np.zeros(z.shape, np.float32)
    out[apply_to] = res[apply_to] / sd
    return out, float(sd)


def ball(radius_mm: float, spacing: tuple[float, ...]) -> NDArray[np.bool_]:
    """Ellipsoidal structuring element of physical radius ``radius_mm`` on an anisotropic grid."""
    r = [max(0, int(np.floor(radius_mm / s))) for s in spacing]
    grids = np.ogrid[tuple(slice(-ri, ri + 1) for ri in r)]
    d2 = sum((g * s) ** 2 for g, s in zip(grids, spacing, strict=True))
    return d2 <= radius_mm ** 2 + 1e-6
