"""The MNI152 template loaders: shapes, grids, refusals."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.imaging.templates import mni152, mni152_t1_native, mni152_tissue, template_path


def test_the_bundled_template_is_found_and_native_1mm():
    assert template_path() is not None
    t1, aff = mni152_t1_native()
    assert t1.dtype == np.float32 and t1.ndim == 3
    assert np.allclose(np.linalg.norm(aff[:3, :3], axis=0), 1.0)


def test_resampled_template_mask_and_tissue_share_one_grid():
    t1, mask, aff = mni152(2)
    wm = mni152_tissue("wm", 2)
    assert t1.shape == mask.shape == wm.shape
    assert np.allclose(np.linalg.norm(aff[:3, :3], axis=0), 2.0)
    assert 1.2e6 < (mask > 0.5).sum() * 8 < 2.0e6  # brain mask 1.2-2.0 L in mm^3
    assert wm.min() >= 0.0 and wm.max() <= 1.0 + 1e-6


def test_unknown_tissue_is_refused():
    with pytest.raises(ValueError, match="unknown tissue"):
        mni152_tissue("csf")


def test_template_arrays_are_kept_on_disk_identical_and_rebuilt_when_damaged(tmp_path,
                                                                            monkeypatch):
    from tasks.imaging import templates

    monkeypatch.setenv("CALCISVD_CACHE_DIR", str(tmp_path))
    calls = []

    def build():
        calls.append(1)
        return {"a": np.arange(12, dtype=np.float32).reshape(3, 4) / 7, "aff": np.eye(4) * 2}

    first = templates.cached_arrays("probe", build)
    files = list(tmp_path.glob("probe-*.npz"))
    assert len(files) == 1 and not list(tmp_path.glob(".probe-*"))  # no temporary left
    again = templates.cached_arrays("probe", build)
    assert len(calls) == 1  # read back, not rebuilt
    for k in first:
        assert again[k].dtype == first[k].dtype and np.array_equal(again[k], first[k])
    files[0].write_bytes(files[0].read_bytes()[:100])  # truncated (a crash mid-copy)
    assert np.array_equal(templates.cached_arrays("probe", build)["a"], first["a"])
    assert len(calls) == 2  # rebuilt and rewritten whole
    assert np.array_equal(templates.cached_arrays("probe", build)["aff"], first["aff"])
    assert len(calls) == 2


def test_an_unwritable_cache_folder_costs_time_not_results(tmp_path, monkeypatch):
    from tasks.imaging import templates

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("CALCISVD_CACHE_DIR", str(blocker / "cache"))
    out = templates.cached_arrays("probe", lambda: {"a": np.ones(3, np.float32)})
    assert np.array_equal(out["a"], np.ones(3, np.float32))


def test_cached_templates_equal_nilearns_own(tmp_path, monkeypatch):
    """The disk copy is the resampled nilearn template to the last bit (a fresh folder: built,
    then read back in a way that bypasses the in-process cache)."""
    from nilearn import datasets

    from tasks.imaging import templates

    monkeypatch.setenv("CALCISVD_CACHE_DIR", str(tmp_path))
    mni152 = templates.mni152.__wrapped__
    t1, mask, aff = mni152(2)  # builds
    t1b, maskb, affb = mni152(2)  # reads the file
    ref = datasets.load_mni152_template(resolution=2)
    assert np.array_equal(t1b, ref.get_fdata(dtype=np.float32)) and np.array_equal(t1, t1b)
    assert np.array_equal(maskb, mask) and np.array_equal(affb, np.asarray(ref.affine, float))
    assert len(list(tmp_path.glob("mni152-2mm-*.npz"))) == 1
