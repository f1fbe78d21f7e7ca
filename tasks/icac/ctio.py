"""Reading a CT NIfTI into a canonical (RAS) array and writing results back on its grid.

The core functions work on arrays indexed ``[i, j, k]`` with ``k`` the axial (inferior to
superior) axis, which is what the Agatston score needs. :func:`load_ct` reorders the voxel axes
of any NIfTI to the closest RAS orientation (no resampling, no interpolation) and
:func:`save_like` writes an array computed on that canonical grid back in the voxel order of the
original file, so derivatives sit on exactly the input grid.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class CTVolume:
    """A CT in Hounsfield units on a canonical (closest-RAS) voxel grid."""

    hu: NDArray[np.float32]  #: HU, indexed [i, j, k], k axial
    affine: NDArray[np.float64]  #: voxel -> RAS mm of the canonical grid
    spacing: tuple[float, float, float]  #: mm

    @property
    def voxel_volume_mm3(self) -> float:
        """Volume of one voxel in mm^3."""
        return float(np.prod(self.spacing))


def load_ct(path: str | Path) -> CTVolume:
    """Load a CT NIfTI (values in HU after the NIfTI scaling) on its closest-RAS grid."""
    import nibabel as nib

    img = nib.as_closest_canonical(nib.load(str(path)))
    hu = np.asarray(img.dataobj, dtype=np.float32)
    if hu.ndim == 4 and hu.shape[3] == 1:
        hu = hu[..., 0]
    affine = np.asarray(img.affine, dtype=float)
    spacing = tuple(float(s) for s in np.linalg.norm(affine[:3, :3], axis=0))
    return CTVolume(hu=hu, affine=affine, spacing=spacing)  # type: ignore[arg-type]


def save_like(data: NDArray, ref_path: str | Path, out_path: str | Path,
              dtype: type | str = np.uint8) -> Path:
    """Write ``data`` (canonical grid of ``ref_path``) in the voxel order of ``ref_path``."""
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


def voxel_to_world(affine: NDArray, ijk: NDArray) -> NDArray:
    """Voxel indices (N x 3) to RAS mm with a 4x4 affine."""
    ijk = np.atleast_2d(np.asarray(ijk, dtype=float))
    return ijk @ affine[:3, :3].T + affine[:3, 3]


def world_to_voxel(affine: NDArray, xyz: NDArray) -> NDArray:
    """RAS mm (N x 3) to continuous voxel indices with a 4x4 affine."""
    xyz = np.atleast_2d(np.asarray(xyz, dtype=float))
    inv = np.linalg.inv(affine)
    return xyz @ inv[:3, :3].T + inv[:3, 3]


def load_label(path: str | Path) -> NDArray:
    """Load a mask or label map written by :func:`save_like`, on the canonical grid."""
    import nibabel as nib

    img = nib.as_closest_canonical(nib.load(str(path)))
    return np.asarray(img.dataobj)


def load_sidecar(ct_path: str | Path) -> dict:
    """The BIDS JSON sidecar next to a CT NIfTI (``x_ct.nii.gz`` -> ``x_ct.json``), or ``{}``.

    Raises ``ValueError`` naming the file when the sidecar exists but is not a JSON object.
    """
    import json

    p = Path(ct_path)
    stem = p.name[:-7] if p.name.endswith(".nii.gz") else p.stem
    side = p.with_name(stem + ".json")
    if not side.is_file():
        return {}
    try:
        doc = json.loads(side.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{side}: unreadable JSON sidecar ({exc})") from exc
    if not isinstance(doc, dict):
        raise ValueError(f"{side}: JSON sidecar is not an object")
    return doc
