"""calcisvd.redact: drop-folder paths reach no log as they are (console, file, Prefect runs)."""

from __future__ import annotations

import logging

from calcisvd.redact import PREFECT_RUN_LOGGERS, RedactFilter, path_token, redact


def test_redact_replaces_paths_under_the_drop_folder(tmp_path):
    drop = tmp_path / "drop"
    rel = "NOVAK^WEI H1512204 19570118/IM0001"
    text = f"cannot read '{drop}/{rel}' (see {drop})"
    out = redact(text, [drop])
    assert "NOVAK" not in out and "H1512204" not in out and str(drop) not in out
    assert out == f"cannot read '{path_token(rel)}' (see {path_token('')})"
    # unquoted: extended over spaces while the path exists
    (drop / "NOVAK^WEI H1512204 19570118").mkdir(parents=True)
    (drop / rel).write_bytes(b"")
    out = redact(f"error: {drop}/{rel}: bad header", [drop])
    assert out == f"error: {path_token(rel + ':')} bad header" or \
        out == f"error: {path_token(rel)}: bad header", out


def test_log_files_and_prefect_run_records_are_redacted(tmp_path):
    from calcisvd.logging import setup_logging
    from calcisvd.settings import load_settings

    settings = load_settings(env={}, overrides={"home": tmp_path / "home"})
    setup_logging(settings)
    secret = settings.drop_dir / "H1512204_19570118" / "c.csv"
    log = logging.getLogger("calcisvd.test")
    try:
        raise ValueError(f"cannot decode {secret}")
    except ValueError:
        log.exception("ingest failed on %s", secret)
    for h in logging.getLogger("calcisvd").handlers:
        h.flush()
    text = (settings.logs_dir / "calcisvd.log").read_text()
    assert "ingest failed on <drop>/" in text and "ValueError: cannot decode <drop>/" in text
    assert "H1512204" not in text
    # Prefect's run loggers carry the same filter: what they send to the API is redacted
    for name in PREFECT_RUN_LOGGERS:
        filters = [f for f in logging.getLogger(name).filters if isinstance(f, RedactFilter)]
        assert len(filters) == 1
        record = logging.LogRecord(name, logging.ERROR, __file__, 1, "failed: %s", (secret,),
                                   None)
        assert filters[0].filter(record) and "H1512204" not in record.getMessage()


def test_registered_values_names_and_dates_are_replaced():
    from calcisvd.redact import forget_identifiers, redact_obj, register_identifiers

    forget_identifiers()  # values registered by earlier tests in this process
    register_identifiers("PatientID", ["H1512204"])
    register_identifiers("PatientName", ["Novak^Wei"])
    try:
        assert redact("RepetitionTime 'h1512204' of Wei Novak", []) == \
            "RepetitionTime '<id>' of <id>"
        assert redact("LOC SMITH^JOHN born 19570118", []) == "LOC <name> born <date>"
        # run ids, hashes and longer IDs are left alone
        keep = "ingest-20261204T213439Z q-19570118aa H15122049 xH1512204"
        assert redact(keep, []) == keep
        assert redact_obj({"NOVAK.csv": ["H1512204", 3]}) == {"<id>.csv": ["<id>", 3]}
    finally:
        forget_identifiers()
    assert redact("H1512204", []) == "H1512204"  # forgotten (IDs are not a pattern)


def test_an_exception_keeps_its_type_and_errno(tmp_path):
    import errno

    from calcisvd.redact import redact_exception, set_roots

    drop = tmp_path / "drop"
    set_roots([drop])
    try:
        exc = FileNotFoundError(errno.ENOENT, "No such file", str(drop / "NOVAK^WEI" / "x"))
        out = redact_exception(exc)
        assert out is exc and out.errno == errno.ENOENT and "NOVAK" not in str(out)
        try:
            raise KeyError("NOVAK^WEI") from ValueError(f"in {drop}/NOVAK^WEI/IM1")
        except KeyError as err:
            out = redact_exception(err)
        assert isinstance(out, KeyError) and "NOVAK" not in str(out)
        assert "NOVAK" not in str(out.__cause__)
    finally:
        set_roots([])


def test_units_and_powers_are_not_person_names():
    """``cm^3`` in a method's reason once came out as ``37.7 <name>`` (a real GE T1w's brain
    mask failure): exponents are not DICOM person names."""
    for text in ("brain mask: implausible volume 37.7 cm^3", "area 3 mm^2, 10^6 voxels, s^-1"):
        assert redact(text, []) == text
    assert redact("SMITH^ and DOE^JANE^^DR^ at 2^x", []) == "<name> and <name> at 2^x"


