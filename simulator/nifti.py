"""Write a rendered session as NIfTI files plus its truth (for tests and benchmarks)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def write_nifti(path: Path, array: np.ndarray, affine: np.ndarray) -> Path:
    """Save one array with its RAS affine (int16 for label maps, float32 otherwise)."""
    import nibabel as nib

    data = array if array.dtype.kind == "f" else array.astype(np.int16)
    img = nib.Nifti1Image(data, affine)
    img.header.set_xyzt_units("mm")
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, str(path))
    return path


def write_session_nifti(out_dir: str | Path, session: Any, images: bool = True
                        ) -> dict[str, Path]:
    """Write ``<out_dir>/<image>.nii.gz`` (ct, T1w, T2w, FLAIR, T2starw), the truth masks
    (``calcium_labels``, ``wmh_mask``, ``microbleeds``, ``lacunes``, ``pvs``, ``ventricles``;
    thick-slice protocols also ``wmh_visible``) and ``truth.json``. Returns name -> path."""
    out = Path(out_dir)
    paths: dict[str, Path] = {}
    groups = [session.masks] + ([session.images] if images else [])
    for group in groups:
        for name, (arr, aff) in group.items():
            paths[name] = write_nifti(out / f"{name}.nii.gz", arr, aff)
    tj = out / "truth.json"
    tj.write_text(json.dumps(session.truth, indent=1))
    paths["truth"] = tj
    return paths
