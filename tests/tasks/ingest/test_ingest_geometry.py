"""Independent world-geometry check of converted series (tasks/ingest/geometry.py)."""

from __future__ import annotations

import datetime as dt

import nibabel as nib
import numpy as np
import pydicom
import pytest

from bench.support.dicomgen import Patient, write_series
from tasks.ingest.geometry import DicomGeometry, _tilt_field, check
from tasks.ingest.pipeline import run_ingest
from tests.tasks.ingest.ingest_fixtures import make_settings


def _block_volume(shape=(24, 24, 16), slices=slice(10, 13)) -> np.ndarray:
    vol = np.full(shape, 1024, dtype=np.uint16)  # 0 HU
    vol[4:8, 14:18, slices] = 2024  # a bright block (1000 HU), rows 4-7, cols 14-17
    return vol


def _world_centroid_dicom(files) -> np.ndarray:
    """Centroid (RAS, mm) of the bright voxels from the DICOM geometry alone."""
    pts = []
    for f in files:
        ds = pydicom.dcmread(f)
        a = ds.pixel_array
        r, c = np.asarray(ds.ImageOrientationPatient[:3], float), \
            np.asarray(ds.ImageOrientationPatient[3:], float)
        p0 = np.asarray(ds.ImagePositionPatient, float)
        sp = [float(v) for v in ds.PixelSpacing]
        for i, j in zip(*np.nonzero(a > 1500), strict=True):  # i = row, j = column
            lps = p0 + j * sp[1] * r + i * sp[0] * c
            pts.append(lps * [-1, -1, 1])
    return np.mean(pts, axis=0)


def _world_centroid_nifti(path) -> np.ndarray:
    img = nib.load(path)
    data = np.asanyarray(img.dataobj).astype(float)
    idx = np.argwhere(data > data.min() + 500)
    w = data[tuple(idx.T)] - data.min()
    vox = (idx * w[:, None]).sum(axis=0) / w.sum()
    return img.affine[:3, :3] @ vox + img.affine[:3, 3]


def test_tilted_series_resampled_with_correct_world_geometry(tmp_path):
    settings = make_settings(tmp_path / "home")
    files = write_series(settings.drop_dir / "tilt", Patient("HOSP0201"), "2.25.9001",
                         dt.date(2024, 2, 2), "CT", 2, shape=(24, 24, 40), spacing=2.0,
                         tilt_deg=16.5, volume=_block_volume((24, 24, 40), slice(32, 36)))
    out = run_ingest(settings)
    assert out["ingested"] == 1, out
    (ct,) = settings.bids_dir.glob("sub-*/ses-*/anat/*_ct.nii.gz")
    import json

    side = json.loads(ct.with_name(ct.name.replace(".nii.gz", ".json")).read_text())
    assert "gantry tilt 16.50" in side["GeometryCheck"] and "resampled" in side["ResampledBy"]
    # the tilt as a number (DICOM 0018,1120): the resampled affine no longer shows it
    assert side["GantryDetectorTilt"] == pytest.approx(16.5, abs=0.05)
    truth = _world_centroid_dicom(files)
    got = _world_centroid_nifti(str(ct))
    # within a quarter voxel (2 mm); dcm2niix's uncorrected stack puts this block 2.8 mm off
    assert np.linalg.norm(got - truth) < 0.5, (got, truth)
    # the affine is orthogonal, its third axis along the tilted slice normal
    aff = nib.load(str(ct)).affine
    assert abs(aff[:3, 0] @ aff[:3, 2]) < 1e-4 and abs(aff[:3, 1] @ aff[:3, 2]) < 1e-4


def test_tilted_ct_keeps_hounsfield_units(tmp_path):
    """Stored unsigned with RescaleIntercept -1024 (as GE and Siemens write CT), the resampled
    tilted stack still holds air at -1024 HU, water at 0 and the block at 1000 HU (the
    resampler once cast HU back to uint16 without the intercept: air and water became 0)."""
    settings = make_settings(tmp_path / "home")
    vol = _block_volume((24, 24, 40), slice(32, 36))
    vol[:, :6, :] = 0  # air: stored 0 = -1024 HU
    write_series(settings.drop_dir / "tilt", Patient("HOSP0203"), "2.25.9003",
                 dt.date(2024, 2, 2), "CT", 2, shape=(24, 24, 40), spacing=2.0,
                 tilt_deg=16.5, volume=vol)
    assert run_ingest(settings)["ingested"] == 1
    (ct,) = settings.bids_dir.glob("sub-*/ses-*/anat/*_ct.nii.gz")
    hu = nib.load(str(ct)).get_fdata()
    assert hu.min() == -1024 and hu.max() > 900, (hu.min(), hu.max())
    values, counts = np.unique(np.rint(hu), return_counts=True)
    assert values[np.argmax(counts)] in (0, -1024)  # water or air, never a clipped value
    assert (np.abs(hu) < 1).sum() > 1000  # water survives at 0 HU


def test_untilted_series_passes_and_says_so(tmp_path):
    settings = make_settings(tmp_path / "home")
    files = write_series(settings.drop_dir / "ct", Patient("HOSP0202"), "2.25.9002",
                         dt.date(2024, 2, 2), "CT", 2, shape=(24, 24, 16), spacing=2.0,
                         volume=_block_volume())
    assert run_ingest(settings)["ingested"] == 1
    (ct,) = settings.bids_dir.glob("sub-*/ses-*/anat/*_ct.nii.gz")
    import json

    side = json.loads(ct.with_name(ct.name.replace(".nii.gz", ".json")).read_text())
    assert side["GeometryCheck"] == "passed" and "ResampledBy" not in side
    assert side["GantryDetectorTilt"] == pytest.approx(0.0, abs=0.01)
    assert np.linalg.norm(_world_centroid_nifti(str(ct)) - _world_centroid_dicom(files)) < 0.5


def test_check_catches_wrong_affines():
    geom = DicomGeometry((1, 0, 0, 0, 1, 0), tuple((-10.0, -10.0, 2.0 * k) for k in range(5)),
                         8, 8)
    good = np.array([[-1.0, 0, 0, 10], [0, -1, 0, 10], [0, 0, 2, 0], [0, 0, 0, 1]])
    assert check(good, (8, 8, 5), geom) is None
    shifted = good.copy()
    shifted[2, 3] = 1.0  # slices half a slice off along the normal
    assert "along the normal" in check(shifted, (8, 8, 5), geom)
    sheared = good.copy()
    sheared[1, 2] = 0.6  # slices stepping sideways (a tilt-like shear)
    assert "in-plane" in check(sheared, (8, 8, 5), geom)
    rotated = good.copy()
    rotated[:3, :2] = [[0, -1], [-1, 0], [0, 0]]
    rotated[:2, :2] = [[-0.94, -0.34], [0.34, -0.94]]  # 20 degrees in plane
    assert "orientation" in check(rotated, (8, 8, 5), geom)
    assert "slices" in check(good, (8, 8, 6), geom)


def test_tilt_field_keeps_a_converter_value_else_the_geometric_tilt():
    assert _tilt_field({}, 16.4987) == {"GantryDetectorTilt": 16.5}
    assert _tilt_field({"GantryDetectorTilt": 15.0}, 16.5) == {}
