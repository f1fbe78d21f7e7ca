import pandas as pd

from tasks.stats.data import AnalysisFrames
from tasks.stats.qc_filter import apply_exclusions, excluded_sessions, exclusion_notes


def _qc():
    return pd.DataFrame([
        {"subject": "a", "session": "M00", "visit": "baseline", "svd_status": "review",
         "svd_reason": "NMI low", "icac_status": "ok", "icac_reason": None, "rating": None,
         "rating_reason": None, "rater": None, "qc_decision": "review"},
        {"subject": "b", "session": "M12", "visit": "followup", "svd_status": "ok",
         "svd_reason": None, "icac_status": "ok", "icac_reason": None, "rating": "fail",
         "rating_reason": "motion", "rater": "x", "qc_decision": "fail"},
        {"subject": "c", "session": "M00", "visit": "baseline", "svd_status": "review",
         "svd_reason": "r", "icac_status": "ok", "icac_reason": None, "rating": "pass",
         "rating_reason": None, "rater": "x", "qc_decision": "pass"},
    ])


def _frames():
    base = pd.DataFrame({"subject": ["a", "b", "c"], "wmh_volume_cm3": [1.0, 2.0, 3.0]})
    change = pd.DataFrame({"subject": ["a", "b", "c"], "baseline_session": ["M00"] * 3,
                           "followup_session": ["M12"] * 3})
    sessions = pd.DataFrame({"subject": ["a", "a", "b", "b", "c", "c"],
                             "session": ["M00", "M12"] * 3})
    return AnalysisFrames(baseline=base, change=change, sessions=sessions)


def test_fail_always_out_review_out_by_default_pass_accepts():
    ex = excluded_sessions(_qc())
    assert set(zip(ex["subject"], ex["session"], strict=True)) == {("a", "M00"), ("b", "M12")}
    why = dict(zip(ex["subject"], ex["why"], strict=True))
    assert why == {"a": "MRI review (NMI low)", "b": "rated fail by x: motion"}
    f = apply_exclusions(_frames(), ex)
    assert list(f.baseline["subject"]) == ["b", "c"]  # b's baseline is fine
    assert list(f.change["subject"]) == ["c"]
    assert len(f.sessions) == 4
    kept = excluded_sessions(_qc(), include_review=True)
    assert list(kept["subject"]) == ["b"]
    assert "2 session(s) excluded" in exclusion_notes(ex, False)[0]


def test_nothing_to_exclude_says_so():
    ex = excluded_sessions(None)
    assert apply_exclusions(_frames(), ex).baseline.shape[0] == 3
    assert exclusion_notes(ex, False) == ["quality control: no session excluded"]
