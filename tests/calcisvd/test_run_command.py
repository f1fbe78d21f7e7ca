"""`calcisvd run`: its exit code passes the ingest's partial outcome through."""

from __future__ import annotations

from calcisvd.cli import main as cli
from calcisvd.commands.ingest import EXIT_PARTIAL, ingest_exit_code


def test_ingest_exit_codes():
    assert ingest_exit_code({"status": "ok"}) == 0
    assert ingest_exit_code({"status": "partial"}) == EXIT_PARTIAL == 4
    assert ingest_exit_code({"status": "locked"}) == 3


def test_run_exits_partial_when_ingest_quarantined_input(tmp_path, prefect_harness, capsys):
    home = tmp_path / "home"
    (home / "drop" / "junk").mkdir(parents=True)
    (home / "drop" / "junk" / "x.dcm").write_bytes(b"not dicom")
    code = cli(["run", "--home", str(home), "--stages", "ingest"])
    out = capsys.readouterr().out
    assert code == EXIT_PARTIAL, out[-2000:]
    assert "ingest partial" in out
    assert any((home / "quarantine").rglob("*.json"))
