"""Worker processes for whole sessions: each session's Nipype workflows run node by node
(``Linear``) inside one process of a standard ``concurrent.futures`` pool.

Why not Nipype's ``MultiProc`` with one process per session: its scheduler loop runs a full
``gc.collect()`` on every poll, in the calling process; with several sessions in threads of one
Prefect flow that loop took a core's worth of CPU and the GIL from the work (quantification on
2 cores ran at 1.5x one core). A session in its own process has no scheduler loop, no GIL shared
with other sessions, and no polling delay between nodes.

No Prefect here: the quantify flow submits to :func:`run_in_worker` from its task threads.

Redaction (issue 24 item 6): a worker starts without the identifier values ingest registered
in the parent (calcisvd/redact.py), so every call carries the parent's redaction state
(:func:`calcisvd.redact.snapshot`, in memory: no file) and the worker adopts it with filters on
its log handlers before the work (:func:`_redacted_call`): the failure reasons it writes into
``measures.json`` and what it or Nipype logs are redacted by value. Back in the parent, the
result and any exception pass :func:`calcisvd.redact.redact_obj` /
:func:`~calcisvd.redact.redact_exception` once more before the caller logs or stores them.
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


def _redacted_call(state: dict[str, Any], fn: Any, args: tuple, kwargs: dict[str, Any]
                   ) -> Any:
    """In the worker: adopt the parent's redaction state, filter the log handlers, run
    ``fn``; an exception leaves with its text redacted."""
    from calcisvd.redact import call_redacted, install_everywhere, restore

    restore(state)
    install_everywhere()
    return call_redacted(fn, *args, **kwargs)


def _submit(pool: ProcessPoolExecutor, fn: Any, args: tuple, kwargs: dict[str, Any]) -> Any:
    from calcisvd.redact import snapshot

    return pool.submit(_redacted_call, snapshot(), fn, args, kwargs)


def _result(future: Any, redact_value: bool = True) -> Any:
    """A future's result, redacted in the parent (its exception always; the value unless
    ``redact_value`` is false: workflow outputs holding file paths, whose reasons the
    caller redacts)."""
    from concurrent.futures.process import BrokenProcessPool

    from calcisvd.redact import redact_exception, redact_obj

    try:
        value = future.result()
        return redact_obj(value) if redact_value else value
    except BrokenProcessPool:
        raise
    except Exception as exc:
        clean = redact_exception(exc)
        if clean is exc:
            raise
        raise clean from None


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
        return _result(_submit(get_pool(workers), fn, args, kwargs))
    except BrokenProcessPool:
        global _POOL, _POOL_SIZE
        with _LOCK:
            _POOL, _POOL_SIZE = None, 0
        raise


def run_all_in_workers(workers: int, calls: list[tuple[Any, tuple]]) -> list[Any]:
    """``[fn(*args) for fn, args in calls]``, each in a worker process of the shared pool at
    the same time; waits for all before returning or raising (the first error, in call
    order, redacted). The values come back as they are (paths of workflow outputs; the
    caller redacts their reasons). A broken pool is discarded as in :func:`run_in_worker`."""
    from concurrent.futures import wait
    from concurrent.futures.process import BrokenProcessPool

    try:
        pool = get_pool(workers)
        futures = [_submit(pool, fn, args, {}) for fn, args in calls]
        wait(futures)
        return [_result(f, redact_value=False) for f in futures]
    except BrokenProcessPool:
        global _POOL, _POOL_SIZE
        with _LOCK:
            _POOL, _POOL_SIZE = None, 0
        raise
