"""Degenerate images are refused with a reason; masks of the phantom head are plausible."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.icac.headmask import (
    DegenerateImageError,
    check_ct,
    intracranial_mask,
    skull_mask,
)

SP = (2.0, 2.0, 2.0)


@pytest.mark.parametrize(("image", "reason"), [
    (np.zeros((40, 40)), "3-D"),
    (np.zeros((4, 40, 40)), "too small"),
    (np.zeros((40, 40, 10)), "field of view"),
    (np.full((40, 40, 40), np.nan), "NaN"),
    (np.full((40, 40, 40), 30.0), "constant"),
    (np.random.default_rng(0).uniform(0, 1, (40, 40, 40)), "not HU-like"),
    (np.where(np.arange(40)[:, None, None] < 5, -1000.0, 40.0) * np.ones((40, 40, 40)),
     "no bone"),
])
def test_degenerate_images_raise_with_reason(image, reason):
    with pytest.raises(DegenerateImageError, match=reason):
        check_ct(image, SP)


def test_no_skull_ring_raises():
    hu = np.full((40, 40, 40), -1000.0)
    hu[10:30, 10:30, 10:30] = 1000.0  # a solid block of bone, no enclosed space
    check_ct(hu, SP)
    with pytest.raises(DegenerateImageError, match="no intracranial space"):
        intracranial_mask(hu, SP)


def test_phantom_masks(phantom):
    skull = skull_mask(phantom.hu, SP)
    ic = intracranial_mask(phantom.hu, SP, skull)
    vol_cm3 = ic.sum() * 8 / 1000
    det = abs(np.linalg.det(phantom.ct_to_mni[:3, :3]))
    # the phantom's intracranial space is the template's (~1880 cm^3) scaled by the pose
    assert 1700 / det < vol_cm3 < 2050 / det
    assert not (ic & skull).any()
    assert phantom.hu[ic].mean() < 60
