"""bench.speed_mri: the steps it times exist in the in-memory MRI chain."""

from __future__ import annotations


def test_timed_steps_are_the_pipelines():
    """The child process wraps these names of tasks.svd.pipeline; a renamed step would make
    the benchmark fail (it did after the steps refactor)."""
    from bench.speed_mri import STEPS
    from tasks.svd import pipeline

    missing = [n for n in STEPS if not callable(getattr(pipeline, n, None))]
    assert not missing, missing
