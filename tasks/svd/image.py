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


def blanked(arr: NDArray) -> NDArray[np.bool_]:
    """Voxels an exporter blanked: at or below 0 and connected (26-connectivity) to the image
    border through such voxels.

    A skull-stripped export sets everything outside its brain mask to 0, including the sulcal
    and Sylvian CSF that reaches the surface; an intensity or template brain mask (with its
    holes filled) takes those voxels back in, and there they are no tissue. In the simulator
    protocol ``stripped3d`` (2026-12-07) they held 26 000 voxels darker than 5 NAWM SD on the
    T2w of seed 2201, and seeds 2200-2208 had 16-114 false microbleeds per session (8-15 with
    this rule alone, 0-3 with :func:`tasks.svd.lesions.detect_microbleeds`' ``no_signal``).
    Magnitude images have no exact zeros in tissue (Rician noise); a zero-filled background
    touches the border and lies outside the head anyway. Zeros enclosed by tissue (a quantised
    dark ventricle) are not connected to the border and stay. Give it the reference contrast
    only: a contrast resampled onto the reference grid is 0 outside its own field of view,
    which is no blanking.
    """
    from scipy import ndimage

    zero = np.asarray(arr) <= 0
    if not zero.any():
        return zero
    lab, _ = ndimage.label(zero, structure=np.ones((3, 3, 3), bool))
    edge = np.concatenate([np.unique(np.take(lab, i, axis=ax)) for ax in range(lab.ndim)
                           for i in (0, -1)])
    keep = np.zeros(int(lab.max()) + 1, bool)
    keep[edge] = True
    keep[0] = False
    return keep[lab]


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
#: voxels in blocks of LOCAL_REF_BLOCK_MM in plane and LOCAL_REF_SLICE_BLOCK_MM along the
#: slice axis of a thick-slice acquisition, smoothed over neighbouring blocks and
#: interpolated. MR bias fields vary over tens of cm (Sled JG et al., IEEE TMI 1998, model
#: them as smooth over >= 50-100 mm) and N4 removes most of them in plane; a residual level of
#: -0.3 to +2.7 NAWM SD from the lowest to the highest slices remained after N4 on 5.5 mm thick
#: slices (simulator seed 2102, clinical2d), which N4's 4x-shrunk fit cannot resolve in z, and
#: 2-D acquisitions differ slice by slice: hence the finer blocks along the slice axis.
#: A median ignores lesions only while they fill less than half of a block's WM: a confluent
#: periventricular load fills most of a 16 mm block beside the ventricles. Until 2026-12-07
#: the blocks were 16 mm on every axis, and on a heavy thick-slice load (simulator seed 2203,
#: severe x 8, clinical2d_flair_stripped, 78 mL true) the true lesion voxels stood at a median
#: 6.3 SD above NAWM after N4 but 3.3 SD after the block median, a fifth of them below 1 SD
#: (the band between the ventricle and the bright halo looked like NAWM); with 32 mm in plane
#: 5.5 SD (48 / 64 mm: 5.3 / 5.8). Measured on simulator seeds 2100-2108 (1 mm renders; mean
#: Dice, 16 mm -> 32 mm): clinical2d 0.434 -> 0.468, FLAIR-only stripped 0.444 -> 0.479;
#: 48 mm: 0.572 (of which 2103, lesion-free, Dice 1 for finding nothing where its thick-slice
#: truth is empty; 2102 0.47 -> 0.33) and 0.428 (2107 0.44 -> 0.14). The shortest half (the
#: LMS location, Rousseeuw PJ, JASA 1984) instead of the median: 0.464 and 0.454 (it sits on
#: the mode of the partial-volume-skewed NAWM of thick slices, below the median: more false
#: WMH). Held-out figures: docs/markers.md.
#: The analytic test phantom's two grey nuclei (FLAIR 22 % above WM, inside the template's WM
#: territory of an ellipsoid head) filled 16 mm blocks and were taken for NAWM; in 32 mm
#: blocks they stand out and are found as WMH (a limit of a template-defined WM territory).
LOCAL_REF_BLOCK_MM = 32.0
LOCAL_REF_SLICE_BLOCK_MM = 16.0
#: an axis is the slice axis of a 2-D acquisition when its spacing exceeds this many times the
#: finest (clinical 2-D FLAIR: 4-8 mm slices over 0.4-1 mm pixels; 3-D protocols are near 1)
THICK_SLICE_RATIO = 2.0
#: a block needs this many reference voxels for a level of its own (else interpolated)
LOCAL_REF_MIN_VOXELS = 50
#: confluent loads: a block median ignores lesions only while they fill less than half of the
#: block's WM, and a load of 90-200 mL (real clinical cases reach 128 mL, issue 16) fills most
#: of the periventricular blocks: their level sat inside the lesions, which then stood 0-1 SD
#: above "NAWM" (simulator seed 2104, severe x 16, thick-slice FLAIR-only: 200 mL true, 45 mL
#: found, Dice 0.37; with the level taken from the true NAWM instead, Dice 0.84). Such a load
#: shows as a bright excess of the reference: more than HEAVY_LOAD_SHARE of it lies TRIM_SD
#: robust SD above its level (normal-appearing WM: 0.13 % for a Gaussian, 0.3 % measured on
#: the lesion-free thick-slice simulator seed 2103; normal loads of 1-12 mL, simulator
#: seeds 2100-2108 FLAIR-only stripped: 0.3-2.8 %; 93 and 130 mL loads: 10.5 and 6.4 %; on
#: the 3-D 1 mm protocol, whose lesion cores stand 8-10 SD, it trips in most sessions and moved
#: their Dice by <= 0.0013, bench/results/accuracy_mri.json). The 200 mL render above does
#: not trip it (3.2 %: the lifted level hides the lesions; docs/markers.md, "Confluent loads").
#: Then the reference is trimmed from above TRIM_ITERATIONS times (:func:`trimmed_reference`).
#: Trimming every session instead lowered the levels of normal loads too and grew lesion
#: borders beyond what is visibly bright (seeds 2100-2108 mean Dice 0.482 -> 0.403 at 2 SD,
#: seeds 2101/2105 0.570/0.516 -> 0.511/0.486 at 3 SD), hence the switch on the excess.
HEAVY_LOAD_SHARE = 0.04
TRIM_SD = 3.0
TRIM_ITERATIONS = 5
#: the local reference is used only while its robust SD (in units of the global NAWM SD, the
#: second value :func:`local_reference_z` returns) stays at or below this ratio; above it the
#: global reference is kept (:func:`tasks.svd.anatomy.segment_anatomy`) and the session goes
#: to ``review`` (QC ``flair_local_sd_ratio``, :data:`tasks.svd.review.PLAUSIBLE`). Removing a
#: smooth bias narrows the NAWM distribution; but the two references are different voxels
#: (local: the template's WM territory; global: the WM intensity class), so partial volume
#: and grey matter in the territory widen the local one too, and so do confluent lesions that
#: fill its blocks beyond what the trimming recovers. Measured on FLAIR (simulator): normal
#: loads at 1 mm 0.37-1.28 (tuning seeds 2100-2108 0.48-1.28, held-out 2200-2208 0.37-1.14;
#: paper 3-D, clinical2d, FLAIR-only stripped; paper 2109-2119 0.79-0.98), but at 2 mm the
#: demo cohort (`make demo`, 24 sessions) 0.78-1.89, the highest an 18 mL session with a
#: normal local result (4.5 mL with it, 18.5 mL with the global reference): partial volume;
#: heavy loads measured well (bench/wmh_load.py seeds 2201/2203 x4-x16, 37-168 mL, Dice
#: 0.63-0.95) 0.36-0.79; renders whose local reference collapsed: 3-D 212 and 253 mL, 0 mL
#: found, 3.77 and 4.40 (global reference: Dice 0.966 and 0.971; 3 mm 225 mL: 4.52). Hence
#: 2.5, above every normal session seen and below the 3-D collapses. Not caught: FLAIR-only
#: 248 and 200 mL (1.79, 1.15; 9 and 45 mL found) and clinical2d 121-237 mL (1.05-1.13);
#: those the WMH step's comparison with the global reference sends to ``review``
#: (:data:`tasks.svd.review.WMH_GLOBAL_EXCESS_MAX_CM3`).
LOCAL_REF_MAX_SD_RATIO = 2.5


