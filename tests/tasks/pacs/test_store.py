"""Durable, whole-batch landing of received instances (tasks/pacs/store.py)."""

from __future__ import annotations

from tasks.ingest.scan import scan_drop
from tasks.pacs.store import (
    INCOMING,
    PUBLISHED,
    Batch,
    discard_incoming,
    recover_incoming,
    uid_digest,
)


def test_batch_is_hidden_until_published(tmp_path):
    drop = tmp_path / "drop"
    batch = Batch(drop, "push-1")
    path = batch.write(b"DICM-bytes", "1.2.3", "1.2.3.4", "1.2.3.4.5")
    assert path == drop / INCOMING / "push-1" / uid_digest("1.2.3") / uid_digest("1.2.3.4") / \
        f"{uid_digest('1.2.3.4.5')}.dcm"
    assert path.read_bytes() == b"DICM-bytes"
    assert scan_drop(drop) == []  # the ingest scan does not see a batch being received
    out = batch.publish()
    assert out == drop / PUBLISHED / "push-1" and not (drop / INCOMING / "push-1").exists()
    (src,) = scan_drop(drop)
    assert src.files == [f"pacs/push-1/{uid_digest('1.2.3')}/{uid_digest('1.2.3.4')}/"
                         f"{uid_digest('1.2.3.4.5')}.dcm"]
    assert batch.count == 1 and batch.bytes == len(b"DICM-bytes")


def test_names_hold_no_uid(tmp_path):
    batch = Batch(tmp_path / "drop", "push-2")
    path = batch.write(b"x", "1.2.840.999", "1.2.840.999.1", "1.2.840.999.1.1")
    assert "1.2.840" not in str(path)


def test_recover_publishes_complete_files_and_drops_partial_ones(tmp_path):
    drop = tmp_path / "drop"
    batch = Batch(drop, "push-3")
    done = batch.write(b"complete", "1", "2", "3")
    (done.parent / ".tmp-cut-by-a-kill").write_bytes(b"half")
    Batch(drop, "push-4")  # an association that stored nothing
    Batch(drop, "pull-5").write(b"y", "1", "2", "4")
    out = recover_incoming(drop, "push")
    assert out == [drop / PUBLISHED / "push-3"]
    files = [p for p in (drop / PUBLISHED).rglob("*") if p.is_file()]
    assert [p.read_bytes() for p in files] == [b"complete"]
    assert not (drop / INCOMING / "push-4").exists()
    assert (drop / INCOMING / "pull-5").exists()  # another prefix: not ours
    assert discard_incoming(drop, "pull") == 1
    assert list((drop / INCOMING).iterdir()) == []


def test_empty_batch_publishes_nothing(tmp_path):
    assert Batch(tmp_path / "drop", "push-6").publish() is None
    assert not (tmp_path / "drop" / PUBLISHED).exists()


def test_recovery_leaves_a_running_writers_batch_alone(tmp_path):
    import subprocess
    import sys

    from tasks.pacs.store import new_batch_name

    drop = tmp_path / "drop"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = Batch(drop, f"push-20250101T000000Z-p{other.pid}-abcd")
        live.write(b"in flight", "1", "2", "3")
        mine = Batch(drop, new_batch_name("push"))
        mine.write(b"mine", "1", "2", "4")
        assert recover_incoming(drop, "push") == [drop / PUBLISHED / mine.name]
        assert live.path.exists()
    finally:
        other.kill()
        other.wait()
    assert recover_incoming(drop, "push") == [drop / PUBLISHED / live.name]
