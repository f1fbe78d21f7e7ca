"""Image space: NIfTI-style arrays <-> SimpleITK, voxel <-> world, spacing, block means.

Arrays follow the NIfTI/nibabel convention: ``arr[i, j, k]`` with a 4x4 ``affine`` mapping voxel
indices to RAS+ millimetres. SimpleITK uses LPS+ physical space; :func:`to_sitk` and
:func:`from_sitk` convert between the two without resampling.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

#: RAS <-> LPS (ITK physical space), as a 4x4 matrix
_LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def spacing_from_affine(affine: NDArray) -> tuple[float, float, float]:
    """Voxel size in mm: the norms of the affine's first three columns."""
    return tuple(float(v) for v in np.linalg.norm(np.asarray(affine)[:3, :3], axis=0))


def to_sitk(arr: NDArray, affine: NDArray):
    """NIfTI-style (array, RAS affine) to a SimpleITK image (LPS physical space)."""
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(np.ascontiguousarray(np.asarray(arr).transpose(2, 1, 0)))
    m = _LPS @ np.asarray(affine, dtype=float)
    spacing = np.linalg.norm(m[:3, :3], axis=0)
    img.SetSpacing([float(s) for s in spacing])
    img.SetOrigin([float(v) for v in m[:3, 3]])
    img.SetDirection([float(v) for v in (m[:3, :3] / spacing).ravel()])
    return img


def from_sitk(img) -> tuple[NDArray, NDArray]:
    """SimpleITK image to (array[i, j, k], RAS affine)."""
    import SimpleITK as sitk

    arr = sitk.GetArrayFromImage(img).transpose(2, 1, 0)
    d = np.asarray(img.GetDirection(), dtype=float).reshape(3, 3)
    m = np.eye(4)
    m[:3, :3] = d * np.asarray(img.GetSpacing(), dtype=float)
    m[:3, 3] = img.GetOrigin()
    return arr, _LPS @ m


def voxel_to_world(affine: NDArray, ijk: NDArray) -> NDArray:
    """Voxel indices (N x 3) to RAS mm with a 4x4 affine."""
    ijk = np.atleast_2d(np.asarray(ijk, dtype=float))
    return ijk @ np.asarray(affine)[:3, :3].T + np.asarray(affine)[:3, 3]


def world_to_voxel(affine: NDArray, xyz: NDArray) -> NDArray:
    """RAS mm (N x 3) to continuous voxel indices with a 4x4 affine."""
    xyz = np.atleast_2d(np.asarray(xyz, dtype=float))
    inv = np.linalg.inv(affine)
    return xyz @ inv[:3, :3].T + inv[:3, 3]


def block_mean(arr: NDArray, affine: NDArray, target_mm: float) -> tuple[NDArray, NDArray]:
    """Average ``arr`` over blocks of about ``target_mm`` (integer voxels per axis).

    Returns the block means (float32) and the affine of the coarse grid (block centres).
    """
    sp = np.linalg.norm(affine[:3, :3], axis=0)
    step = [max(1, int(round(target_mm / float(s)))) for s in sp]
    shape = [n // f for n, f in zip(arr.shape, step, strict=True)]
    a = np.asarray(arr[:shape[0] * step[0], :shape[1] * step[1], :shape[2] * step[2]],
                   dtype=np.float32)
    a = a.reshape(shape[0], step[0], shape[1], step[1], shape[2], step[2]).mean((1, 3, 5))
    out_aff = affine.copy()
    out_aff[:3, :3] = affine[:3, :3] * np.array(step)[None, :]
    out_aff[:3, 3] = affine[:3, :3] @ ((np.array(step) - 1) / 2.0) + affine[:3, 3]
    return a.astype(np.float32), out_aff


def transform_to_matrix(transform) -> NDArray:
    """4x4 RAS mm matrix of an ITK (LPS) matrix-offset transform (rigid, similarity,
    affine), mapping the same points as the transform (a fixed point to a moving point)."""
    a = np.array(transform.GetMatrix(), dtype=float).reshape(3, 3)
    c = np.array(transform.GetCenter(), dtype=float)
    t = np.array(transform.GetTranslation(), dtype=float)
    flip = _LPS[:3, :3]
    m = np.eye(4)
    m[:3, :3] = flip @ a @ flip
    m[:3, 3] = flip @ (t + c - a @ c)
    return m

