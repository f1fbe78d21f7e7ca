"""bench.wmh_load: the per-protocol, per-scale summary."""

from __future__ import annotations

from bench.wmh_load import summarise


def test_summary_means_per_protocol_and_scale():
    rows = [{"protocol": "paper", "scale": 1.0, "true_cm3": 10.0, "dice": 0.9, "ratio": 0.9},
            {"protocol": "paper", "scale": 1.0, "true_cm3": 20.0, "dice": 0.7, "ratio": 0.5},
            {"protocol": "paper", "scale": 8.0, "true_cm3": 80.0, "dice": 0.5, "ratio": None}]
    s = summarise(rows)
    assert s["paper x1"] == {"n": 2, "true_cm3_mean": 15.0, "dice_mean": 0.8, "ratio_mean": 0.7}
    assert s["paper x8"]["ratio_mean"] == 0.0  # no measured volume counts as 0


def test_ratio_to_the_drawn_lesion_volume_when_rows_have_it():
    rows = [{"protocol": "clinical2d", "scale": 1.0, "true_cm3": 5.0, "dice": 0.5,
             "ratio": 2.0, "ratio_to_lesion": 1.0},
            {"protocol": "clinical2d", "scale": 1.0, "true_cm3": 7.0, "dice": 0.5,
             "ratio": 1.0, "ratio_to_lesion": 0.5}]
    assert summarise(rows)["clinical2d x1"]["ratio_to_lesion_mean"] == 0.75


def test_visible_truth_dice_only_when_every_row_has_it():
    thick = [{"protocol": "clinical2d", "scale": 1.0, "true_cm3": 5.0, "dice": 0.5,
              "ratio": 1.0, "dice_visible": d} for d in (0.6, 0.8)]
    paper = [{"protocol": "paper", "scale": 1.0, "true_cm3": 5.0, "dice": 0.9, "ratio": 1.0,
              "dice_visible": None}]
    s = summarise(thick + paper)
    assert s["clinical2d x1"]["dice_visible_mean"] == 0.7
    assert "dice_visible_mean" not in s["paper x1"]
