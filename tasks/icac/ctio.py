"""Reading a CT NIfTI into a canonical (RAS) array and writing results back on its grid.

The core functions work on arrays indexed ``[i, j, k]`` with ``k`` the axial (inferior to
superior) axis, which is what the Agatston score needs. :func:`load_ct` reorders the voxel axes
of any NIfTI to the closest RAS orientation (no resampling, no interpolation) and
:func:`tasks.imaging.io.save_like` writes an array computed on that canonical grid back in the
voxel order of the original file, so derivatives sit on exactly the input grid.
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
