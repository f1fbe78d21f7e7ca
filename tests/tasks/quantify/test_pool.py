"""The session worker pool: work runs in another process, errors come back, a dead worker
does not leave the pool broken for the next session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tasks.quantify import pool


@pytest.fixture(autouse=True)
def _fresh_pool():
    pool.shutdown_pool()
    yield
    pool.shutdown_pool()


def test_runs_in_a_worker_process_with_one_thread():
    pid, threads = pool.run_in_worker(1, _pid_and_threads)
    assert pid != os.getpid()
    assert threads == ("1", 1)


def test_exceptions_come_back_with_their_type():
    with pytest.raises(ZeroDivisionError):
        pool.run_in_worker(1, _divide, 1, 0)
    assert pool.run_in_worker(1, _divide, 6, 3) == 2  # the pool still works


def test_a_killed_worker_is_replaced():
    from concurrent.futures.process import BrokenProcessPool

    with pytest.raises(BrokenProcessPool):
        pool.run_in_worker(1, os._exit, 3)
    assert pool.run_in_worker(1, _divide, 8, 2) == 4


def test_resizing_replaces_the_pool():
    first = pool.get_pool(1)
    assert pool.get_pool(1) is first
    assert pool.get_pool(2) is not first


def _pid_and_threads() -> tuple[int, tuple[str, int]]:
    import SimpleITK as sitk

    return os.getpid(), (os.environ["OMP_NUM_THREADS"],
                         sitk.ProcessObject.GetGlobalDefaultNumberOfThreads())


def _divide(a: int, b: int) -> float:
    return a / b


def _leak(identifier: str, out: str) -> None:
    """In the worker: log the identifier (our logger, Nipype's) into ``out`` and raise with it."""
    import logging
    import sys

    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    logging.getLogger("calcisvd.quantify").warning("cannot read %s.nii.gz", identifier)
    logging.getLogger("nipype.workflow").error("node crashed on %s", identifier)
    sys.stdout.flush()
    sys.stderr.flush()
    raise ValueError(f"bad header in {identifier}")


@pytest.fixture
def registered():
    from calcisvd.redact import forget_identifiers, register_identifiers

    register_identifiers("PatientID", ["H1512204"])
    yield "H1512204"
    forget_identifiers()


def test_worker_errors_and_logs_are_redacted_by_registered_value(registered, tmp_path):
    """Issue 24 item 6: a value registered in the parent (ingest) is redacted in a worker's
    exception text and in what the worker (or Nipype there) logs; only name/date patterns
    applied there before."""
    out = tmp_path / "worker.log"
    with pytest.raises(ValueError) as err:
        pool.run_in_worker(1, _leak, registered, str(out))
    assert registered not in str(err.value) and "<id>" in str(err.value)
    text = out.read_text()
    assert "cannot read" in text and "node crashed" in text, text
    assert registered not in text and text.count("<id>") >= 2, text
    with pytest.raises(ValueError) as err:  # both calls at once (CT beside MRI)
        pool.run_all_in_workers(2, [(_leak, (registered, str(out)))] * 2)
    assert registered not in str(err.value)


def test_worker_forgets_nothing_registered_after_the_pool_started(tmp_path):
    """The state travels with each call: a value registered after the worker started is
    redacted too (a long-lived pool across ingest cycles)."""
    from calcisvd.redact import forget_identifiers, register_identifiers

    assert pool.run_in_worker(1, _divide, 1, 1) == 1  # the worker is up
    register_identifiers("PatientID", ["Q7730021"])
    try:
        with pytest.raises(ValueError) as err:
            pool.run_in_worker(1, _leak, "Q7730021", str(tmp_path / "w.log"))
    finally:
        forget_identifiers()
    assert "Q7730021" not in str(err.value)
    assert "Q7730021" not in (tmp_path / "w.log").read_text()


def test_a_session_failing_in_a_worker_stores_no_registered_value(registered, tmp_path):
    """A real session whose CT is corrupt, in a folder named after the patient (as a drop
    export may be): the workflow fails in a worker with the path in its text; the reason in
    ``measures.json``, the summary and the worker's log output hold ``<id>``, not the ID."""
    from tasks.quantify.runner import quantify_session
    from tasks.quantify.sessions import Session

    ct = tmp_path / f"export {registered}" / "sub-aa_ses-M00_ct.nii.gz"
    ct.parent.mkdir()
    ct.write_bytes(b"\x1f\x8b not a gzip stream")
    out = tmp_path / "worker.log"
    summary = pool.run_in_worker(1, _quantify_logged, str(out), quantify_session,
                                 Session("aa", "M00", {"ct": ct}),
                                 derivatives_dir=tmp_path / "deriv", work_dir=tmp_path / "work")
    assert summary["icac_status"] == "failed" and "<id>" in summary["icac_reason"], summary
    measures = Path(summary["measures"]).read_text()
    assert "<id>" in measures
    for text in (measures, repr(summary), out.read_text()):
        assert registered not in text, text
    assert "CT quantification failed" in out.read_text()
    # Nipype's crash report (text, with the exception and the node's inputs) is redacted in
    # place; audit-phi reads the work folder's text files too
    from tasks.privacy.audit import scan, text_files

    crashes = sorted((tmp_path / "work" / "crash").glob("crash-*.txt"))
    assert crashes, sorted(p.name for p in (tmp_path / "work").rglob("*"))[:20]
    assert any("<id>" in c.read_text() for c in crashes)
    files = text_files(tmp_path / "work")
    assert set(crashes) <= set(files)
    findings, n = scan(files, {registered: "PatientID"})
    assert n == len(files) and findings == [], findings


def _quantify_logged(out: str, fn, *args, **kwargs):
    """In the worker: ``fn`` with stdout and stderr (logs, Nipype's crash report) in ``out``."""
    import sys

    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    try:
        return fn(*args, **kwargs)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
