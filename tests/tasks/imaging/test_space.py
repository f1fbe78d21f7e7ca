"""Image space: SimpleITK conversion, voxel <-> world, block means, transforms as matrices."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.imaging.space import (
    block_mean,
    from_sitk,
    spacing_from_affine,
    to_sitk,
    transform_to_matrix,
    voxel_to_world,
    world_to_voxel,
)

AFF = np.array([[-1.5, 0, 0, 90.0], [0, 1.2, 0, -100.0], [0, 0, 2.0, -60.0], [0, 0, 0, 1]])


def test_sitk_roundtrip_keeps_array_and_ras_affine():
    arr = np.arange(10 * 12 * 14, dtype=np.float32).reshape(10, 12, 14)
    img = to_sitk(arr, AFF)
    # voxel (1, 2, 3) in RAS -> LPS physical point of SimpleITK
    ras = voxel_to_world(AFF, [1, 2, 3])[0]
    lps = img.TransformIndexToPhysicalPoint([1, 2, 3])
    assert np.allclose(lps, [-ras[0], -ras[1], ras[2]])
    back, aff2 = from_sitk(img)
    assert np.array_equal(back, arr)
    assert np.allclose(aff2, AFF)
    assert spacing_from_affine(AFF) == pytest.approx((1.5, 1.2, 2.0))


def test_world_to_voxel_inverts_voxel_to_world():
    ijk = np.array([[0, 0, 0], [3.5, 2.0, 7.25]])
    assert np.allclose(world_to_voxel(AFF, voxel_to_world(AFF, ijk)), ijk)


def test_block_mean_averages_blocks_and_centres_the_coarse_grid():
    arr = np.arange(4 * 4 * 2, dtype=np.float32).reshape(4, 4, 2)
    aff = np.diag([1.0, 1.0, 2.0, 1.0])
    out, caff = block_mean(arr, aff, 2.0)  # 2 voxels in x, y; 1 in z
    assert out.shape == (2, 2, 2)
    assert out[0, 0, 0] == pytest.approx(arr[:2, :2, 0].mean())
    # the coarse voxel (0, 0, 0) sits at the centre of its block: (0.5, 0.5, 0) mm
    assert np.allclose(voxel_to_world(caff, [0, 0, 0])[0], [0.5, 0.5, 0.0])


def test_transform_to_matrix_maps_points_as_the_itk_transform():
    import SimpleITK as sitk

    tx = sitk.Euler3DTransform((10.0, -5.0, 3.0), 0.1, -0.2, 0.3, (4.0, 5.0, -6.0))
    m = transform_to_matrix(tx)
    ras = np.array([12.0, -30.0, 40.0])
    lps_out = np.asarray(tx.TransformPoint((-ras[0], -ras[1], ras[2])))
    got = m[:3, :3] @ ras + m[:3, 3]
    assert np.allclose(got, [-lps_out[0], -lps_out[1], lps_out[2]])
