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
