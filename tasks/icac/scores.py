"""Calcium scores on a CT volume in Hounsfield units: pure numpy functions.

All functions take a 3-D HU array indexed ``[i, j, k]`` with ``k`` the axial (slice) axis, a
boolean mask of the voxels to score, and the voxel spacing in mm ``(di, dj, dk)``.

References: Agatston AS et al., JACC 1990;15:827-32 (score); Hoffmann U et al., Radiology 2006
(volume and mass scores); Bos D et al., Stroke 2012 (intracranial application).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

CALCIUM_HU = 130.0  #: the Agatston threshold
AGATSTON_REFERENCE_SLICE_MM = 3.0  #: Agatston's original slice thickness
DEFAULT_MASS_CALIBRATION = 0.001  #: mg per (mm^3 x HU); water-equivalent default, no phantom


def density_weight(peak_hu: float) -> int:
    """Agatston density weight of a lesion from its peak HU: 1 (130-199), 2, 3, 4 (>=400)."""
    if peak_hu < CALCIUM_HU:
        return 0
    if peak_hu < 200:
        return 1
    if peak_hu < 300:
        return 2
    if peak_hu < 400:
        return 3
    return 4


def calcium_volume_mm3(hu: NDArray, mask: NDArray[np.bool_], spacing: tuple[float, ...]) -> float:
    """Volume score: number of voxels >= 130 HU inside ``mask`` times the voxel volume (mm^3)."""
    calc = mask & (hu >= CALCIUM_HU)
    return float(calc.sum() * float(np.prod(spacing)))


def mass_score_mg(hu: NDArray, mask: NDArray[np.bool_], spacing: tuple[float, ...],
                  calibration: float = DEFAULT_MASS_CALIBRATION) -> float:
    """Mass score: sum over calcified voxels of voxel volume x HU x calibration (mg).

    ``calibration`` is mg of calcium hydroxyapatite per (mm^3 x HU); scanner-specific values come
    from a phantom. The default (0.001) makes the score proportional to volume x mean HU.
    """
    calc = mask & (hu >= CALCIUM_HU)
    return float(hu[calc].astype(float).sum() * float(np.prod(spacing)) * calibration)


def agatston_score(hu: NDArray, mask: NDArray[np.bool_], spacing: tuple[float, ...],
                   min_area_mm2: float = 1.0) -> float:
    """Agatston score, corrected for slice thickness.

    For every axial slice and every 2-D connected lesion (>=130 HU, area >= ``min_area_mm2``)
    inside ``mask``: area (mm^2) x density weight of the lesion's peak HU. The sum is scaled by
    ``slice_thickness / 3 mm`` so that thin-slice data give scores comparable to the original
    3 mm protocol.
    """
    from scipy import ndimage

    calc = mask & (hu >= CALCIUM_HU)
    if not calc.any():
        return 0.0
    di, dj, dk = (float(s) for s in spacing[:3])
    pixel_area = di * dj
    total = 0.0
    for k in np.flatnonzero(calc.any(axis=(0, 1))):
        labels, n = ndimage.label(calc[:, :, k])
        if n == 0:
            continue
        idx = np.arange(1, n + 1)
        areas = ndimage.sum_labels(np.ones_like(labels), labels, idx) * pixel_area
        peaks = ndimage.maximum(hu[:, :, k], labels, idx)
        for area, peak in zip(np.atleast_1d(areas), np.atleast_1d(peaks), strict=True):
            if area >= min_area_mm2:
                total += area * density_weight(float(peak))
    return float(total * dk / AGATSTON_REFERENCE_SLICE_MM)
