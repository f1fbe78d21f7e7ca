"""The whole platform on a small simulated cohort, through the command line a user types.

simulate -> run (ingest, quantify, load, validate, analyze) -> checks: a valid BIDS dataset,
no PHI anywhere, a filled warehouse, a report; a rerun changes nothing; status answers.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from calcisvd.cli import main as cli

pytestmark = pytest.mark.slow


def _tree_hash(root: Path, skip: tuple[str, ...] = ()) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and not any(rel.startswith(s) for s in skip):
            h.update(rel.encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def _warehouse_hash(path: Path) -> str:
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        h = hashlib.sha256()
        for (table,) in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_type='BASE TABLE' "
                "AND table_schema='main' AND table_name IN ('subjects','sessions','scans',"
                "'svd_measures','icac_session_measures','icac_artery_measures') "
                "ORDER BY 1").fetchall():
            rows = con.execute(f'SELECT * FROM "{table}"').fetchall()
            cols = [d[0] for d in con.description]
            keep = [i for i, c in enumerate(cols) if c not in ("loaded_at", "run_id")]
            h.update(table.encode())
            for r in sorted(repr([r[i] for i in keep]) for r in rows):
                h.update(r.encode())
        return h.hexdigest()
    finally:
        con.close()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, prefect_harness) -> Path:
    home = tmp_path_factory.mktemp("e2e") / "home"
    assert cli(["simulate", "--home", str(home), "--subjects", "3", "--seed", "7",
                "--resolution", "3"]) == 0
    assert cli(["run", "--home", str(home)]) == 0
    return home


def test_bids_dataset_is_valid(home: Path) -> None:
    exe = Path(sys.executable).with_name("bids-validator-deno")
    res = subprocess.run([str(exe), str(home / "bids_dataset"), "--json"],
                         capture_output=True, text=True, timeout=300)
    out = json.loads(res.stdout)
    errors = [i for i in out["issues"]["issues"] if i.get("severity") == "error"]
    assert errors == [], errors[:5]


def test_every_session_quantified_and_loaded(home: Path) -> None:
    import duckdb

    measures = sorted((home / "bids_dataset" / "derivatives" / "calcisvd").glob(
        "sub-*/ses-*/*_measures.json"))
    assert len(measures) == 6
    for m in measures:
        doc = json.loads(m.read_text())
        assert doc["icac"]["status"] == "ok", doc["icac"]
        assert doc["svd"]["status"] == "ok", doc["svd"]
    con = duckdb.connect(str(home / "var" / "calcisvd.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM v_baseline_cohort").fetchone()[0] == 3
        assert con.execute("SELECT count(*) FROM v_one_year_change").fetchone()[0] == 3
    finally:
        con.close()
    assert (home / "bids_dataset" / "derivatives" / "calcisvd" / "index.html").is_file()
    assert list((home / "reports").rglob("report.html"))


def test_no_phi_in_any_output(home: Path) -> None:
    assert cli(["audit-phi", "--home", str(home)]) == 0


def test_rerun_changes_nothing(home: Path) -> None:
    bids_before = _tree_hash(home / "bids_dataset", skip=("derivatives/calcisvd/index.html",))
    wh_before = _warehouse_hash(home / "var" / "calcisvd.duckdb")
    assert cli(["run", "--home", str(home), "--stages", "ingest", "quantify", "load"]) == 0
    assert _tree_hash(home / "bids_dataset",
                      skip=("derivatives/calcisvd/index.html",)) == bids_before
    assert _warehouse_hash(home / "var" / "calcisvd.duckdb") == wh_before


def test_status_reports_no_backlog(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["status", "--home", str(home)]) == 0
    out = capsys.readouterr().out
    assert "backlog: 0 session(s) to quantify, 0 to load" in out
    assert "pipeline" in out
