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
