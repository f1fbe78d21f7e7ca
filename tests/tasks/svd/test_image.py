"""Image helpers: degenerate checks, robust normalisation, shapes."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.svd.image import (
    DegenerateImageError,
    ball,
    check_image,
    robust_zscore,
)


@pytest.mark.parametrize("arr, msg", [
    (np.zeros((20, 20, 20)), "constant"),
    (np.full((20, 20, 20), 7.0), "constant"),
    (np.ones((20, 20)), "3-D"),
    (np.ones((4, 20, 20)), "too small"),
    (np.full((20, 20, 20), np.nan), "non-finite"),
])
def test_degenerate_images_raise_with_reason(arr, msg):
    with pytest.raises(DegenerateImageError, match=msg):
        check_image(arr, "FLAIR")


def test_robust_zscore_ignores_outliers():
    rng = np.random.default_rng(0)
    a = rng.normal(100, 10, (20, 20, 20)).astype(np.float32)
    a[:2] = 5000  # 10% outliers
    mask = np.ones(a.shape, bool)
    z = robust_zscore(a, mask)
    assert abs(np.median(z[2:])) < 0.2
    assert 0.8 < z[2:].std() < 1.3


def test_ball_is_anisotropic_in_voxels():
    b = ball(4.0, (1.0, 1.0, 2.0))
    assert b.shape == (9, 9, 5)
    assert b[4, 4, 2] and not b[0, 0, 0]


def test_local_reference_removes_a_smooth_residual_field_and_keeps_lesions():
    from tasks.svd.image import local_reference_z

    rng = np.random.default_rng(0)
    shape = (60, 60, 12)
    spacing = (1.0, 1.0, 6.0)  # thick slices: blocks are one slice (16 mm -> 3 slices)
    noise = rng.standard_normal(shape).astype(np.float32)
    ramp = np.linspace(-2.0, 2.0, shape[2], dtype=np.float32)[None, None, :]  # +-2 SD in z
    z = noise + ramp
    lesion = np.zeros(shape, bool)
    lesion[28:34, 28:34, 9] = True
    z[lesion] += 5.0
    ref = np.ones(shape, bool)
    out, sd = local_reference_z(z, ref, spacing, ref)
    per_slice = [float(np.median(out[:, :, k])) for k in range(shape[2])]
    assert max(abs(v) for v in per_slice) < 0.5  # the +-2 SD field is gone
    assert float(np.median(out[lesion])) > 4.0  # the lesion keeps its level above NAWM
    assert 0.8 < sd < 1.3
    # no reference voxels: the map is only rescaled, never shifted by a made-up level
    none, _ = local_reference_z(z, np.zeros(shape, bool), spacing, ref)
    assert np.allclose(none, z)


def test_local_reference_keeps_a_confluent_halo_bright():
    """A confluent lesion 24 mm across (a heavy periventricular halo) fills whole 16 mm
    blocks of the WM reference; its own median was then taken for NAWM and it stood near 0.
    In 32 mm blocks it is less than half of any block and keeps most of its 5 SD."""
    from tasks.svd.image import local_reference_z

    rng = np.random.default_rng(3)
    shape = (96, 96, 48)
    z = rng.standard_normal(shape).astype(np.float32)
    halo = np.zeros(shape, bool)
    halo[36:60, 36:60, 12:36] = True
    z[halo] += 5.0
    ref = np.ones(shape, bool)
    out, sd = local_reference_z(z, ref, (1.0, 1.0, 1.0), ref)
    assert float(np.median(out[halo])) > 3.5
    assert abs(float(np.median(out[~halo]))) < 0.3 and 0.8 < sd < 1.3


def test_local_reference_sees_a_confluent_periventricular_load():
    """A halo 10 mm thick around a 64 mm ventricle (8 SD at the wall, fading outwards; 10 % of
    the reference) fills much of the blocks beside the wall: their medians rose into it and the
    halo stood at a median 3.3 SD, not its 4.3. Trimmed from above, the reference gives NAWM
    its level back and the halo above 3.8 SD."""
    from scipy import ndimage as ndi

    from tasks.svd.image import local_reference_z

    rng = np.random.default_rng(4)
    shape = (96, 96, 64)
    z = rng.standard_normal(shape).astype(np.float32)
    vent = np.zeros(shape, bool)
    vent[44:52, 16:80, 24:40] = True
    d = ndi.distance_transform_edt(~vent)
    halo = ~vent & (d <= 10)
    z[halo] += (8.0 * (1.0 - d[halo] / 14.0)).astype(np.float32)
    out, sd = local_reference_z(z, ~vent, (1.0, 1.0, 1.0), ~vent)
    assert float(np.median(out[halo])) > 3.8
    assert abs(float(np.median(out[~vent & ~halo]))) < 0.1 and 0.95 < sd < 1.1


def test_local_reference_trims_only_a_heavy_load(monkeypatch):
    """Normal loads keep the plain block medians the method was measured with: the trimming
    runs only when more than HEAVY_LOAD_SHARE of the reference is bright."""
    import tasks.svd.image as image

    def boom(*args, **kwargs):
        raise AssertionError("trimmed a normal load")

    monkeypatch.setattr(image, "trimmed_reference", boom)
    rng = np.random.default_rng(5)
    shape = (96, 96, 48)
    z = rng.standard_normal(shape).astype(np.float32)
    z[40:52, 40:52, 20:32] += 5.0  # 1.7 mL, 0.4 % of the reference
    image.local_reference_z(z, np.ones(shape, bool), (1.0, 1.0, 1.0), np.ones(shape, bool))


def test_reference_blocks_are_finer_only_along_a_thick_slice_axis():
    from tasks.svd.image import reference_blocks_mm

    assert reference_blocks_mm((1.0, 1.0, 1.0)) == (32.0, 32.0, 32.0)
    assert reference_blocks_mm((0.45, 0.45, 7.0)) == (32.0, 32.0, 16.0)
    assert reference_blocks_mm((5.0, 0.9, 0.9)) == (16.0, 32.0, 32.0)  # sagittal slices


def test_blanked_is_the_zero_background_and_the_pockets_reaching_it():
    from tasks.svd.image import blanked

    rng = np.random.default_rng(0)
    img = np.zeros((30, 30, 30), np.float32)  # a stripped export: 0 outside the brain
    g = np.indices(img.shape) - 15
    head = (g ** 2).sum(0) <= 12 ** 2
    img[head] = rng.uniform(50, 100, int(head.sum()))
    img[15, 15:, 14:16] = 0.0  # a sulcal pocket reaching the surface (one voxel thick)
    img[10:12, 10:12, 10:12] = 0.0  # an enclosed zero island (a quantised dark ventricle)
    b = blanked(img)
    assert b[0, 0, 0] and b[15, 20, 14] and b[15, 15, 15]  # background and pocket...
    assert not b[10, 10, 10]  # ...but not the enclosed island
    assert not b[head & (img > 0)].any()
    noisy = np.abs(rng.normal(1.0, 1.0, img.shape)).astype(np.float32) + 1e-3  # Rician-like
    assert not blanked(noisy).any()


def _nawm_with_load(n: int, rows: int, lesion_sd: tuple[float, float], seed: int):
    """An n^3 z map of NAWM (N(0, 1)) whose first ``rows`` rows along y are a confluent load,
    uniform over ``lesion_sd``; returns (z, load mask)."""
    rng = np.random.default_rng(seed)
    shape = (n, n, n)
    lesion = np.zeros(shape, bool)
    lesion[:, :rows] = True
    z = np.where(lesion, rng.uniform(*lesion_sd, shape), rng.normal(0.0, 1.0, shape))
    return z.astype(np.float32), lesion


def test_global_level_sits_on_the_nawm_peak_under_a_heavy_load():
    """The WMH step's global reference: one level for the whole brain at the mode of the
    reference voxels. A confluent load filling 35 % of the reference (2.5-8 SD, graded) lifts
    its median, so normal white matter sits 0.33 SD below 0 and half the load falls under 2
    SD; at the mode normal white matter stays at 0 and 80 % of the load above 2 SD."""
    from tasks.svd.image import global_level_z, robust_stats

    z, lesion = _nawm_with_load(60, 21, (2.5, 8.0), seed=3)
    shape = z.shape
    ref = np.ones(shape, bool)
    brain = np.ones(shape, bool)
    brain[:3] = False
    med, sd = robust_stats(z[ref])
    by_median = (z - med) / sd
    assert float(np.median(by_median[~lesion])) < -0.25
    assert float(np.mean(by_median[lesion] > 2)) < 0.6
    g = global_level_z(z, ref, brain)
    assert abs(float(np.median(g[~lesion & brain]))) < 0.1
    assert float(np.mean(g[lesion & brain] > 2)) > 0.75
    assert not g[~brain].any()


def test_global_level_on_plain_nawm_is_the_usual_z():
    from tasks.svd.image import global_level_z

    rng = np.random.default_rng(4)
    z = rng.normal(0.7, 1.3, (40, 40, 40)).astype(np.float32)
    brain = np.ones(z.shape, bool)
    brain[:5] = False
    g = global_level_z(z, brain, brain)
    assert abs(float(np.median(g[brain]))) < 0.1
    assert abs(float(np.std(g[brain])) - 1.0) < 0.1
    assert not g[~brain].any()


def test_global_level_falls_back_to_median_and_mad():
    """Fewer than 100 reference voxels: no histogram; the median and MAD of
    :func:`robust_stats` give the level."""
    from tasks.svd.image import global_level_z, robust_stats

    rng = np.random.default_rng(5)
    z = rng.normal(2.0, 3.0, (10, 10, 10)).astype(np.float32)
    brain = np.ones(z.shape, bool)
    few = np.zeros(z.shape, bool)
    few.flat[:50] = True
    med, sd = robust_stats(z[few])
    np.testing.assert_allclose(global_level_z(z, few, brain), (z - med) / sd, rtol=1e-5)
    many = global_level_z(z, brain, brain)  # the histogram's mode: not the same level
    assert not np.allclose(many, (z - med) / sd, rtol=1e-3)


def test_dark_side_sd_is_not_widened_by_a_load():
    """A confluent load (40 % of the reference, 2.5-5 SD) widens the MAD about the mode, so the
    load sinks towards the 2 SD growth level; the SD of the mode's dark side stays that of
    normal white matter (the QC pass of the WMH step)."""
    from tasks.svd.image import global_level_z

    z, lesion = _nawm_with_load(50, 20, (2.5, 5.0), seed=6)
    ref = brain = np.ones(z.shape, bool)
    mad = global_level_z(z, ref, brain)
    dark = global_level_z(z, ref, brain, dark_side=True)
    assert float(np.mean(mad[lesion] > 2)) < 0.6
    assert float(np.mean(dark[lesion] > 2)) > 0.9
    assert abs(float(np.std(dark[~lesion])) - 1.0) < 0.1
