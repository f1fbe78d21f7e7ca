"""The session worker pool: work runs in another process, errors come back, a dead worker
does not leave the pool broken for the next session."""

from __future__ import annotations

import os

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
