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
