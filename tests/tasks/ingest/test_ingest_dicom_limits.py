"""DICOM inputs that would be read whole into memory, or declare more than they hold, are
quarantined with a reason (issue 24, item 8): a sparse file, a file over the configured bound
(``ingest_max_file_mib``), pixel data declared past the end of the file."""

from __future__ import annotations

import datetime as dt
import json
import os
import struct

import pytest

from bench.support.dicomgen import Patient, uid, write_series, write_study
from tasks.ingest.dicom import RefusedUnread, UnreadableFile, read_instance
from tasks.ingest.quarantine import path_sha256


def _one_file(folder, rows=16, cols=16):
    return write_series(folder, Patient("BIG0001"), uid("big"), dt.date(2024, 2, 1), "T1w", 7,
                        shape=(rows, cols, 1))[0]


def test_a_sparse_file_is_refused_unread(tmp_path):
    path = _one_file(tmp_path / "s")
    with open(path, "r+b") as fh:  # a valid header, then a 40 GB hole
        fh.truncate(40 << 30)
    with pytest.raises(RefusedUnread, match="sparse file"):
        read_instance(path, "s/x")


def test_a_file_over_the_bound_is_refused_unread(tmp_path):
    path = _one_file(tmp_path / "b", 512, 512)  # 512 KiB of pixels
    with pytest.raises(RefusedUnread, match="larger than the bound"):
        read_instance(path, "b/x", max_bytes=256 << 10)
    assert read_instance(path, "b/x", max_bytes=1 << 20).rows == 512


def test_pixel_data_declared_past_the_end_is_refused(tmp_path):
    path = _one_file(tmp_path / "p")
    data = bytearray(path.read_bytes())
    at = data.rfind(b"\xe0\x7f\x10\x00OW\x00\x00")  # (7FE0,0010) OW, explicit VR LE
    assert at > 0
    data[at + 8:at + 12] = struct.pack("<I", 0x7FFFFFF0)  # declares 2 GiB of pixels
    path.write_bytes(bytes(data))
    with pytest.raises(UnreadableFile, match="truncated file: pixel data needs 2147483632"):
        read_instance(path, "p/x")


def test_ingest_quarantines_them_and_keeps_the_good_study(tmp_path):
    from calcisvd.settings import load_settings
    from tasks.ingest.pipeline import run_ingest

    settings = load_settings(env={}, overrides={"home": tmp_path / "home", "n_procs": 1,
                                                "ingest_max_file_mib": 1})
    drop = settings.drop_dir
    write_study(drop, Patient("P1"), dt.date(2024, 2, 1), visit="v1", kinds=("FLAIR",),
                localizer=False, dose=False, shape=(16, 16, 6))
    sparse = _one_file(drop / "sparse")
    with open(sparse, "r+b") as fh:
        fh.truncate(40 << 30)
    big = _one_file(drop / "big", 1024, 768)  # 1.5 MiB, over the 1 MiB bound
    summary = run_ingest(settings)
    assert summary["ingested"] == 1, summary
    docs = {h: json.loads(p.read_text()) for p in settings.quarantine_dir.glob("*/reason.json")
            for h in json.loads(p.read_text())["files_sha256"]}
    for path, words in ((sparse, "sparse file"), (big, "larger than the bound")):
        doc = docs[path_sha256(path.relative_to(drop).as_posix())]
        assert words in doc["reason"] and doc["category"] == "unreadable", doc
        assert doc["not_copied"]  # never copied into the quarantine either
    copies = [p for p in settings.quarantine_dir.rglob("*") if p.is_file()
              and p.name != "reason.json"]
    assert sum(p.stat().st_size for p in copies) < 1 << 20
    again = run_ingest(settings)  # unchanged files: judged once
    assert (again["ingested"], again["quarantined"]) == (0, 0), again
    os.unlink(sparse)
