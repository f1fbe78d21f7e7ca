import math

import numpy as np
import pytest

from tasks.qc import iqm


def _phantom(noise, seed=0, bias=None):
    """A 40^3 head: air 0 (Rician-like |noise|), head sphere, WM core 100, GM shell 60."""
    rng = np.random.default_rng(seed)
    z, y, x = np.mgrid[:40, :40, :40] - 19.5
    r = np.sqrt(x * x + y * y + z * z)
    head, brain, wm = r < 17, r < 14, r < 9
    gm = brain & ~wm
    img = np.where(wm, 100.0, np.where(gm, 60.0, np.where(head, 30.0, 0.0)))
    if bias is not None:
        img = img * bias
    img = np.abs(img + rng.normal(0, noise, img.shape))
    return img, {"head": head, "brain": brain, "gm": gm, "wm": wm}


def test_known_values_and_noise_ordering():
    clean, m = _phantom(1.0)
    noisy, _ = _phantom(8.0)
    a, b = iqm.mr_iqms(clean, m), iqm.mr_iqms(noisy, m)
    assert a["snr_wm"] == pytest.approx(100.0, rel=0.1)  # mean 100 / SD 1
    assert a["cjv"] == pytest.approx(2.0 / 40.0, rel=0.1)  # (1 + 1) / 40
    assert a["cnr"] > b["cnr"] and a["cjv"] < b["cjv"] and a["fber"] > b["fber"]
    assert 0 < a["efc"] < 1
    assert b["snrd_wm"] == pytest.approx(100 / (8 * 0.6028 * iqm.RAYLEIGH), rel=0.25)


def test_efc_is_one_for_a_uniform_image_and_low_for_a_point():
    assert iqm.efc(np.ones((8, 8, 8))) == pytest.approx(1.0)
    point = np.zeros((8, 8, 8))
    point[4, 4, 4] = 1
    assert iqm.efc(point) == pytest.approx(0.0, abs=1e-9)


def test_bias_spread_flat_and_ramped():
    _, m = _phantom(1.0)
    flat = iqm.bias_spread(np.ones((40, 40, 40)), m["brain"])
    assert flat == {"inu_range": 0.0, "inu_med": 1.0}
    ramp = np.broadcast_to(np.linspace(0.8, 1.2, 40), (40, 40, 40))
    assert iqm.bias_spread(ramp, m["brain"])["inu_range"] > 0.2


def test_ct_noise_and_calibration():
    rng = np.random.default_rng(1)
    hu = np.full((30, 30, 30), -1000.0) + rng.normal(0, 5, (30, 30, 30))
    brain = np.zeros(hu.shape, bool)
    brain[5:25, 5:25, 5:25] = True
    csf = np.zeros(hu.shape, bool)
    csf[12:18, 12:18, 12:18] = True
    hu[brain] = 35 + rng.normal(0, 4, brain.sum())
    hu[csf] = 8 + rng.normal(0, 4, csf.sum())
    out = iqm.ct_iqms(hu, ~brain, brain & ~csf, csf)
    assert out["noise_air_sd"] == pytest.approx(5, rel=0.1)
    assert out["noise_brain_sd"] == pytest.approx(4, rel=0.15)
    assert out["csf_hu"] == pytest.approx(8, abs=1) and out["brain_hu"] == pytest.approx(35, abs=1)


def test_empty_masks_give_nan_not_errors():
    img = np.zeros((4, 4, 4))
    none = np.zeros_like(img, bool)
    assert math.isnan(iqm.snr(img, none)) and math.isnan(iqm.efc(img))
    assert math.isnan(iqm.fber(img, none))


def test_session_iqms_per_contrast_and_json_safe():
    img, m = _phantom(4.0)
    tissue = np.where(m["wm"], 3, np.where(m["gm"], 2, 0)).astype(np.uint8)
    out = iqm.mr_session_iqms({"T1w": img, "FLAIR": np.zeros_like(img)}, m["brain"], tissue)
    assert set(out) == {"T1w", "FLAIR"}
    assert out["T1w"]["snr_wm"] == pytest.approx(25.0, rel=0.2)  # 100 / 4
    assert out["FLAIR"]["cjv"] is None  # no contrast: None, never nan/inf in JSON


def test_ct_session_iqms_noise_and_hu():
    rng = np.random.default_rng(1)
    z, y, x = np.mgrid[:40, :40, :40] - 19.5
    r = np.sqrt(x * x + y * y + z * z)
    hu = np.where(r < 12, 30.0, np.where(r < 15, 1000.0, -1000.0)) + rng.normal(0, 5, r.shape)
    q = iqm.ct_session_iqms(hu, r < 12, (1.0, 1.0, 1.0))
    assert q["noise_air_sd"] == pytest.approx(5.0, rel=0.1)
    assert q["noise_brain_sd"] == pytest.approx(5.0, rel=0.15)
    assert q["brain_hu"] == pytest.approx(30.0, abs=1.0)
