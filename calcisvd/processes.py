"""Process start method for worker pools: never plain ``fork``.

The callers run inside Prefect flows, which have threads (the API client's event loop, other
tasks); forking a threaded process can deadlock the child. ``forkserver`` (Linux) starts
workers from a clean server process, optionally with modules preloaded; ``spawn`` elsewhere.
Scripts that use these pools need the usual ``if __name__ == "__main__":`` guard.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.context import BaseContext


def safe_context(preload: list[str] | None = None) -> BaseContext:
    """``forkserver`` (with ``preload`` imported once by the server) or ``spawn``."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        if preload:
            ctx.set_forkserver_preload(preload)
        return ctx
    return multiprocessing.get_context("spawn")


def chunked(items: list, n_chunks: int, min_size: int = 1) -> list[list]:
    """``items`` in at most ``n_chunks`` consecutive chunks of at least ``min_size``."""
    size = max(min_size, -(-len(items) // max(1, n_chunks)))
    return [items[i:i + size] for i in range(0, len(items), size)]


def map_in_processes(fn, *iterables, workers: int) -> list:
    """``[fn(*args) for args in zip(*iterables)]`` on ``workers`` processes, in input order."""
    from concurrent.futures import ProcessPoolExecutor

    from calcisvd.redact import restore, snapshot

    # the workers redact as this process does (values registered here, calcisvd/redact.py)
    with ProcessPoolExecutor(workers, mp_context=safe_context(), initializer=restore,
                             initargs=(snapshot(),)) as ex:
        return list(ex.map(fn, *iterables))
