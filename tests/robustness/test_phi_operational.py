"""Issue 24 items 6 and 2: no identifier of the input in Prefect's database, the logs, run
records, quarantine records or the warehouse, through a real `calcisvd ingest` flow run.

The drop folder is named like a hospital export (``NOVAK^WEI H1512204 19570118/``) and holds a
series whose RepetitionTime quotes the PatientID (a malformed value), a truncated image, a
localizer whose SeriesDescription a technologist typed the patient into, and an undecodable
clinical CSV named after the patient. After ingest (Prefect flow, own PREFECT_HOME) and load,
`calcisvd audit-phi` finds nothing, and no record outside the raw copies names the folder.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import pytest

from bench.support import dicomgen as G
from bench.support.cli import make_settings, run_cli

FOLDER = "NOVAK^WEI H1512204 19570118"
NEEDLES = ("NOVAK", "H1512204", "19570118", "1957-01-18", "ACC4471190", "Klinikum Vlorbin")


def write_phi_drop(drop: Path) -> None:
    """The drop folder of the module docstring (identifiers in names, values and text)."""
    patient = G.Patient("H1512204", name="NOVAK^WEI", birth_date="19570118",
                        extra={"AccessionNumber": "ACC4471190",
                               "InstitutionName": "Klinikum Vlorbin"})
    top = drop / FOLDER
    study = G.uid("H1512204", "v1")
    day = dt.date(2024, 1, 5)
    G.write_series(top / "CT", patient, study, day, "CT", 2, shape=(16, 16, 6))
    protocols = dict(G.MR_PROTOCOLS)
    G.MR_PROTOCOLS["BADTR"] = dict(G.MR_PROTOCOLS["T1w"], tr="12345678")
    try:
        bad = G.write_series(top / "T1 H1512204", patient, study, day, "BADTR", 3,
                             shape=(16, 16, 6))
    finally:
        G.MR_PROTOCOLS.clear()
        G.MR_PROTOCOLS.update(protocols)
    for f in bad:  # RepetitionTime (DS) now holds the PatientID
        f.write_bytes(f.read_bytes().replace(b"12345678", b"H1512204"))
    flair = G.write_series(top / "FLAIR", patient, study, day, "FLAIR", 4, shape=(16, 16, 6))
    flair[2].write_bytes(flair[2].read_bytes()[:-100])  # truncated: its series quarantined
    G.write_series(top / "LOC", patient, study, day, "LOCALIZER", 1, shape=(16, 16, 3),
                   description="LOC NOVAK^WEI H1512204")
    clinical = drop / "clinical"
    clinical.mkdir(parents=True)
    (clinical / "NOVAK H1512204.csv").write_bytes(
        b"patient_id,age\nH1512204,64\n\xff\xfe\x00NOVAK^WEI")


def _texts(home: Path) -> dict[str, str]:
    """Every record outside the inputs: path -> text (quarantine copies are inputs)."""
    out = {}
    for p in home.rglob("*"):
        rel = p.relative_to(home)
        if not p.is_file() or rel.parts[0] in ("drop", "secrets") or "files" in rel.parts:
            continue
        out[str(rel)] = p.read_bytes().decode("latin-1")
        out[f"name:{rel}"] = str(rel)
    return out


@pytest.fixture(scope="module")
def phi_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("phi") / "home"
    settings = make_settings(home)
    write_phi_drop(settings.drop_dir)
    ingest = run_cli(home, "ingest", "--json", timeout=900)
    load = run_cli(home, "load", timeout=900)
    audit = run_cli(home, "audit-phi", timeout=900)
    return settings, ingest, load, audit


def test_audit_finds_nothing_in_prefect_logs_or_warehouse(phi_home):
    settings, ingest, load, audit = phi_home
    assert ingest.returncode == 4, ingest.stderr[-3000:]  # partial: input quarantined
    assert load.returncode == 0, load.stdout[-2000:] + load.stderr[-2000:]
    summary = json.loads(ingest.stdout[ingest.stdout.index("{"):])
    assert summary["ingested"] == 2 and summary["quarantined"] >= 3, summary
    assert (Path(settings.prefect_home) / "prefect.db").is_file()  # the flow ran in Prefect
    first = audit.stdout.splitlines()[0]
    n_values = int(first.split(":")[1].split()[0])
    assert n_values >= 8, first  # name, ID, birth date, accession, institution, dates
    assert audit.returncode == 0, audit.stdout
    for stream in (ingest.stdout, ingest.stderr, load.stdout, load.stderr):
        assert not [n for n in NEEDLES if n.lower() in stream.lower()], stream[-3000:]


def test_no_record_names_the_folder_or_the_values(phi_home):
    settings, *_ = phi_home
    texts = _texts(settings.home)
    assert any(k.startswith("quarantine/q-") for k in texts)
    assert any("skipped" in k for k in texts)  # the localizer's record
    hits = sorted({(k, n) for k, t in texts.items() for n in NEEDLES
                   if n.lower() in t.lower() and not k.endswith(".duckdb")})
    assert hits == []
    import duckdb

    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        rows = con.execute("SELECT path, reason, source, details FROM ingest_quarantine"
                           ).fetchall()
    finally:
        con.close()
    assert len(rows) >= 4
    assert not [r for r in rows for n in NEEDLES if n.lower() in repr(r).lower()]
    for rec in settings.quarantine_dir.glob("q-*/reason.json"):
        doc = json.loads(rec.read_text())
        assert "files" not in doc and "drop_dir" not in doc
        assert len(doc["files_sha256"]) == doc["n_files"]
        assert sorted(p.name for p in (rec.parent / "files").iterdir()) == sorted(
            h for h in doc["files_sha256"] if h not in doc["not_copied"])


def test_quarantine_show_finds_the_files_again(phi_home):
    settings, *_ = phi_home
    ident = next(settings.quarantine_dir.glob("q-*/reason.json")).parent.name
    proc = run_cli(settings.home, "quarantine", "show", ident)
    assert proc.returncode == 0 and FOLDER in proc.stdout or "clinical/" in proc.stdout


def test_a_flow_exception_quoting_values_is_redacted_before_prefect(tmp_path):
    """A task raising with a drop path and header values: the state message Prefect stores,
    and the records of its run loggers, are redacted."""
    from prefect import flow, task
    from prefect.testing.utilities import prefect_test_harness

    from calcisvd.logging import setup_logging
    from calcisvd.redact import forget_identifiers, register_identifiers
    from calcisvd.settings import load_settings
    from flows.common import redacted_errors

    settings = load_settings(env={}, overrides={"home": tmp_path / "home"})
    setup_logging(settings)
    register_identifiers("PatientID", ["H1512204"])
    bad = settings.drop_dir / FOLDER / "IM1"

    @task(name="phi-raiser")
    @redacted_errors
    def raiser() -> None:
        raise ValueError(f"cannot parse {bad}: RepetitionTime 'H1512204' of NOVAK^WEI")

    @flow(name="phi-flow")
    def phi_flow() -> dict:
        state = raiser(return_state=True)
        return {"failed": state.is_failed(), "message": state.message or "",
                "error": repr(state.result(raise_on_failure=False))}

    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    keep = Keep()
    logging.getLogger("prefect.task_runs").addHandler(keep)
    try:
        with prefect_test_harness(server_startup_timeout=120):
            out = phi_flow()
    finally:
        logging.getLogger("prefect.task_runs").removeHandler(keep)
        forget_identifiers()
    assert out["failed"] and out["error"].startswith("ValueError(")  # type kept (retries)
    assert "cannot parse <drop>/" in out["message"] and "<id>" in out["message"], out
    assert records
    for text in (out["message"], out["error"], *records):
        assert not [n for n in ("NOVAK", "H1512204", "19570118") if n in text], text



def test_a_quantify_worker_failure_is_redacted_in_measures_and_prefect(tmp_path):
    """Issue 24 item 6, quantify: the real quantify task runs a session in a worker process
    of tasks/quantify/pool.py; its CT is corrupt, in a folder named after the patient (a
    registered value), so the workflow's error quotes the value. measures.json (written in
    the worker), the task's result and the records of Prefect's run loggers hold ``<id>``."""
    from prefect import flow
    from prefect.testing.utilities import prefect_test_harness

    from calcisvd.logging import setup_logging
    from calcisvd.redact import forget_identifiers, register_identifiers
    from calcisvd.settings import load_settings
    from flows.quantify import quantify_session_task
    from tasks.quantify import pool
    from tasks.quantify.sessions import Session

    settings = load_settings(env={}, overrides={"home": tmp_path / "home",
                                                "nipype_plugin": "Linear",
                                                "task_runner": "thread", "n_procs": 1})
    setup_logging(settings)
    register_identifiers("PatientID", ["H1512204"])
    ct = tmp_path / "export H1512204" / "sub-aa_ses-M00_ct.nii.gz"
    ct.parent.mkdir()
    ct.write_bytes(b"\x1f\x8b not a gzip stream")
    session = Session("aa", "M00", {"ct": ct})

    @flow(name="phi-quantify-flow")
    def phi_flow() -> dict:
        return quantify_session_task(session, settings)

    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    keep = Keep()
    logging.getLogger("prefect.task_runs").addHandler(keep)
    try:
        with prefect_test_harness(server_startup_timeout=120):
            out = phi_flow()
    finally:
        logging.getLogger("prefect.task_runs").removeHandler(keep)
        pool.shutdown_pool()
        forget_identifiers()
    assert out["icac_status"] == "failed" and "<id>" in out["icac_reason"], out
    measures = Path(out["measures"]).read_text()
    assert "<id>" in measures
    assert [r for r in records if "ICAC failed" in r and "<id>" in r], records
    for text in (measures, repr(out), *records):
        assert "H1512204" not in text, text
