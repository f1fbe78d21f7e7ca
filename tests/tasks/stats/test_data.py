import duckdb
import pytest

from tasks.stats.data import SQL_DIR, load_queries, read_analysis_frames, read_truth_frames
from tasks.stats.synthetic import write_warehouse


def test_queries_file():
    q = load_queries(SQL_DIR / "analysis_frames.sql")
    assert set(q) == {"baseline", "change", "sessions", "icac_by_artery", "session_qc"}
    assert q["baseline"].startswith("SELECT * FROM v_baseline_cohort")


def test_read_frames_and_truth(tmp_path, cohort):
    path = write_warehouse(tmp_path / "w.duckdb", cohort, truth=cohort)
    con = duckdb.connect(str(path), read_only=True)
    try:
        fr = read_analysis_frames(con)
        tr = read_truth_frames(con)
    finally:
        con.close()
    assert len(fr.baseline) == len(cohort["baseline"])
    assert list(fr.change.columns) == list(cohort["change"].columns)
    assert len(fr.sessions) == len(cohort["sessions"]) and fr.icac_by_artery is not None
    assert tr is not None and tr.source == "ground truth"


def test_missing_views(tmp_path):
    con = duckdb.connect(str(tmp_path / "empty.duckdb"))
    try:
        with pytest.raises(LookupError, match="calcisvd load"):
            read_analysis_frames(con)
        assert read_truth_frames(con) is None
    finally:
        con.close()
