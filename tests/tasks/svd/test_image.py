"""Image helpers: SimpleITK conversion, degenerate checks, robust normalisation."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.svd.image import (
    DegenerateImageError,
    ball,
    check_image,
    from_sitk,
    robust_zscore,
    spacing_from_affine,
    to_sitk,
    voxel_to_ras,
)


def test_sitk_roundtrip_keeps_array_and_ras_affine():
    aff = np.array([[-1.5, 0, 0, 90.0], [0, 1.2, 0, -100.0], [0, 0, 2.0, -60.0], [0, 0, 0, 1]])
    arr = np.arange(10 * 12 * 14, dtype=np.float32).reshape(10, 12, 14)
    img = to_sitk(arr, aff)
    # voxel (1, 2, 3) in RAS -> LPS physical point of SimpleITK
    ras = voxel_to_ras(aff, [1, 2, 3])[0]
    lps = img.TransformIndexToPhysicalPoint([1, 2, 3])
    assert np.allclose(lps, [-ras[0], -ras[1], ras[2]])
    back, aff2 = from_sitk(img)
    assert np.array_equal(back, arr)
    assert np.allclose(aff2, aff)
    assert spacing_from_affine(aff) == pytest.approx((1.5, 1.2, 2.0))


@pytest.mark.parametrize("arr, msg", [
    (np.zeros((20, 20, 20)), "constant"),
    (np.full((20, 20, 20), 7.0), "constant"),
    (np.ones((20, 20)), "3-D"),
    (np.ones((4, 20, 20)), "too small"),
    (np.full((20, 20, 20), np.nan), "non-finite"),
])
def test_degenerate_images_raise_with_reason(arr, msg):
    with pytest.raises(DegenerateImageError, match=msg):
        check_image(arr, "FLAIR")


def test_robust_zscore_ignores_outliers():
    rng = np.random.default_rng(0)
    a = rng.normal(100, 10, (20, 20, 20)).astype(np.float32)
    a[:2] = 5000  # 10% outliers
    mask = np.ones(a.shape, bool)
    z = robust_zscore(a, mask)
    assert abs(np.median(z[2:])) < 0.2
    assert 0.8 < z[2:].std() < 1.3


def test_ball_is_anisotropic_in_voxels():
    b = ball(4.0, (1.0, 1.0, 2.0))
    assert b.shape == (9, 9, 5)
    assert b[4, 4, 2] and not b[0, 0, 0]