def test_registered_values_are_kept_for_later_processes(tmp_path):
    """Issue 24 item 6: a process that did not ingest (``calcisvd quantify``, ``load``)
    redacts the values an earlier ingest registered: they are kept in ``secrets/`` (0600)
    and loaded by setup_logging; without the store the value would pass."""
    import stat
    import subprocess
    import sys

    from calcisvd.redact import STORE_NAME, forget_identifiers, register_identifiers, use_store

    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    store = secrets / STORE_NAME
    forget_identifiers()
    try:
        use_store(store)
        register_identifiers("PatientID", ["H1512204"])
        register_identifiers("PatientID", ["H1512204"])  # known: not written twice
    finally:
        forget_identifiers()
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert store.read_text().splitlines().count("h1512204") == 1
    assert redact("failed on H1512204") == "failed on H1512204"  # this process forgot it
    code = ("import sys; from pathlib import Path; from calcisvd.redact import redact, use_store;"
            "use_store(Path(sys.argv[1])); print(redact('failed on H1512204'))")
    out = subprocess.run([sys.executable, "-c", code, str(store)], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "failed on <id>"
    use_store(tmp_path / "nowhere" / STORE_NAME)  # no secrets/ folder: nothing kept, no error
    try:
        register_identifiers("PatientID", ["Q7730021"])
    finally:
        forget_identifiers()
    assert not (tmp_path / "nowhere").exists()


def test_setup_logging_loads_the_kept_values(tmp_path):
    """setup_logging of a home whose secrets/ keeps a value: the log file redacts it."""
    from calcisvd.logging import setup_logging
    from calcisvd.redact import STORE_NAME, forget_identifiers
    from calcisvd.settings import load_settings

    settings = load_settings(overrides={"home": tmp_path / "home"})
    settings.secrets_dir.mkdir(parents=True, mode=0o700)
    (settings.secrets_dir / STORE_NAME).write_text("h1512204\n")
    forget_identifiers()
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        setup_logging(settings)
        logging.getLogger("calcisvd.test").warning("cannot read H1512204")
        for h in root.handlers:
            h.flush()
        text = (settings.logs_dir / "calcisvd.log").read_text()
    finally:
        for h in root.handlers:
            if h not in before:
                root.removeHandler(h)
                h.close()
        forget_identifiers()
    assert "cannot read <id>" in text and "H1512204" not in text


def test_the_platforms_own_time_stamps_are_kept():
    """A report folder or crash file stamped ``YYYYMMDD-HHMMSS`` is the platform's, not a
    DICOM date: the log line must still name it (the demo's last line read
    ``analysis-<date>-235036``); a bare date stays redacted."""
    text = "report written to reports/analysis-20261204-235036/report.html"
    assert redact(text, []) == text
    assert redact("born 19570118-1234567 or 19570118", []) == "born <date>-1234567 or <date>"


def test_text_files_are_rewritten_redacted_once(tmp_path):
    """Crash reports are redacted in place (issue 24 item 6); a second pass changes nothing,
    a clean file is left untouched, a vanished one is passed over."""
    from calcisvd.redact import forget_identifiers, redact_files, register_identifiers

    crash, clean = tmp_path / "crash-1.txt", tmp_path / "crash-2.txt"
    crash.write_text("ValueError: bad header for KOWALSKI^JAN, ID Q7730021\n")
    clean.write_text("ValueError: no brain found\n")
    before = clean.stat().st_mtime_ns
    register_identifiers("PatientID", ["Q7730021"])
    try:
        assert redact_files([crash, clean, tmp_path / "gone.txt"]) == 1
        assert redact_files([crash, clean]) == 0
    finally:
        forget_identifiers()
    text = crash.read_text()
    assert "Q7730021" not in text and "KOWALSKI" not in text and "<id>" in text, text
    assert clean.stat().st_mtime_ns == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crash-1.txt", "crash-2.txt"]


def test_gzip_pickles_holding_a_value_are_removed(tmp_path):
    """Nipype's node pickles cannot be rewritten as text: the ones holding a registered value
    go (caches), the others stay."""
    import gzip
    import pickle

    from calcisvd.redact import (
        forget_identifiers,
        register_identifiers,
        remove_identifying_pickles,
    )

    bad, good = tmp_path / "result_masks.pklz", tmp_path / "result_other.pklz"
    bad.write_bytes(gzip.compress(pickle.dumps({"traceback": "bad header in Q7730021"})))
    good.write_bytes(gzip.compress(pickle.dumps({"traceback": None, "out": 1.5})))
    (tmp_path / "not-gzip.pklz").write_bytes(b"plain")
    register_identifiers("PatientID", ["Q7730021"])
    try:
        assert remove_identifying_pickles(sorted(tmp_path.glob("*.pklz"))) == 1
    finally:
        forget_identifiers()
    assert not bad.exists() and good.exists() and (tmp_path / "not-gzip.pklz").exists()
