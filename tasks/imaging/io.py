"""Reading and writing NIfTI images for the chains' Nipype interfaces.

:func:`load_nifti` and :func:`save_nifti` read and write an array with its voxel-to-RAS affine
as stored (no reorientation). :func:`load_canonical` reads a file on its closest-RAS voxel grid
(axes reordered, no interpolation) and :func:`save_like` writes an array computed on that
canonical grid back in the voxel order and with the header of the input, so derivatives sit on
exactly the input's grid.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from numpy.typing import NDArray


def load_nifti(path: str | Path) -> tuple[NDArray, NDArray]:
    """(array as stored, RAS affine) of a NIfTI file."""
    import nibabel as nib

    img = nib.load(str(path))
    return np.asanyarray(img.dataobj), np.asarray(img.affine, float)


def save_nifti(arr: NDArray, affine: NDArray, path: str | Path, dtype=None) -> str:
    """Write ``arr`` (booleans as uint8, else ``dtype`` or its own type) with ``affine`` as
    both qform and sform (code 1, scanner); returns the absolute path."""
    import nibabel as nib

    a = np.asarray(arr if dtype is None else np.asarray(arr).astype(dtype))
    if a.dtype == bool:
        a = a.astype(np.uint8)
    img = nib.Nifti1Image(a, affine)
    img.set_qform(affine, 1)
    img.set_sform(affine, 1)
    nib.save(img, str(path))
    return os.path.abspath(path)


def load_canonical(path: str | Path) -> tuple[NDArray, NDArray]:
    """(array, RAS affine) of a NIfTI file on its closest-RAS voxel grid (values after the
    NIfTI scaling; a trailing singleton 4th axis dropped)."""
    import nibabel as nib

    img = nib.as_closest_canonical(nib.load(str(path)))
    arr = np.asarray(img.dataobj)
    if arr.ndim == 4 and arr.shape[3] == 1:
        arr = arr[..., 0]
    return arr, np.asarray(img.affine, dtype=float)


def save_like(data: NDArray, ref_path: str | Path, out_path: str | Path,
              dtype: type | str = np.uint8) -> Path:
    """Write ``data`` (canonical grid of ``ref_path``) in the voxel order of ``ref_path``,
    with its header (data type ``dtype``, no scaling)."""
    import nibabel as nib
    from nibabel.orientations import (
        apply_orientation,
        axcodes2ornt,
        io_orientation,
        ornt_transform,
    )

    ref = nib.load(str(ref_path))
    ornt = io_orientation(ref.affine)
    back = ornt_transform(axcodes2ornt(("R", "A", "S")), ornt)
    arr = apply_orientation(np.asarray(data), back).astype(dtype)
    hdr = ref.header.copy()
    hdr.set_data_dtype(dtype)
    out = nib.Nifti1Image(arr, ref.affine, hdr)
    out.header.set_slope_inter(1.0, 0.0)
    out_path = Path(out_path)
    nib.save(out, str(out_path))
    return out_path
