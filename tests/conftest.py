"""Suite-wide fixtures: offline environment, an isolated CALCISVD_HOME, a real Prefect API."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from calcisvd.env import apply_offline_env

_PREFECT_HOME = Path(tempfile.mkdtemp(prefix="calcisvd-prefect-"))
os.environ.setdefault("PREFECT_HOME", str(_PREFECT_HOME))
apply_offline_env()

# Modules that start services (a Prefect server with workers, PostgreSQL, Orthanc), run the
# whole pipeline or kill processes: marked `slow`, so `make test-fast` (pytest -m "not slow")
# leaves them out. `make test` (what CI runs) runs everything. Chosen from `pytest --durations`
# on 2026-12-04: each of these takes 20-280 s.
_SLOW_MODULES = (
    "tests/test_end_to_end.py",
    "tests/flows/test_scheduled_service.py",
    "tests/flows/test_deployment_server.py",
    "tests/ops/test_notifications_server.py",
    "tests/robustness/test_concurrency_and_kill.py",
    "tests/robustness/test_permissions.py",
    "tests/robustness/test_resources.py",
    "tests/warehouse/test_restore.py",
    "tests/tasks/pacs/",
)


# Of those, the ones that start servers or kill processes at a moment (servers and their
# schedulers, workers, kills, disk-full and PACS timeouts): marked `serial`. Two of them must
# not run beside each other (two Prefect servers and their workers on 2 cores), so under
# pytest-xdist (`make test`) they form one unit of work, run one after another on one worker
# and started first (it is the longest chain of work), while the other workers take the
# remaining tests file by file (the tests of one file stay together, in order, so module
# fixtures are built once).
_SERIAL_MODULES = (
    "tests/flows/test_scheduled_service.py",
    "tests/flows/test_deployment_server.py",
    "tests/ops/test_notifications_server.py",
    "tests/robustness/test_concurrency_and_kill.py",
    "tests/robustness/test_kill_quantify.py",
    "tests/robustness/test_resources.py",
    "tests/warehouse/test_restore.py",
    "tests/tasks/pacs/",
)


def pytest_collection_modifyitems(config, items):
    """Mark the tests of `_SLOW_MODULES` slow and those of `_SERIAL_MODULES` serial (one list
    each, not a marker copied into each file), and put the serial ones first."""
    root = Path(str(config.rootpath))
    for item in items:
        rel = Path(str(item.path)).relative_to(root).as_posix()
        if rel.startswith(_SLOW_MODULES):
            item.add_marker(pytest.mark.slow)
        if xdist_unit(rel) == "serial":
            item.add_marker(pytest.mark.serial)
    items.sort(key=lambda it: it.get_closest_marker("serial") is None)  # stable


def xdist_unit(nodeid: str) -> str:
    """The unit of work of a test (its node id, or its file's path from the root) under
    pytest-xdist: ``serial`` for the tests of `_SERIAL_MODULES`, else its file. The one place
    that says which tests are serial."""
    path = nodeid.split("::", 1)[0]
    return "serial" if path.startswith(_SERIAL_MODULES) else path


def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist's scheduling by scope with the scopes of :func:`xdist_unit` (`--dist
    loadfile` with one extra unit). With `--no-loadscope-reorder` the units go out in
    collection order: the serial one first."""
    from xdist.scheduler import LoadScopeScheduling

    class SerialUnitFirst(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_unit(nodeid)

    return SerialUnitFirst(config, log)


@pytest.fixture
def settings(tmp_path: Path):
    """Resolved settings rooted in a fresh temporary CALCISVD_HOME."""
    from calcisvd.settings import load_settings

    return load_settings(env={}, overrides={"home": tmp_path / "home", "n_procs": 1})


@pytest.fixture(scope="session")
def prefect_harness():
    """A real (ephemeral, temporary database) Prefect API for flow tests.

    Tests start flows in the foreground, as the command line does: without heartbeats.
    """
    from prefect.testing.utilities import prefect_test_harness

    from calcisvd.orchestration import foreground_flow_runs

    with prefect_test_harness(server_startup_timeout=180), foreground_flow_runs():
        yield


@pytest.fixture(autouse=True)
def _identifier_registry_per_test():
    """``calcisvd.redact`` keeps the identifiers an ingest registered for the life of the
    process (every later text of that process is redacted of them). Tests share processes, in
    an order that changes with ``pytest -n``: a value one test registered must not change what
    a later test reads (a name becoming ``<id>`` instead of ``<name>``). The registry is emptied
    after every test."""
    yield
    import sys

    if "calcisvd.redact" in sys.modules:
        sys.modules["calcisvd.redact"].forget_identifiers()


@pytest.fixture(autouse=True)
def _nipype_crash_folder_per_test():
    """Nipype's config is process-global: a test that pointed ``crashdump_dir`` under its own
    tmp_path (or at a file, to force a failure) must not make a later test's crash report fail
    with NotADirectoryError. Nipype's default (the working directory) is put back after every
    test."""
    yield
    import sys

    if "nipype" in sys.modules:
        from nipype import config

        config.set("execution", "crashdump_dir", os.getcwd())
