"""Atomic writes, directory swaps and their recovery."""

from __future__ import annotations

import os

from tasks.ingest.fsutil import recover_dirs, replace_dir, write_text_atomic


def test_write_only_on_change(tmp_path):
    p = tmp_path / "a" / "x.tsv"
    assert write_text_atomic(p, "a\tb\n") is True
    before = p.stat().st_mtime_ns, p.stat().st_ino
    assert write_text_atomic(p, "a\tb\n") is False
    assert (p.stat().st_mtime_ns, p.stat().st_ino) == before
    assert write_text_atomic(p, "a\tc\n") is True
    assert p.read_text() == "a\tc\n"
    assert [q.name for q in p.parent.iterdir()] == ["x.tsv"]  # no temp files left


def test_replace_and_recover(tmp_path):
    root = tmp_path / "bids"
    target = root / "sub-a" / "ses-M00"
    staged = tmp_path / "stage1"
    (staged / "anat").mkdir(parents=True)
    (staged / "anat" / "one").write_text("1")
    replace_dir(staged, target)
    assert (target / "anat" / "one").read_text() == "1" and not staged.exists()
    staged2 = tmp_path / "stage2"
    (staged2 / "anat").mkdir(parents=True)
    (staged2 / "anat" / "two").write_text("2")
    replace_dir(staged2, target)
    assert sorted(p.name for p in (target / "anat").iterdir()) == ["two"]
    # a swap interrupted between its two renames: only the backup exists
    os.rename(target, target.with_name(".ses-M00.old-999"))
    assert recover_dirs(root) == 1
    assert (target / "anat" / "two").is_file()
    assert not list((root / "sub-a").glob(".ses-*"))
