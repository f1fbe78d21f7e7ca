"""bench.wmh_ceiling: the oracle threshold and the per-protocol summary."""

from __future__ import annotations

import numpy as np

from bench.wmh_ceiling import best_threshold, dice, summarise


def test_best_threshold_finds_the_level_that_separates_a_lesion():
    z = np.zeros((20, 20, 5), np.float32)
    truth = np.zeros(z.shape, bool)
    truth[5:10, 5:10, 1:4] = True
    z[truth] = 4.0
    z[15:18, 15:18, 2] = 2.0  # a fainter bright region elsewhere: above 1, below 4
    region = np.ones(z.shape, bool)
    score, level = best_threshold(z, region, truth)
    assert score == 1.0 and 2.0 <= level < 4.0
    # the lowest level tried takes the faint region too: Dice below 1
    assert dice(region & (z > 1.0), truth) < 1.0


def test_summary_separates_protocols_and_small_loads():
    keys = {"method": 0.5, "threshold": 0.4, "threshold_clean_reference": 0.45,
            "boundary_only": 0.7}
    rows = [{"protocol": "a", "true_cm3": 0.2, **keys},
            {"protocol": "a", "true_cm3": 5.0, **{k: v + 0.2 for k, v in keys.items()}},
            {"protocol": "b", "true_cm3": 0.1, **keys}]
    s = summarise(rows)
    assert s["a"]["n"] == 2 and s["a"]["method"] == 0.6
    assert s["a"]["n_at_least_1cm3"] == 1 and s["a"]["boundary_only_at_least_1cm3"] == 0.9
    assert s["b"]["method_at_least_1cm3"] is None


def test_the_method_it_scores_is_the_pipelines():
    """ceiling_of_session repeats the pipeline's step chain to keep its intermediate z map;
    its "method" Dice must be the Dice of :func:`tasks.svd.pipeline.quantify_svd`'s own WMH
    mask (on thick slices, where most of the WMH rules act), or the ceilings compare the
    oracles with something else."""
    from bench.wmh_ceiling import ceiling_of_session
    from simulator import render_session
    from tasks.svd.pipeline import quantify_svd

    s = render_session(seed=2101, group="severe", location="MCA", resolution_mm=2.0,
                       protocol="clinical2d_flair_stripped")
    images = {k: s.images[k] for k in ("T1w", "T2w", "FLAIR", "T2starw") if k in s.images}
    truth = s.masks["wmh_mask"][0] > 0
    row = ceiling_of_session(images, truth)
    got = np.asarray(quantify_svd(images).masks["wmh"]) > 0
    assert truth.any() and got.any()
    assert row["method"] == round(dice(got, truth), 4)
    assert 0.0 < row["method"] < 1.0
