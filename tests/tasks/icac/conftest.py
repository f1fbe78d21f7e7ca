"""Shared fixtures for the ICAC tests: a small synthetic head CT with known plaques."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tasks.icac.phantom import PhantomCT, Plaque, random_affine, render_phantom

PLAQUES = (
    Plaque("MCA", "L", 0.5, 6.0, 150.0, thickness_mm=1.5, hu=700.0),
    Plaque("BA", "M", 0.5, 8.0, 300.0, thickness_mm=1.5, hu=800.0),
    Plaque("ICA", "R", 0.92, 5.0, 120.0, thickness_mm=1.5, hu=600.0),
)


@pytest.fixture(scope="session")
def phantom() -> PhantomCT:
    """A 2 mm head CT, tilted and scaled, with three plaques (MCA L, BA, ICA R)."""
    return render_phantom(PLAQUES, spacing=(2.0, 2.0, 2.0), ct_to_mni=random_affine(7),
                          noise_sd=5.0, seed=7)


@pytest.fixture(scope="session")
def phantom_nifti(phantom: PhantomCT, tmp_path_factory) -> Path:
    """The phantom written as an int16 NIfTI in HU (LAS voxel order, like many exports)."""
    import nibabel as nib

    # store flipped along i (LAS) to exercise reorientation
    data = np.round(phantom.hu[::-1]).astype(np.int16)
    aff = phantom.affine.copy()
    aff[:3, 0] = -aff[:3, 0]
    aff[:3, 3] = phantom.affine[:3, 3] + phantom.affine[:3, 0] * (phantom.hu.shape[0] - 1)
    path = tmp_path_factory.mktemp("ct") / "sub-01_ses-M00_ct.nii.gz"
    nib.save(nib.Nifti1Image(data, aff), str(path))
    # the BIDS sidecar the QC reads (kVp, slice thickness, tilt), as ingest writes it
    path.with_name("sub-01_ses-M00_ct.json").write_text(json.dumps(
        {"Modality": "CT", "KVP": 120, "SliceThickness": 2.0, "GantryDetectorTilt": 0.0}))
    return path
