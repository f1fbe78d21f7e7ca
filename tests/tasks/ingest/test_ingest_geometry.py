"""Independent world-geometry check of converted series (tasks/ingest/geometry.py)."""

from __future__ import annotations

import datetime as dt

import nibabel as nib
import numpy as np
import pydicom
import pytest

from bench.support.dicomgen import Patient, write_series
from tasks.icac.ctqc import tilt_verified
from tasks.ingest.geometry import DicomGeometry, _tilt_field, check, resample_sheared
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
    assert tilt_verified(side)  # the CT QC reads this check: the tilt needs no review
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


def _sheared(tilt_deg: float, dz: float = 5.0, origin=(-10.3, 4.7, 7.1)) -> np.ndarray:
    aff = np.eye(4)  # 1 mm pixels; slices dz apart along the normal, stepping along y (tilt)
    aff[:3, 2] = [0.0, dz * np.tan(np.radians(tilt_deg)), dz]
    aff[:3, 3] = origin
    return aff


def test_resampling_a_tilted_stack_keeps_every_acquired_slice_whole():
    """The orthogonal grid is laid through the acquired slices: output slice k is acquired
    slice k shifted in plane, never a blend of two slices. On 5 mm slices a blend halves a
    deposit seen on one slice only and smears it into the next (the grid used to start at a
    whole-voxel corner of the world, a fraction of a slice away from the slices)."""
    rng = np.random.default_rng(3)
    data = rng.normal(30.0, 4.0, (32, 40, 9)).astype(np.float32)
    data[12, 20, 4] = 700.0  # a one-voxel deposit on slice 4 only
    aff = _sheared(18.0)
    out, target = resample_sheared(data, aff, -1000.0)
    assert np.allclose(target[:3, 2], [0, 0, 5.0])  # orthogonal, the slice spacing kept
    assert out.shape[2] == data.shape[2]
    hot = np.argwhere(out > 130)
    assert set(hot[:, 2]) == {4}, hot  # on its own slice only
    assert out[:, :, 4].max() > 0.5 * 700  # a sub-voxel shift, not an average of two slices
    # each slice's soft tissue keeps its level and spread (no averaging between slices)
    for k in range(data.shape[2]):
        inside = out[:, :, k][out[:, :, k] > -500]
        assert abs(np.median(inside) - 30.0) < 1.0
        assert 2.5 < 1.4826 * np.median(np.abs(inside - np.median(inside))) < 5.0
    # a whole-pixel step per slice is a lossless re-indexing: every value comes back
    whole = aff.copy()
    whole[1, 2] = 2.0
    out, target = resample_sheared(data, whole, -1000.0)
    src = (np.linalg.inv(whole) @ target)[:3, 3]
    for k in range(data.shape[2]):
        j0 = int(round(-src[1])) + 2 * k  # target j = source j - offset + 2 k
        assert np.array_equal(out[:, j0:j0 + 40, k], data[:, :, k])


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
