"""Calcium scores on numpy phantoms with hand-computed answers."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.icac import scores


@pytest.mark.parametrize(("peak", "weight"), [(129.9, 0), (130, 1), (199, 1), (200, 2),
                                              (299, 2), (300, 3), (399, 3), (400, 4),
                                              (2500, 4)])
def test_density_weight(peak, weight):
    assert scores.density_weight(peak) == weight


def _square_lesion(hu_value: float, n_slices: int = 2):
    hu = np.zeros((20, 20, 6), np.float32)
    hu[5:9, 5:9, 1:1 + n_slices] = hu_value  # 4 x 4 pixels per slice
    return hu, np.ones(hu.shape, bool)


def test_agatston_square_lesion_slice_thickness_corrected():
    # 4x4 pixels of 0.5 mm = 4 mm^2 per slice, peak 250 HU -> weight 2, 2 slices of 1.5 mm
    hu, mask = _square_lesion(250.0)
    spacing = (0.5, 0.5, 1.5)
    expected = 2 * (4.0 * 2) * 1.5 / 3.0
    assert scores.agatston_score(hu, mask, spacing) == pytest.approx(expected)
    # at 3 mm slices the correction factor is 1
    assert scores.agatston_score(hu, mask, (0.5, 0.5, 3.0)) == pytest.approx(2 * 4.0 * 2)


def test_agatston_min_area_and_mask():
    hu, mask = _square_lesion(500.0, n_slices=1)
    # 4 mm^2 lesion is dropped with a 5 mm^2 minimum area
    assert scores.agatston_score(hu, mask, (0.5, 0.5, 3.0), min_area_mm2=5.0) == 0.0
    assert scores.agatston_score(hu, np.zeros_like(mask), (0.5, 0.5, 3.0)) == 0.0


def test_volume_and_mass():
    hu, mask = _square_lesion(600.0)
    spacing = (0.5, 0.5, 1.5)
    # 32 voxels of 0.375 mm^3
    assert scores.calcium_volume_mm3(hu, mask, spacing) == pytest.approx(12.0)
    assert scores.mass_score_mg(hu, mask, spacing) == pytest.approx(12.0 * 600 * 0.001)
    assert scores.mass_score_mg(hu, mask, spacing, calibration=0.002) == pytest.approx(14.4)
    # voxels below 130 HU never count
    hu[hu > 0] = 120.0
    assert scores.calcium_volume_mm3(hu, mask, spacing) == 0.0
