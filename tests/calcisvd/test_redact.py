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
