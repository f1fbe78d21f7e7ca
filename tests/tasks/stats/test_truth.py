"""Ground-truth frames: markers replaced by the simulator's truth, keyed via the reid map."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from tasks.stats.data import AnalysisFrames
from tasks.stats.truth import load_truth_table, truth_frames


def _truth(root: Path, pid: str, visit: str, wmh: float, group: str) -> None:
    d = root / pid / visit
    d.mkdir(parents=True)
    d.joinpath("truth.json").write_text(json.dumps({
        "patient_id": pid, "visit": visit,
        "icac": {"severity_group": group, "total_calcium_volume_mm3": 10.0},
        "svd": {"wmh_volume_cm3": wmh, "fazekas_total": 2}}))


def test_truth_frames_replace_markers_and_recompute_change(tmp_path: Path) -> None:
    truth_dir = tmp_path / "truth"
    _truth(truth_dir, "H1", "baseline", 5.0, "severe")
    _truth(truth_dir, "H1", "followup", 8.0, "severe")
    _truth(truth_dir, "H2", "baseline", 1.0, "none_mild")  # follow-up never arrived
    reid = tmp_path / "reid.tsv"
    reid.write_text("patient_id\tsubject\tstudy_instance_uid\tsession\n"
                    "H1\taa\t1.2\tM00\nH1\taa\t1.3\tM12\nH2\tbb\t1.4\tM00\n")
    table = load_truth_table(truth_dir, reid)
    assert set(map(tuple, table[["subject", "session"]].to_numpy())) == {
        ("aa", "M00"), ("aa", "M12"), ("bb", "M00")}

    measured = AnalysisFrames(
        baseline=pd.DataFrame({"subject": ["aa", "bb"], "age": [70, 60],
                               "severity_group": ["moderate", "none_mild"],
                               "wmh_volume_cm3": [4.0, 1.5]}),
        change=pd.DataFrame({"subject": ["aa"], "severity_group": ["moderate"],
                             "wmh_volume_cm3_baseline": [4.0],
                             "wmh_volume_cm3_followup": [9.0],
                             "wmh_volume_cm3_change": [5.0]}),
        sessions=pd.DataFrame({"subject": ["aa", "aa", "bb"], "session": ["M00", "M12", "M00"],
                               "wmh_volume_cm3": [4.0, 9.0, 1.5]}))
    t = truth_frames(measured, table)
    assert t.source == "ground truth"
    assert t.baseline["wmh_volume_cm3"].tolist() == [5.0, 1.0]
    assert t.baseline["severity_group"].tolist() == ["severe", "none_mild"]
    assert t.baseline["age"].tolist() == [70, 60]  # covariates untouched
    assert t.change["wmh_volume_cm3_change"].tolist() == [3.0]
    assert t.change["severity_group"].tolist() == ["severe"]
    assert t.sessions["wmh_volume_cm3"].tolist() == [5.0, 8.0, 1.0]
    assert measured.baseline["wmh_volume_cm3"].tolist() == [4.0, 1.5]  # input not modified


def test_no_truth_gives_none(tmp_path: Path) -> None:
    assert load_truth_table(tmp_path / "missing", tmp_path / "reid.tsv") is None
