"""How `make test` spreads the suite over pytest-xdist workers (tests/conftest.py): the serial
tests are one unit of work, collected first; every other file is a unit of its own."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from tests import conftest


def test_serial_tests_are_one_unit_and_other_files_their_own() -> None:
    unit = conftest.xdist_unit
    # two different serial files, one unit: they never run side by side
    assert unit("tests/flows/test_scheduled_service.py::test_a") == "serial"
    assert unit("tests/tasks/pacs/test_store.py::test_b[x]") == "serial"
    # any other file: its own unit, all its tests together (module fixtures built once)
    assert unit("tests/test_end_to_end.py::test_a") == "tests/test_end_to_end.py"
    assert unit("tests/tasks/icac/test_icac_wall.py::test_c[1]") == \
        "tests/tasks/icac/test_icac_wall.py"
    assert unit("tests/tasks/pacs/test_store.py") == "serial"  # a path alone


def test_serial_tests_are_collected_first(request: pytest.FixtureRequest) -> None:
    serial = [it.get_closest_marker("serial") is not None for it in request.session.items]
    if not any(serial):  # a run of selected files only (e.g. -m "not serial")
        pytest.skip("no serial test in this run")
    first_other = serial.index(False) if False in serial else len(serial)
    assert not any(serial[first_other:]), "a serial test is collected after other tests"


def test_workers_get_whole_units() -> None:
    """A real run on 2 workers with the Makefile's options, over two serial files and two
    others: each unit runs whole on one worker (which unit starts first is the collection
    order, checked above). pytest-xdist's own `xdist_group` marks stopped grouping under
    pytest 9, silently: this is the check that would have seen it."""
    serial = ["tests/tasks/pacs/test_config.py", "tests/tasks/pacs/test_deployment.py"]
    other = ["tests/tasks/icac/test_icac_scores.py", "tests/tasks/icac/test_icac_severity.py"]
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "--no-loadscope-reorder", "-v",
         "-p", "no:cacheprovider", *other, *serial],
        capture_output=True, text=True, timeout=600, cwd=Path(__file__).parents[1])
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    ran = re.findall(r"^\[(gw\d)\] .*?PASSED (\S+?)::", out.stdout, re.M)
    workers: dict[str, set[str]] = defaultdict(set)
    for worker, path in ran:
        workers[conftest.xdist_unit(path)].add(worker)
    assert set(workers) == {"serial", *other}, ran
    assert all(len(w) == 1 for w in workers.values()), dict(workers)