def reference_blocks_mm(spacing: tuple[float, ...]) -> tuple[float, ...]:
    """Block size (mm) per axis of the local NAWM reference: ``LOCAL_REF_BLOCK_MM``, and
    ``LOCAL_REF_SLICE_BLOCK_MM`` along the slice axis of a thick-slice (2-D) acquisition (the
    axis whose spacing is more than ``THICK_SLICE_RATIO`` x the finest)."""
    sp = np.asarray(spacing, float)
    thick = sp > THICK_SLICE_RATIO * sp.min()
    return tuple(float(LOCAL_REF_SLICE_BLOCK_MM if t else LOCAL_REF_BLOCK_MM) for t in thick)


def local_reference_z(z: NDArray, ref: NDArray[np.bool_], spacing: tuple[float, ...],
                      apply_to: NDArray[np.bool_], *,
                      block_mm: float | tuple[float, ...] | None = None,
                      min_voxels: int = LOCAL_REF_MIN_VOXELS
                      ) -> tuple[NDArray[np.float32], float]:
    """Re-reference a z-score map to its *local* normal-appearing level.

    The level is the median of ``z`` over the reference voxels ``ref`` per
    block (``block_mm`` per axis or for all; default :func:`reference_blocks_mm`; blocks at
    least one voxel; too few reference voxels: filled from neighbours by normalised Gaussian
    averaging), interpolated linearly between block centres; the re-referenced map is divided
    by the robust SD (MAD) of the reference voxels. When more than ``HEAVY_LOAD_SHARE`` of the
    reference lies ``TRIM_SD`` SDs above that level (a confluent lesion load), the reference is
    trimmed from above and the level estimated again (:func:`trimmed_reference`). Returns
    (z map, 0 outside ``apply_to``; that SD in input z units).
    """
    sp = np.asarray(spacing, float)
    if block_mm is None:
        block_mm = reference_blocks_mm(spacing)
    blk = np.maximum(1, np.round(np.asarray(block_mm, float) / sp)).astype(int)
    level = _block_level(z, ref, blk, min_voxels)
    res = z - level
    enough = int(ref.sum()) > 100
    _, sd = robust_stats(res[ref]) if enough else (0.0, 1.0)
    if enough and np.mean(res[ref] > TRIM_SD * sd) > HEAVY_LOAD_SHARE:
        level, sd = trimmed_reference(z, ref, blk, min_voxels, level, sd)
        res = z - level
    out = np.zeros(z.shape, np.float32)
    out[apply_to] = res[apply_to] / sd
    return out, float(sd)


