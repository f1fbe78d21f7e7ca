"""The shared file helpers: the exclusive lock of ingest runs and warehouse loads."""

from __future__ import annotations

import pytest

from calcisvd.io import LockBusy, exclusive_lock


def test_lock_excludes_second_holder(tmp_path):
    lock = tmp_path / "ingest.lock"
    # flock locks belong to the open file description: a second open conflicts
    with exclusive_lock(lock), pytest.raises(LockBusy), exclusive_lock(lock, timeout_s=0.2):
        pass
    with exclusive_lock(lock, timeout_s=0):
        pass
