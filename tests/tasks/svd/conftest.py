"""Fixtures for the MRI small-vessel-disease tests: analytic phantoms and simulated sessions."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def phantom2():
    """The analytic head phantom at 2 mm (lesions, bias, noise)."""
    from tasks.svd.phantom import make_phantom

    return make_phantom(2.0, seed=0)


@pytest.fixture(scope="session")
def truth_anatomy(phantom2):
    """Anatomy of the phantom built from its truth masks (isolates the lesion detectors)."""
    from tasks.svd.steps import anatomy_from_masks

    t = phantom2.truth
    return anatomy_from_masks(t["brain"], t["tissue"], t["ventricles"], (2.0, 2.0, 2.0))


@pytest.fixture(scope="session")
def phantom_z(phantom2, truth_anatomy):
    """NAWM-referenced z-scores of the phantom's contrasts."""
    import numpy as np

    from tasks.svd.image import robust_stats

    out = {}
    ref = (truth_anatomy.tissue == 3) & ~phantom2.truth["wmh"]
    for name, (arr, _) in phantom2.images.items():
        med, sd = robust_stats(arr[ref])
        out[name] = np.where(truth_anatomy.brain, (arr - med) / sd, 0).astype(np.float32)
    return out


@pytest.fixture(scope="session")
def sim_session():
    """One simulated severe session at 3 mm (simulator, docs/simulator.md)."""
    from simulator import render_session

    return render_session(seed=7, group="severe", location="MCA", resolution_mm=3.0)


@pytest.fixture(scope="session")
def sim_result(sim_session):
    """quantify_svd on the simulated session."""
    from tasks.svd.pipeline import quantify_svd

    imgs = {k: sim_session.images[k] for k in ("T1w", "T2w", "FLAIR", "T2starw")}
    return quantify_svd(imgs)


@pytest.fixture(scope="session")
def phantom_wm_prior(phantom2):
    """WM territory of the phantom (stands in for the registered template's WM probability,
    which the pipeline always passes when registration succeeds): WM truth and WMH, smoothed
    by 2 mm (one voxel)."""
    import numpy as np
    from scipy import ndimage

    t = phantom2.truth
    wm = (t["tissue"] == 3) | t["wmh"]
    return ndimage.gaussian_filter(wm.astype(np.float32), 1.0)
