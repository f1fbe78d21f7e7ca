"""Worker pools never use plain fork (the flows that start them have threads)."""

from __future__ import annotations

import multiprocessing

from calcisvd.processes import safe_context


def test_start_method_is_never_fork():
    method = safe_context().get_start_method()
    assert method != "fork"
    expected = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() \
        else "spawn"
    assert method == expected
