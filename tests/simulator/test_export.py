"""Determinism, rerun safety and the `calcisvd simulate` command."""

from __future__ import annotations

import hashlib
from pathlib import Path

from calcisvd.cli import main


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_command_is_deterministic_and_rerunnable(tmp_path):
    args = ["simulate", "--subjects", "1", "--resolution", "4", "--no-follow-up", "--seed", "9",
            "--procs", "1"]
    assert main([*args, "--home", str(tmp_path / "a")]) == 0
    assert main([*args, "--home", str(tmp_path / "b")]) == 0
    da, db = _digest(tmp_path / "a" / "drop"), _digest(tmp_path / "b" / "drop")
    assert da == db and len(da) > 50
    ta = _digest(tmp_path / "a" / "simulated_truth")
    assert ta == _digest(tmp_path / "b" / "simulated_truth")
    # an interrupted run: one file lost and one left half-written; rerunning completes it
    some = sorted((tmp_path / "a" / "drop").rglob("IM00003"))[0]
    some.unlink()
    truth = next((tmp_path / "a" / "simulated_truth").rglob("truth.json"))
    truth.unlink()
    assert main([*args, "--home", str(tmp_path / "a")]) == 0
    assert _digest(tmp_path / "a" / "drop") == db
    # another seed gives other patients
    assert main([*args[:-3], "10", "--procs", "1", "--home", str(tmp_path / "c")]) == 0
    assert _digest(tmp_path / "c" / "drop").keys() != da.keys() or (
        _digest(tmp_path / "c" / "drop") != da)


def test_parallel_export_equals_serial(tmp_path):
    from simulator.export import simulate_cohort

    for procs, name in ((1, "serial"), (2, "parallel")):
        simulate_cohort(2, 4, 4.0, tmp_path / name / "drop", tmp_path / name / "truth",
                        follow_up=False, n_procs=procs)
    assert _digest(tmp_path / "serial" / "drop") == _digest(tmp_path / "parallel" / "drop")
    assert (_digest(tmp_path / "serial" / "truth")
            == _digest(tmp_path / "parallel" / "truth"))


def test_other_options_on_an_existing_export_are_refused(tmp_path):
    import json

    import pytest

    from simulator.export import OptionsChanged, check_options

    truth = tmp_path / "truth"
    truth.mkdir()
    (truth / "cohort.json").write_text(json.dumps({"seed": 1, "n_subjects": 3}))
    check_options(truth, seed=1, n_subjects=3)
    with pytest.raises(OptionsChanged, match="n_subjects"):
        check_options(truth, seed=1, n_subjects=4)
    home = tmp_path / "home"
    (home / "simulated_truth").mkdir(parents=True)
    (home / "simulated_truth" / "cohort.json").write_text(json.dumps({"seed": 1}))
    assert main(["simulate", "--subjects", "1", "--seed", "2", "--home", str(home)]) == 2
