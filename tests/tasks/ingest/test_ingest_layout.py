"""pybids layout with a database cache, and the CT-aware session list."""

from __future__ import annotations

from tasks.ingest.layout import get_layout, list_sessions
from tasks.ingest.pipeline import pybids_db_path


def test_layout_cache_and_list(ingested):
    settings, _, _ = ingested
    db = pybids_db_path(settings)
    assert db.is_dir() and any(db.iterdir())  # refreshed after the ingest
    layout = get_layout(settings.bids_dir, db)
    flairs = layout.get(suffix="FLAIR", extension=".nii.gz", return_type="filename")
    assert len(flairs) == 4
    assert len(layout.get_subjects()) == 3
    assert sorted(layout.get_sessions()) == ["M00", "M12"]
    sessions = list_sessions(settings.bids_dir)
    assert {frozenset(s) for s in sessions} == {frozenset({"subject", "session", "files"})}
    assert sum("ct" in s["files"] for s in sessions) == 3
    assert all(p.is_file() for s in sessions for p in s["files"].values())
