"""`calcisvd run`: its exit code passes the ingest's partial outcome through."""

from __future__ import annotations

import contextlib
import io

from calcisvd.cli import main as cli
from calcisvd.commands.ingest import EXIT_PARTIAL, ingest_exit_code


def test_ingest_exit_codes():
    assert ingest_exit_code({"status": "ok"}) == 0
    assert ingest_exit_code({"status": "partial"}) == EXIT_PARTIAL == 4
    assert ingest_exit_code({"status": "locked"}) == 3


def test_skipped_stages_are_stages_that_did_not_run():
    """Ingest's count of skipped series is not a skipped stage (the demo's first run said
    "ingest: skipped, inputs unchanged" after ingesting 24 sessions and skipping 36 series)."""
    from calcisvd.commands.run import skipped_stages

    results = {"ingest": {"status": "ok", "ingested": 24, "skipped": 36},
               "quantify": {"skipped": True}, "load": {"skipped": False}, "analyze": None}
    assert skipped_stages(results) == ["quantify"]


def test_run_exits_partial_when_ingest_quarantined_input(tmp_path, prefect_harness, capsys):
    home = tmp_path / "home"
    (home / "drop" / "junk").mkdir(parents=True)
    (home / "drop" / "junk" / "x.dcm").write_bytes(b"not dicom")
    code = cli(["run", "--home", str(home), "--stages", "ingest"])
    out = capsys.readouterr().out
    assert code == EXIT_PARTIAL, out[-2000:]
    assert "ingest partial" in out
    assert any((home / "quarantine").rglob("*.json"))


def _warehouse_runs(path) -> dict[str, int]:
    from warehouse import db

    con = db.connect(path, read_only=True)
    try:
        return dict(con.execute("SELECT kind, count(*) FROM pipeline_runs GROUP BY 1").fetchall())
    finally:
        con.close()


def _run(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli(argv)
    return code, out.getvalue()


def test_second_run_with_nothing_new_does_no_warehouse_or_analysis_work(tmp_path,
                                                                         prefect_harness):
    """`calcisvd run` twice on the same derivatives: the second run starts no load, validate
    or analyze work (no new pipeline_runs rows, no new report) and says each stage skipped."""
    from prefect.logging.configuration import setup_logging as prefect_logging

    # Prefect's console handler writes to the stderr of the test that first ran a flow; a
    # capsys stream is closed after its test (and load/analyze flows log their prints)
    prefect_logging(incremental=False)
    from calcisvd.settings import load_settings
    from tests.warehouse.conftest import make_fake_study

    settings = load_settings(env={}, overrides={"home": tmp_path / "home", "n_procs": 1,
                                                "gx_dir": tmp_path / "gx"})
    make_fake_study(settings.bids_dir, settings.derivatives_dir, 6, seed=1)
    (settings.home / "calcisvd.toml").write_text(f'gx_dir = "{settings.gx_dir}"\nn_procs = 1\n')
    argv = ["run", "--home", str(settings.home), "--stages", "load", "validate", "analyze"]
    code, out = _run(argv)
    assert code == 0, out[-3000:]
    runs = _warehouse_runs(settings.warehouse_path)
    assert runs.get("load") == 1 and runs.get("validate") == 1, runs
    reports = sorted(p.name for p in settings.reports_dir.glob("analysis-*"))
    assert len(reports) == 1
    latest = (settings.reports_dir / "latest" / "summary.json").read_bytes()

    code, out = _run(argv)
    assert code == 0, out[-3000:]
    assert _warehouse_runs(settings.warehouse_path) == runs  # no load or validate recorded
    assert sorted(p.name for p in settings.reports_dir.glob("analysis-*")) == reports
    assert (settings.reports_dir / "latest" / "summary.json").read_bytes() == latest
    for stage in ("load", "validate", "analyze"):
        assert f"{stage}: skipped, inputs unchanged" in out, out

    # one changed derivative: the load and everything after it run again
    from tests.warehouse.conftest import edit_measures

    subject = sorted(p.name[4:] for p in settings.derivatives_dir.glob("sub-*"))[0]
    edit_measures(settings.derivatives_dir, subject, "M12",
                  lambda d: d["svd"].update(wmh_volume_cm3=d["svd"]["wmh_volume_cm3"] + 1.0))
    code, out = _run(argv)
    assert code == 0, out[-3000:]
    after = _warehouse_runs(settings.warehouse_path)
    assert after["load"] == 2 and after["validate"] == 2, after
    assert len(list(settings.reports_dir.glob("analysis-*"))) == 2
    assert "load: skipped" not in out and "analyze: skipped" not in out
