"""Cortex-connected WMH seeds: on FLAIR grey matter is brighter than white matter, and a
seed the registered template puts in the WM territory may be cortex or deep grey matter that
grows along the bright ribbon (step 1 of :mod:`tasks.svd.wmh`)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from tasks.svd.components import CONN26

#: cortex-connected seeds (:func:`cortex_connected`): on FLAIR grey matter is brighter than
#: white matter (3-D 1 mm: 3-5 SD above NAWM on the simulator's paper protocol), and where the
#: registered template calls cortex or deep grey matter WM (prior >= WM_PRIOR_SEED) it seeds a
#: "lesion" that grows along the bright ribbon: simulator seed 2118 (paper 1 mm, 1.8 mL true)
#: gave 21.2 mL (medial cortex reached through the ventricle lining), 2115 6.3 mL for 0.2
#: (a parietal gyral ribbon). A seed voxel is dropped when it is joined to the brain surface
#: band (depth < RIBBON_MM, no slab reach) by voxels at or above max(K_SEED_SD,
#: CORTEX_JOIN_FRACTION x its z), unless it is far brighter than the cortex
#: (CORTEX_BAND_PERCENTILE). Measured (seeds 2100-2108 clinical2d at 1 mm; 2115/2117/2118 paper
#: 1 mm; 2100-2105 FLAIR-only stripped, 2100-2102 paper and paper_graded, all at 2 mm), without
#: the rule -> with it: 2118 Dice 0.15 -> 0.88 (21.2 -> 1.5 mL for 1.8 true), 2115 6.3 -> 4.4 mL
#: for 0.2 true, 2117 0.85 -> 0.85; paper 2 mm pooled Dice 0.867 -> 0.878; clinical2d 0.500 ->
#: 0.510 (false WMH 27.9 -> 23.8 mL); FLAIR-only 0.563 and graded 0.441 unchanged. Without the
#: brightness bound the rule also removed 8 mL of false WMH on clinical2d (0.533) but dropped a
#: confluent lesion that reached the surface band (2117: 15.9 -> 12.2 mL for 20.5 true). 0.7
#: rather than 0.5 (clinical2d 0.542 without the bound): a juxtacortical lesion is dropped only
#: where the cortex beside it is at least 70% as bright. Letting the band reach the slab's
#: partial-volume depth lost lesions on skull-stripped thick slices (0.563 -> 0.546).
#: The level is rounded up to CORTEX_LEVEL_STEP_SD (computation only: one labelling per level).
CORTEX_LEVEL_STEP_SD = 0.5
CORTEX_JOIN_FRACTION = 0.7
#: the cortex's brightness is this percentile of the unsmoothed z over the surface band (the
#: band is cortex, sulcal CSF and dura; its brightest tenth is the cortex's crowns; smoothing
#: would pull the thin ribbon towards the dark CSF beside it); a seed
#: brighter than that / CORTEX_JOIN_FRACTION is never cortex. Without it a confluent lesion
#: that reaches the surface band was its own bright path there and was dropped whole
#: (simulator seed 2117, paper 1 mm, severe: 15.9 -> 12.2 mL for 20.5 true, Fazekas 5 -> 3).
CORTEX_BAND_PERCENTILE = 90.0


def cortex_connected(seeds: NDArray[np.bool_], zs: NDArray, tissue: NDArray[np.bool_],
                     surface: NDArray[np.bool_], k_seed: float,
                     z_raw: NDArray | None = None) -> NDArray[np.bool_]:
    """The seed voxels that are part of the cortical ribbon: within ``tissue`` (brain without
    ventricles) they are joined to the ``surface`` band by voxels of ``zs`` at or above their
    own level, max(``k_seed``, ``CORTEX_JOIN_FRACTION`` x their z) rounded up to
    ``CORTEX_LEVEL_STEP_SD`` (26-connectivity). A lesion is bounded by darker tissue (its
    partial-volume edge), so even where it touches the cortex the path to the surface drops
    well below its level; a seed that stays about as bright all the way to the brain surface
    is the (bright) grey matter itself. Seeds brighter than the cortex (the
    ``CORTEX_BAND_PERCENTILE`` of ``z_raw``, the unsmoothed z, default ``zs``, over the surface
    band) / ``CORTEX_JOIN_FRACTION`` are never cortex. Returns the mask of those seed voxels."""
    out = np.zeros(seeds.shape, bool)
    if not seeds.any():
        return out
    band = surface & tissue
    if not band.any():
        return out
    # the cortex's own brightness: a seed brighter than it by more than 1 / JOIN is a lesion,
    # even one that reaches the surface band (a confluent lesion up to the cortex)
    cortex = float(np.percentile((zs if z_raw is None else z_raw)[band], CORTEX_BAND_PERCENTILE))
    cand = seeds & (zs <= cortex / CORTEX_JOIN_FRACTION)
    if not cand.any():
        return out
    step = CORTEX_LEVEL_STEP_SD
    z_seed = zs[cand]
    level = np.ceil(np.maximum(k_seed, CORTEX_JOIN_FRACTION * z_seed) / step) * step
    idx = np.flatnonzero(cand.ravel())
    for lv in np.unique(level):  # ascending; a bright component only shrinks as lv rises
        bright = tissue & (zs >= lv)
        blab, _ = ndimage.label(bright, structure=CONN26)
        joined = np.zeros(int(blab.max()) + 1, bool)
        joined[np.unique(blab[bright & surface])] = True
        joined[0] = False
        on = joined[blab.ravel()[idx]]  # every seed voxel joined to the surface at lv
        if not on[level >= lv].any():
            break  # no seed at or above this level is joined: none higher will be
        out.flat[idx[on & (level == lv)]] = True
    return out