#: the whole-brain NAWM level of the WMH step's global reference (:func:`global_level_z`): the
#: mode of the reference voxels' z, from a histogram of GLOBAL_MODE_BIN_SD bins smoothed with a
#: Gaussian of GLOBAL_MODE_SMOOTH_SD (NAWM's peak is 1 SD wide: the smoothing averages out
#: the histogram's counting noise without moving the peak), in units of the input z
GLOBAL_MODE_BIN_SD = 0.05
GLOBAL_MODE_SMOOTH_SD = 0.2


def global_level_z(z: NDArray, ref: NDArray[np.bool_], brain: NDArray[np.bool_], *,
                   dark_side: bool = False) -> NDArray[np.float32]:
    """``z`` referred to one level for the whole brain: the mode of ``z`` over the reference
    voxels ``ref`` (those of the local reference, so the two maps differ in how the level is
    taken, not where) and, as SD, 1.4826 x their median absolute distance from it; 0 outside
    ``brain``. The WMH step keeps the lesions a first pass finds on it out of the second
    pass's reference (:func:`tasks.svd.steps.wmh_step`).

    Why not the WM intensity class that scales ``z``: on FLAIR alone with weak grey/white
    contrast that class is the darker part of the white matter (42-79 % of the template's WM
    territory on simulator seeds 2100-2108, skull-stripped 3-D FLAIR-only), so the territory
    stood at +0.3 to +1.7 SD and 18-41 % of it above the 2 SD growth level; a first pass
    against it found 60-141 mL where 0.4-20 mL were true, and, kept out of the second pass's
    reference, lowered that reference until growth ran through the subcortical white matter
    (seed 2100: 61 mL for 0.7 mL true). Why not the median: a confluent load that fills half
    of the territory lifts it (simulator seed 2203, severe x 16, 250 mL true: 9-28 mL found,
    0 mL in that first pass); the mode stays on the NAWM peak. Why not the SD of the peak's
    dark side only (lesions are only bright): it ignores a residual bias the local reference
    removes, and on two `make demo` sessions (2 mm) the first pass then took 290 and 366 mL
    of bias-bright white matter (one session's reported volume 4.4 -> 22 mL).

    With ``dark_side`` the SD is that dark side's: 1.4826 x the median distance below the
    mode of the voxels below it. A confluent load widens the MAD about the mode (simulator
    seed 2104, severe x 16, clinical2d: MAD 2.05, and the pass against it found 0 of 202 mL)
    but not the dark side. The WMH step uses it only for its QC check
    (:func:`tasks.svd.steps.wmh_step`), for the reason above."""
    from scipy import ndimage

    v = np.asarray(z[ref], float)
    med = sd = 0.0
    if v.size >= 100:  # else too few voxels for a histogram: the median and MAD below
        edges = np.arange(np.floor(v.min()), np.ceil(v.max()) + GLOBAL_MODE_BIN_SD,
                          GLOBAL_MODE_BIN_SD)
        counts, edges = np.histogram(v, bins=edges)
        smooth = ndimage.gaussian_filter1d(counts.astype(float),
                                           GLOBAL_MODE_SMOOTH_SD / GLOBAL_MODE_BIN_SD)
        k = int(np.argmax(smooth))
        med = float(0.5 * (edges[k] + edges[k + 1]))
        dev = (med - v[v < med]) if dark_side else np.abs(v - med)
        sd = 1.4826 * float(np.median(dev)) if dev.size else 0.0
    if not sd > 0:  # few voxels, or half of them at the mode
        med, sd = robust_stats(v)
    out = np.zeros(z.shape, np.float32)
    out[brain] = (z[brain] - med) / sd
    return out


