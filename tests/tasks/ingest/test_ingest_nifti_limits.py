"""NIfTI sources that would exhaust memory or carry a broken geometry are refused with a reason
(issue 24, item 8): sparse files, gzip streams past the declared size, non-finite affines."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from tasks.ingest.convert import ConversionError
from tasks.ingest.session import MAX_NIFTI_BYTES, _nifti_source_bytes


def _image(path: Path, shape=(8, 8, 8)) -> Path:
    nib.save(nib.Nifti1Image(np.ones(shape, np.float32), np.diag([2.0, 2.0, 2.0, 1.0])),
             str(path))
    return path


def test_a_plain_and_a_gzip_image_read_whole(tmp_path):
    for name in ("a.nii", "a.nii.gz"):
        path = _image(tmp_path / name)
        raw = path.read_bytes()
        assert _nifti_source_bytes(path) == (gzip.decompress(raw) if name.endswith("gz")
                                              else raw)


def test_a_gzip_expanding_past_its_declared_size_is_refused_early(tmp_path):
    header = _image(tmp_path / "a.nii").read_bytes()  # 8^3 float32 declared
    bomb = tmp_path / "bomb.nii.gz"
    with gzip.open(bomb, "wb", compresslevel=1) as fh:
        fh.write(header)
        zeros = bytes(1 << 20)
        for _ in range(64):  # 64 MiB of padding, a few hundred KiB compressed
            fh.write(zeros)
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(ConversionError, match="more data than its header declares"):
        _nifti_source_bytes(bomb)


def test_a_header_declaring_more_than_any_plausible_image_is_refused(tmp_path):
    path = _image(tmp_path / "a.nii")
    data = bytearray(path.read_bytes())
    data[40:56] = struct.pack("<8h", 3, 2048, 2048, 2048, 1, 1, 1, 1)  # 32 GiB of float32
    path.write_bytes(data)
    with pytest.raises(ConversionError, match=f"more than any plausible image "
                                              f"\\({MAX_NIFTI_BYTES}\\)"):
        _nifti_source_bytes(path)


def test_a_sparse_file_is_refused_without_reading_it(tmp_path):
    path = _image(tmp_path / "sparse.nii")
    with open(path, "r+b") as fh:
        fh.truncate(512 << 20)  # 512 MiB declared by the file system, a few KiB on disk
    if path.stat().st_blocks * 512 >= path.stat().st_size // 2:
        pytest.skip("this file system does not make sparse files")
    with pytest.raises(ConversionError, match="sparse file"):
        _nifti_source_bytes(path)


@pytest.mark.parametrize("offset", [80, 280, 316])  # pixdim[1], srow_x[0], srow_z[0]
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_non_finite_affine_is_refused(tmp_path, offset, bad):
    path = _image(tmp_path / "a.nii")
    data = bytearray(path.read_bytes())
    data[offset:offset + 4] = struct.pack("<f", bad)
    path.write_bytes(data)
    with pytest.raises(ConversionError, match="non-finite affine"):
        _nifti_source_bytes(path)
