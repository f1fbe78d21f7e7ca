"""The MRI accuracy summary: a marker the method did not give is 'not measured', not 0."""

from __future__ import annotations

from bench.accuracy_mri import summarise


def _row(seed: int, svd_est, punctate_est=1) -> dict:
    return {"seed": seed, "wmh_true_cm3": 2.0 + seed, "wmh_est_cm3": 2.1 + seed,
            "wmh_dice": 0.8, "fazekas_true": 2, "fazekas_est": 2, "punctate_true": 1,
            "punctate_est": punctate_est, "mb_tp": 1, "mb_true": 1, "mb_fp": 0, "lac_tp": 1,
            "lac_true": 1, "lac_fp": 0, "svd_true": 2, "svd_est": svd_est, "seconds": 1.0,
            "reason": "slices 6.0 mm thick (> 3 mm): lacunes and PVS not measurable",
            "status": "ok"}


def test_svd_score_not_given_is_not_measured():
    res = summarise([_row(0, None), _row(1, None)], 1.0, 0)
    assert res["metrics"]["svd_score_exact"] is None
    assert "svd_score" in res["not_measured"]
    assert res["metrics"]["punctate_grade_exact"] == 1.0


def test_exact_share_over_the_sessions_that_have_a_value():
    res = summarise([_row(0, 2), _row(1, 3), _row(2, None)], 1.0, 0)
    assert res["metrics"]["svd_score_exact"] == 0.5
    assert "svd_score" not in res["not_measured"]


def test_dice_over_sessions_with_truth_leaves_out_an_empty_truth():
    empty = dict(_row(1, 2), wmh_dice=1.0, wmh_truth_voxels=0)  # nothing to find, none found
    res = summarise([dict(_row(0, 2), wmh_truth_voxels=50), empty], 1.0, 0)
    assert res["metrics"]["wmh_dice"] == 0.9
    assert res["metrics"]["wmh_dice_sessions_with_truth"] == 0.8


def test_visible_truth_dice_only_where_the_render_has_it():
    """Thick-slice rows carry ``wmh_dice_visible``; 1 mm rows have none and are left out."""
    rows = [dict(_row(0, 2), wmh_dice_visible=0.7), dict(_row(1, 2), wmh_dice_visible=0.5),
            dict(_row(2, 2), wmh_dice_visible=None)]
    assert summarise(rows, 1.0, 0)["metrics"]["wmh_dice_visible"] == 0.6
    assert summarise([_row(0, 2)], 1.0, 0)["metrics"]["wmh_dice_visible"] is None