def trimmed_reference(z: NDArray, ref: NDArray[np.bool_], blk: NDArray, min_voxels: int,
                      level: NDArray, sd: float) -> tuple[NDArray, float]:
    """(level, SD) of the reference without its bright outliers: up to ``TRIM_ITERATIONS``
    times, drop the reference voxels more than ``TRIM_SD`` SDs above the current level and
    estimate level and SD (MAD) again from the rest (lesions are only bright, so each round
    lowers a level that lesions lifted; normal WM loses only its top 0.1-0.3 %)."""
    cur = ref
    for _ in range(TRIM_ITERATIONS):
        keep = ref.copy()
        keep[ref] = z[ref] - level[ref] <= TRIM_SD * sd  # residuals of the reference only
        if keep.sum() <= 100 or np.array_equal(keep, cur):
            break
        cur = keep
        level = _block_level(z, cur, blk, min_voxels)
        _, sd = robust_stats(z[cur] - level[cur])
    return level, sd


def _block_level(z: NDArray, ref: NDArray[np.bool_], blk: NDArray, min_voxels: int
                 ) -> NDArray[np.float32]:
    """Median of ``z`` over ``ref`` per block of ``blk`` voxels, gaps filled from neighbours,
    interpolated linearly between block centres (0 with fewer than ``min_voxels``)."""
    from scipy import ndimage

    nb = [int(np.ceil(n / b)) for n, b in zip(z.shape, blk, strict=True)]
    idx = np.nonzero(ref)
    if idx[0].size < min_voxels:
        return np.zeros(z.shape, np.float32)
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
    level = np.where(wgt > 0, med, fill).astype(np.float32)
    # block centres -> voxels: separable linear interpolation, edges held (one small weight
    # matrix per axis instead of a full coordinate grid: memory, speed)
    for ax, (n, b, m) in enumerate(zip(z.shape, blk, nb, strict=True)):
        pos = np.clip((np.arange(n) + 0.5) / b - 0.5, 0, m - 1)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, m - 1)
        wt = np.zeros((n, m), np.float32)
        wt[np.arange(n), lo] += (1 - (pos - lo)).astype(np.float32)
        wt[np.arange(n), hi] += (pos - lo).astype(np.float32)
        level = np.moveaxis(np.tensordot(wt, np.moveaxis(level, ax, 0), axes=1), 0, ax)
    return level


def ball(radius_mm: float, spacing: tuple[float, ...]) -> NDArray[np.bool_]:
    """Ellipsoidal structuring element of physical radius ``radius_mm`` on an anisotropic grid."""
    r = [max(0, int(np.floor(radius_mm / s))) for s in spacing]
    grids = np.ogrid[tuple(slice(-ri, ri + 1) for ri in r)]
    d2 = sum((g * s) ** 2 for g, s in zip(grids, spacing, strict=True))
    return d2 <= radius_mm ** 2 + 1e-6
