"""Settings precedence: defaults < config file < environment < flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from calcisvd.settings import REPO_ROOT, load_settings


def test_defaults_derive_every_location_from_home(tmp_path: Path) -> None:
    s = load_settings(env={}, overrides={"home": tmp_path})
    assert s.home == tmp_path.resolve()
    assert s.drop_dir == tmp_path / "drop"
    assert s.bids_dir == tmp_path / "bids_dataset"
    assert s.derivatives_dir == tmp_path / "bids_dataset" / "derivatives" / "calcisvd"
    assert s.warehouse_path == tmp_path / "var" / "calcisvd.duckdb"
    assert s.pseudonym_key_path == tmp_path / "secrets" / "pseudonym.key"
    assert s.truth_dir == tmp_path / "simulated_truth"


def test_default_home_is_repo_root() -> None:
    s = load_settings(env={})
    assert s.home == REPO_ROOT


def test_precedence_file_env_flags(tmp_path: Path) -> None:
    cfg = tmp_path / "calcisvd.toml"
    cfg.write_text('sim_subjects = 7\nsim_seed = 3\nnipype_plugin = "MultiProc"\n'
                   'reports_dir = "/tmp/elsewhere"\n')
    env = {"CALCISVD_HOME": str(tmp_path), "CALCISVD_SIM_SEED": "11"}
    s = load_settings(env=env)
    assert (s.sim_subjects, s.sim_seed, s.nipype_plugin) == (7, 11, "MultiProc")
    assert s.reports_dir == Path("/tmp/elsewhere")
    s = load_settings(env=env, overrides={"sim_seed": 99, "sim_subjects": None})
    assert (s.sim_subjects, s.sim_seed) == (7, 99)


def test_bool_and_unknown_keys(tmp_path: Path) -> None:
    s = load_settings(env={"CALCISVD_HOME": str(tmp_path), "CALCISVD_SIM_FOLLOW_UP": "no"})
    assert s.sim_follow_up is False
    bad = tmp_path / "bad.toml"
    bad.write_text("no_such_setting = 1\n")
    with pytest.raises(ValueError, match="no_such_setting"):
        load_settings(config_file=bad, env={})


def test_missing_explicit_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_settings(config_file=tmp_path / "nope.toml", env={})


@pytest.mark.parametrize(("toml", "field", "allowed"), [
    ('n_procs = "two"', "n_procs", "valid integer"),
    ('task_runner = "threads"', "task_runner", "'thread' or 'dask'"),
    ("sim_resolution_mm = -1", "sim_resolution_mm", "greater than or equal to 0.2"),
    ('nipype_plugin = "Multiproc"', "nipype_plugin", "'Linear', 'MultiProc' or 'SLURM'"),
    ("n_procs = 0", "n_procs", "greater than or equal to 1"),
    ('log_level = "LOUD"', "log_level", "'DEBUG', 'INFO', 'WARNING' or 'ERROR'"),
])
def test_invalid_file_values_name_file_field_and_allowed(tmp_path: Path, toml: str, field: str,
                                                         allowed: str) -> None:
    from calcisvd.settings import SettingsError

    cfg = tmp_path / "calcisvd.toml"
    cfg.write_text(toml + "\n")
    with pytest.raises(SettingsError) as exc:
        load_settings(env={"CALCISVD_HOME": str(tmp_path)})
    text = str(exc.value)
    assert str(cfg) in text and field in text and allowed in text, text


def test_invalid_env_and_flag_values_name_their_source(tmp_path: Path) -> None:
    from calcisvd.settings import SettingsError

    with pytest.raises(SettingsError, match="environment CALCISVD_N_PROCS: n_procs = 'two'"):
        load_settings(env={"CALCISVD_HOME": str(tmp_path), "CALCISVD_N_PROCS": "two"})
    with pytest.raises(SettingsError, match=r"command line \(task_runner\)"):
        load_settings(env={}, overrides={"home": tmp_path, "task_runner": "threads"})
    with pytest.raises(SettingsError, match="not valid TOML"):
        bad = tmp_path / "broken.toml"
        bad.write_text("n_procs = = 2\n")
        load_settings(config_file=bad, env={})


def test_a_node_may_not_ask_for_more_threads_than_nipype_has(tmp_path: Path) -> None:
    from calcisvd.settings import SettingsError

    with pytest.raises(SettingsError, match=r"omp_nthreads \(4\) is more than n_procs \(2\)"
                                            r".*n_procs from command line.*"
                                            r"omp_nthreads from environment CALCISVD_OMP"):
        load_settings(env={"CALCISVD_HOME": str(tmp_path), "CALCISVD_OMP_NTHREADS": "4"},
                      overrides={"n_procs": 2})
    ok = load_settings(env={}, overrides={"home": tmp_path, "n_procs": 2, "omp_nthreads": 2})
    assert ok.omp_nthreads == 2


def test_settings_are_frozen_values(tmp_path: Path) -> None:
    import pickle

    from pydantic import ValidationError

    s = load_settings(env={}, overrides={"home": tmp_path, "n_procs": 3})
    with pytest.raises(ValidationError):
        s.n_procs = 4  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(s)) == s
    assert s.replace(n_procs=1).n_procs == 1 and s.n_procs == 3
    with pytest.raises(ValidationError):
        s.replace(n_procs=-1)


def test_missing_home_is_refused_unless_init(tmp_path: Path, capsys) -> None:
    from calcisvd.cli import main
    from tasks.ingest.deid import load_or_create_key

    home = tmp_path / "typo"
    assert main(["status", "--home", str(home)]) == 2
    assert "does not exist" in capsys.readouterr().err and not home.exists()
    assert main(["init", "--home", str(home)]) == 0
    for rel in ("drop", "bids_dataset", "quarantine", "reports", "var", "secrets"):
        assert (home / rel).is_dir(), rel
    key = home / "secrets" / "pseudonym.key"
    assert key.stat().st_mode & 0o777 == 0o600
    first = load_or_create_key(key)  # what a later ingest reads
    assert main(["init", "--home", str(home)]) == 0  # idempotent: the key is kept
    assert load_or_create_key(key) == first
    assert main(["status", "--home", str(home), "--no-prefect"]) == 0


def test_cli_reports_invalid_settings(tmp_path: Path, capsys) -> None:
    from calcisvd.cli import main

    (tmp_path / "calcisvd.toml").write_text('task_runner = "threads"\n')
    assert main(["status", "--home", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "calcisvd.toml" in err and "task_runner" in err and "'thread' or 'dask'" in err
