"""Injection strings through every command that takes a user value (issue 10, point 5).

Commands with user values: ``calcisvd sql --param`` (bound as DuckDB parameters),
``calcisvd validate --suite`` (checked against the suite names), ``calcisvd status --runs``
and ``calcisvd analyze --n-boot/--seed`` (integers, parsed by argparse); and values that
reach SQL from the data itself: file names in the drop folder end up in
``quarantine/*/reason.json`` and then in the ``ingest_quarantine`` table. After each attempt
every table is still there with the same contents, and the hostile value comes back verbatim
(it was bound, never pasted into SQL text).
"""

from __future__ import annotations

import pytest

from bench.support.cli import make_settings
from calcisvd.cli import main

INJECTIONS: tuple[str, ...] = (
    "x'; DROP TABLE subjects; --",
    "1 OR 1=1",
    "' OR '1'='1",
    '"; ATTACH \'/tmp/calcisvd-evil.duckdb\' AS evil; --',
    "1; DELETE FROM sessions",
    "$s",
    "x') UNION SELECT * FROM pipeline_runs --",
    "\\'; COPY subjects TO '/tmp/calcisvd-leak.csv'; --",
)


def _state(settings) -> tuple[list[str], str, int]:
    """(table names, curated fingerprint, subject count) read through a read-only connection."""
    import duckdb

    from warehouse.load import curated_fingerprint

    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        tables = sorted(r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables").fetchall())
        n = con.execute("SELECT count(*) FROM subjects").fetchone()[0]
        return tables, curated_fingerprint(con), n
    finally:
        con.close()


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    """A loaded warehouse whose drop folder had a file named like an injection string."""
    from tasks.ingest.pipeline import run_ingest
    from tests.warehouse.conftest import make_fake_study
    from warehouse.load import load_derivatives

    root = tmp_path_factory.mktemp("inject")
    settings = make_settings(root / "home")
    bad = settings.drop_dir / "x'; DROP TABLE subjects; --" / "1 OR 1=1"
    bad.mkdir(parents=True)
    (bad / "IM'); DROP TABLE sessions; --").write_bytes(b"not dicom at all")
    assert run_ingest(settings)["quarantined"] == 1
    make_fake_study(settings.bids_dir, settings.derivatives_dir, 4, seed=3)
    assert load_derivatives(settings, build_docs=False).ok
    return settings, _state(settings)


@pytest.mark.parametrize("value", INJECTIONS)
def test_sql_param_values_are_bound(warehouse, value, capsys):
    settings, before = warehouse
    rc = main(["sql", "--home", str(settings.home), "--format", "csv",
               "SELECT $s AS v, (SELECT count(*) FROM subjects WHERE subject = $s) AS n",
               "--param", f"s={value}"])
    out = capsys.readouterr().out
    assert rc == 0
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows == [{"v": value, "n": "0"}]  # the value came back verbatim and matched nothing
    assert _state(settings) == before


@pytest.mark.parametrize("item", ["a:int=1 OR 1=1", "a:float=1; DROP TABLE subjects",
                                  "s; DROP TABLE subjects--=x", "s:sql=1", "s"])
def test_bad_params_are_refused(warehouse, item, capsys):
    settings, before = warehouse
    rc = main(["sql", "--home", str(settings.home), "SELECT 1", "--param", item])
    assert rc == 2
    assert "calcisvd sql:" in capsys.readouterr().err
    assert _state(settings) == before


@pytest.mark.parametrize("query", ["DROP TABLE subjects", "DELETE FROM sessions",
                                   "UPDATE subjects SET sex = 'X'",
                                   "CREATE TABLE evil AS SELECT 1"])
def test_the_analyst_connection_is_read_only(warehouse, query, capsys):
    settings, before = warehouse
    assert main(["sql", "--home", str(settings.home), query]) == 1
    assert "calcisvd sql:" in capsys.readouterr().err
    assert _state(settings) == before


def test_sql_cannot_write_files_outside_the_roots(warehouse, tmp_path, capsys):
    settings, _ = warehouse
    evil = tmp_path / "evil.duckdb"
    leak = tmp_path / "leak.csv"
    main(["sql", "--home", str(settings.home), f"ATTACH '{evil}' AS evil"])
    main(["sql", "--home", str(settings.home), f"COPY (SELECT * FROM subjects) TO '{leak}'"])
    capsys.readouterr()
    assert not evil.exists() and not leak.exists()


def test_hostile_file_names_are_stored_hashed(warehouse):
    settings, before = warehouse
    import duckdb

    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        text = repr(con.execute("SELECT * FROM ingest_quarantine").fetchall())
    finally:
        con.close()
    # export folder names may carry patient names: the warehouse holds the quarantine record's
    # path-free part (hashed source path), so the hostile name is not there; the tables are intact
    assert "DROP TABLE s" not in text and "not a DICOM file" in text
    assert {"subjects", "sessions"} <= set(before[0])
    assert before[2] == 4


@pytest.mark.parametrize("argv", [
    ["validate", "--suite", "x'; DROP TABLE subjects; --"],
    ["validate", "--suite", "../../etc/passwd"],
])
def test_validate_suite_names_are_checked(warehouse, argv, capsys):
    settings, before = warehouse
    assert main([*argv, "--home", str(settings.home)]) == 2
    capsys.readouterr()
    assert _state(settings) == before


@pytest.mark.parametrize("argv", [
    ["status", "--runs", "1; DROP TABLE subjects"],
    ["analyze", "--n-boot", "1 OR 1=1"],
    ["analyze", "--seed", "1); DROP TABLE subjects; --"],
])
def test_integer_options_reject_injections(warehouse, argv, capsys):
    settings, before = warehouse
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--home", str(settings.home)])
    assert exc.value.code == 2
    capsys.readouterr()
    assert _state(settings) == before


SECRET_READS: tuple[str, ...] = (
    "SELECT * FROM read_text('{secret}')",
    "SELECT * FROM read_csv('{secret}')",
    "SELECT * FROM read_blob('{secret}')",
    "SELECT * FROM glob('{secrets_dir}/*')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM glob('/etc/*')",
    "SELECT * FROM '{secret}'",
    "SELECT * FROM read_parquet('{parquet}/../calcisvd.duckdb')",
    "SELECT * FROM 'https://example.invalid/x.csv'",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SELECT * FROM read_text($p)",
)


@pytest.mark.parametrize("template", SECRET_READS)
def test_sql_cannot_read_files_outside_the_snapshot(warehouse, template, capsys):
    """Issue 24 item 5: file functions, URLs and extensions are refused (also via --param)."""
    settings, before = warehouse
    secret = settings.reid_map_path if settings.reid_map_path.exists() \
        else settings.pseudonym_key_path
    query = template.format(secret=secret, secrets_dir=settings.secrets_dir,
                            parquet=settings.parquet_dir / "current")
    for value in (str(settings.pseudonym_key_path), "/etc/passwd"):
        rc = main(["sql", "--home", str(settings.home), "--format", "csv", query,
                   "--param", f"p={value}"])
        out, err = capsys.readouterr()
        assert rc == 1, out
        assert "root:" not in out and settings.pseudonym_key_path.read_text().strip() not in out
        assert "calcisvd sql:" in err
    assert _state(settings) == before


def test_the_snapshot_itself_stays_readable(warehouse, capsys):
    settings, _ = warehouse
    rc = main(["sql", "--home", str(settings.home), "--format", "csv",
               "SELECT count(*) AS n FROM glob($g)", "--param",
               f"g={settings.parquet_dir / 'current'}/*.parquet"])
    assert rc == 0 and int(capsys.readouterr().out.split()[-1]) > 0


@pytest.mark.parametrize("where", ["secrets_dir", "bids_dir", "var_dir", "quarantine_dir",
                                   "drop_dir"])
def test_output_refuses_protected_folders(warehouse, where, tmp_path, capsys):
    settings, _ = warehouse
    folder = getattr(settings, where)
    target = folder / "pseudonym.key" if where == "secrets_dir" else folder / "out.csv"
    before = target.read_bytes() if target.exists() else None
    rc = main(["sql", "--home", str(settings.home), "SELECT 1 AS a", "--format", "csv",
               "--output", str(target)])
    assert rc == 2 and "refused" in capsys.readouterr().err
    assert (target.read_bytes() if target.exists() else None) == before
    link = tmp_path / "innocent.csv"  # a symlink into secrets/ is resolved first
    link.symlink_to(settings.secrets_dir / "x.csv")
    assert main(["sql", "--home", str(settings.home), "SELECT 1 AS a", "--output",
                 str(link)]) == 2
    ok = tmp_path / "fine.csv"
    assert main(["sql", "--home", str(settings.home), "SELECT 1 AS a", "--format", "csv",
                 "--output", str(ok)]) == 0 and ok.read_text().startswith("a")
