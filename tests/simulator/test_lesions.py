"""Lesion placement (``simulator/lesions.py``): the periventricular band and its volume."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from simulator.lesions import PV_CONFLUENT_MAX_MM, PV_MAX_MM, band_on_grid


def _slab_ventricle(n: int = 64) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A flat ventricle wall at x = 8 on a 1 mm grid; all other voxels are white matter."""
    vent = np.zeros((n, n, n), bool)
    vent[:8] = True
    dist = ndi.distance_transform_edt(~vent).astype(np.float32)
    return dist, np.ones(vent.shape, np.float32), ~vent, vent


@pytest.mark.parametrize("target_cm3", [10.0, 25.0])
def test_band_within_the_usual_thickness_meets_its_volume(target_cm3):
    dist, shape, wm, vent = _slab_ventricle()
    band = band_on_grid(dist, shape, wm, vent, 1.0, target_cm3) >= 0.5
    assert abs(band.sum() / 1000.0 - target_cm3) <= 64 * 64 / 1000.0  # one voxel layer
    assert dist[band].max() <= PV_MAX_MM + 0.5


def test_heavy_load_reaches_into_the_deep_white_matter():
    """A load a band PV_MAX_MM thick cannot hold (here ~35 cm^3 at most) is still drawn in full,
    confluent with the wall, no further than PV_CONFLUENT_MAX_MM from it."""
    dist, shape, wm, vent = _slab_ventricle()
    capacity = float((dist[wm] <= PV_MAX_MM + 0.5).sum()) / 1000.0
    target = 2.0 * capacity
    band = band_on_grid(dist, shape, wm, vent, 1.0, target) >= 0.5
    assert abs(band.sum() / 1000.0 - target) <= 64 * 64 / 1000.0
    assert PV_MAX_MM + 1 < dist[band].max() <= PV_CONFLUENT_MAX_MM + 0.5
    assert ndi.label(band)[1] == 1
