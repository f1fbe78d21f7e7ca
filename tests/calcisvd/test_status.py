"""`calcisvd status`: run history (API and embedded file), failures, quarantine, skipped series,
subjects without clinical data, warehouse counts. (Its speed is measured by
bench/operations.py, not here.)"""

from __future__ import annotations

import json
from pathlib import Path

from tests.warehouse.conftest import edit_measures, make_fake_study


def _study(settings):
    subjects = make_fake_study(settings.bids_dir, settings.derivatives_dir, 6, seed=5)
    edit_measures(settings.derivatives_dir, subjects[2], "M12", lambda d: d["svd"].update(
        status="failed", reason="FLAIR: image too small (4, 4, 4)", failure="data"))
    reason = settings.quarantine_dir / "q-001" / "reason.json"
    reason.parent.mkdir(parents=True)
    reason.write_text(json.dumps({"reason": "truncated DICOM file", "source": "pacs/IM9"}))
    from tasks.ingest.ledger import Ledger

    ledger = Ledger(settings.var_dir / "ingest" / "ledger.sqlite")
    ledger.record(series=[("k1", "", "", "", "skipped"), ("k2", "", "", "", "skipped"),
                          ("k3", "s", "M00", "T1w", "ingested")])
    ledger.close()
    return subjects


def test_status_reports_failures_quarantine_and_clinical_gaps(settings, prefect_harness):
    from prefect import flow

    from calcisvd.status import collect_status, format_status
    from warehouse.load import load_derivatives

    subjects = _study(settings)
    assert load_derivatives(settings, build_docs=False).ok
    # a subject whose clinical covariates are empty, then a batch that fails validation
    tsv = settings.bids_dir / "participants.tsv"
    lines = tsv.read_text().splitlines()
    lines = [ln if not ln.startswith(f"sub-{subjects[4]}") else
             "\t".join([f"sub-{subjects[4]}"] + ["n/a"] * 8) for ln in lines]
    tsv.write_text("\n".join(lines) + "\n")
    assert load_derivatives(settings, build_docs=False).ok
    edit_measures(settings.derivatives_dir, subjects[0], "M00",
                  lambda d: d["svd"].update(status=None))
    assert not load_derivatives(settings, build_docs=False).ok

    @flow(name="status-probe")
    def probe() -> int:
        return 1

    probe()
    report = collect_status(settings, runs=3)
    text = format_status(report)
    assert report["prefect"]["source"].startswith("Prefect API http"), report["prefect"]
    assert "command line: status-probe" in report["prefect"]["runs"]
    assert "Completed" in text
    assert f"sub-{subjects[2]}_ses-M12 svd (data): FLAIR: image too small" in text
    assert "FAILED" in text and "validation failed" in text and "not_be_null(status)" in text
    assert "pacs/IM9: truncated DICOM file" in text
    assert "series not ingested: 2 skipped" in text
    no_clinical = report["warehouse"]["no_clinical"]
    assert no_clinical == [subjects[4]]
    assert f"subjects without clinical data: 1\n  sub-{subjects[4]}" in text


def test_embedded_history_is_read_from_the_file_and_named(prefect_harness, tmp_path: Path):
    from prefect import flow
    from prefect.settings import get_current_settings

    from calcisvd.run_history import from_database

    @flow(name="history-probe")
    def probe() -> None:
        raise ValueError("bad input file")

    probe(return_state=True)
    url = get_current_settings().server.database.connection_url.get_secret_value()
    db = Path(url.split(":///", 1)[-1])
    got = from_database(db)
    assert str(db) in got["source"] and "PREFECT_API_URL" in got["source"]
    runs = got["runs"]["command line: history-probe"]
    assert runs[0]["state"] == "Failed" and "bad input file" in runs[0]["message"]
    # the command, without PREFECT_API_URL: the home's embedded file, and it says so
    import os
    import subprocess
    import sys

    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_PROFILES_PATH=str(tmp_path / "none.toml"))
    out = subprocess.run([sys.executable, "-m", "calcisvd.cli", "status", "--home", str(home)],
                         env=env, capture_output=True, text=True, check=True).stdout
    assert f"run history: embedded run history {home}/var/prefect/prefect.db" in out, out
    assert "no runs recorded yet" in out
    # with PREFECT_API_URL: that server, through its API (unreachable here: said so)
    env["PREFECT_API_URL"] = "http://127.0.0.1:9/api"
    out = subprocess.run([sys.executable, "-m", "calcisvd.cli", "status", "--home", str(home)],
                         env=env, capture_output=True, text=True, check=True).stdout
    assert "run history: Prefect API http://127.0.0.1:9/api" in out
    assert "run history not readable" in out


def test_status_reads_the_files_ingestion_writes(settings):
    """status names the ingest's report files itself (no import of ingestion): same paths."""
    from calcisvd.status import CLINICAL_FILE, WAITING_FILE
    from tasks.ingest.pipeline import clinical_report_path, waiting_path

    assert waiting_path(settings) == Path(settings.var_dir) / "ingest" / WAITING_FILE
    assert clinical_report_path(settings) == Path(settings.var_dir) / "ingest" / CLINICAL_FILE
