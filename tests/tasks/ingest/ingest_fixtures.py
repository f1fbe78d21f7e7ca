"""Helpers for the ingest tests: settings, tree snapshots, a tiny export with faults."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

from bench.support.dicomgen import Patient, write_clinical, write_series, write_study


def tree_digest(root: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under ``root`` (a byte-level snapshot)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def make_settings(home: Path):
    """Resolved settings rooted at ``home``."""
    from calcisvd.settings import load_settings

    return load_settings(env={}, overrides={"home": home, "n_procs": 1})


def write_cohort(drop: Path) -> None:
    """Two patients: P1 baseline + one-year follow-up, P2 baseline; plus faulty files."""
    p1, p2 = Patient("HOSP0001"), Patient("HOSP0002", sex="F")
    write_study(drop, p1, dt.date(2024, 1, 5), visit="v1", seed=1)
    write_study(drop, p1, dt.date(2025, 1, 7), visit="v2", seed=2)
    write_study(drop, p2, dt.date(2024, 3, 5), visit="v1", seed=3, dose=False)
    write_clinical(drop, ["HOSP0001,63,M,yes,no,no,yes,no,no",
                          "HOSP0002,70,F,no,yes,no,no,no,yes"])


def write_faults(drop: Path) -> dict[str, str]:
    """Faulty input; returns a short name -> expected reason fragment."""
    bad = drop / "pacs_20240601" / "misc"
    bad.mkdir(parents=True, exist_ok=True)
    (bad / "empty.dcm").write_bytes(b"")
    (bad / "notes.txt").write_text("radiology worklist, not an image\n")
    # truncated: a real slice cut in half
    p3 = Patient("HOSP0003")
    files = write_series(bad / "trunc", p3, "2.25.333", dt.date(2024, 6, 1), "T1w", 7,
                         shape=(32, 32, 4))
    data = files[1].read_bytes()
    files[1].write_bytes(data[: len(data) - 900])
    # inconsistent geometry: one slice with another matrix size in the same series
    p4 = Patient("HOSP0004")
    geo = write_series(bad / "geo", p4, "2.25.444", dt.date(2024, 6, 1), "T2w", 3,
                       shape=(32, 32, 4))
    odd = write_series(bad / "geo_odd", p4, "2.25.444", dt.date(2024, 6, 1), "T2w", 3,
                       shape=(24, 24, 4), first_instance=4)
    assert geo and odd
    # a series whose patient differs from the rest of its study
    wrong = Patient("HOSP9999")
    study_uid = "2.25.555"
    write_series(bad / "study_ok", Patient("HOSP0005"), study_uid, dt.date(2024, 6, 1), "T1w", 2,
                 shape=(32, 32, 4))
    write_series(bad / "study_ok2", Patient("HOSP0005"), study_uid, dt.date(2024, 6, 1),
                 "FLAIR", 4, shape=(32, 32, 4))
    write_series(bad / "study_wrong", wrong, study_uid, dt.date(2024, 6, 1), "T2w", 3,
                 shape=(32, 32, 4))
    return {"empty": "empty file", "notes.txt": "not a DICOM", "trunc": "truncated",
            "geo": "inconsistent geometry", "study_wrong": "different patient"}
