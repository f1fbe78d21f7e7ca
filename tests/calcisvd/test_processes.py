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


def test_chunks_cover_the_items_in_order():
    from calcisvd.processes import chunked

    items = list(range(23))
    parts = chunked(items, 4)
    assert [x for p in parts for x in p] == items and len(parts) == 4
    assert chunked(items, 8, min_size=10) == [items[:10], items[10:20], items[20:]]
    assert chunked([], 3) == []


def test_map_in_processes_keeps_the_input_order():
    from calcisvd.processes import map_in_processes

    assert map_in_processes(pow, [2, 3, 4], [3, 2, 1], workers=2) == [8, 9, 4]


def _redacted(text: str) -> str:
    from calcisvd.redact import redact

    return redact(text)


def test_pool_workers_redact_values_registered_in_the_parent():
    """Issue 24 item 6: a worker of map_in_processes (the warehouse load reading measures)
    starts with the parent's registered values, not only the name/date patterns."""
    from calcisvd.processes import map_in_processes
    from calcisvd.redact import forget_identifiers, register_identifiers

    forget_identifiers()  # values an earlier test in this process registered (ingest tests)
    register_identifiers("PatientID", ["H1512204"])
    try:
        out = map_in_processes(_redacted, ["failed on H1512204", "NOVAK^WEI"], workers=2)
    finally:
        forget_identifiers()
    assert out == ["failed on <id>", "<name>"]
