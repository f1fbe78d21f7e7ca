"""Worker processes for whole sessions: each session's Nipype workflows run node by node
(``Linear``) inside one process of a standard ``concurrent.futures`` pool.

Why not Nipype's ``MultiProc`` with one process per session: its scheduler loop runs a full
``gc.collect()`` on every poll, in the calling process; with several sessions in threads of one
Prefect flow that loop took a core's worth of CPU and the GIL from the work (quantification on
2 cores ran at 1.5x one core). A session in its own process has no scheduler loop, no GIL shared
with other sessions, and no polling delay between nodes.

No Prefect here: the quantify flow submits to :func:`run_in_worker` from its task threads.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from calcisvd.processes import safe_context

_LOCK = threading.Lock()
_POOL: ProcessPoolExecutor | None = None
_POOL_SIZE = 0

#: a worker is replaced after this many sessions (bounds slow leaks in native libraries)
MAX_SESSIONS_PER_WORKER = 50
#: imported once by the fork server, so a new worker starts in milliseconds, not seconds
PRELOAD = ["numpy", "scipy.ndimage", "SimpleITK", "nibabel", "nipype.pipeline.engine",
           "tasks.quantify.runner", "tasks.workflows.ct", "tasks.workflows.mri",
           "tasks.interfaces.icac", "tasks.interfaces.svd"]


def _init_worker(threads: int) -> None:
    """One core per session: native libraries get ``threads`` threads each."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"):
        os.environ[var] = str(threads)
    try:
        import SimpleITK as sitk

        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    except ImportError:  # pragma: no cover - SimpleITK is a dependency
        pass


def get_pool(workers: int, threads_per_worker: int = 1) -> ProcessPoolExecutor:
    """The shared pool of ``workers`` processes (created on first use, resized if asked)."""
    global _POOL, _POOL_SIZE
    with _LOCK:
        if _POOL is None or workers != _POOL_SIZE:
            if _POOL is not None:
                _POOL.shutdown(wait=True)
            _POOL = ProcessPoolExecutor(
                max_workers=workers, mp_context=safe_context(PRELOAD),
                initializer=_init_worker, initargs=(threads_per_worker,),
                max_tasks_per_child=MAX_SESSIONS_PER_WORKER)
            _POOL_SIZE = workers
        return _POOL


def shutdown_pool() -> None:
    """Stop the worker processes (the next :func:`get_pool` starts new ones)."""
    global _POOL, _POOL_SIZE
    with _LOCK:
        if _POOL is not None:
            _POOL.shutdown(wait=True, cancel_futures=True)
        _POOL, _POOL_SIZE = None, 0


def run_in_worker(workers: int, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` in a worker process of the shared pool; blocks for the result
    (exceptions are re-raised here). A worker that died (killed, out of memory) breaks the
    pool: it is discarded, so the next call starts a fresh one, and ``BrokenProcessPool``
    is raised."""
    from concurrent.futures.process import BrokenProcessPool

    try:
        return get_pool(workers).submit(fn, *args, **kwargs).result()
    except BrokenProcessPool:
        global _POOL, _POOL_SIZE
        with _LOCK:
            _POOL, _POOL_SIZE = None, 0
        raise


def run_all_in_workers(workers: int, calls: list[tuple[Any, tuple]]) -> list[Any]:
    """``[fn(*args) for fn, args in calls]``, each in a worker process of the shared pool at
    the same time; waits for all before returning or raising (the first error, in call
    order). A broken pool is discarded as in :func:`run_in_worker`."""
    from concurrent.futures import wait
    from concurrent.futures.process import BrokenProcessPool

    try:
        pool = get_pool(workers)
        futures = [pool.submit(fn, *args) for fn, args in calls]
        wait(futures)
        return [f.result() for f in futures]
    except BrokenProcessPool:
        global _POOL, _POOL_SIZE
        with _LOCK:
            _POOL, _POOL_SIZE = None, 0
        raise
