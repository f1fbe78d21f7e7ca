"""The stat-keyed content hash cache used by `calcisvd status`."""

from __future__ import annotations

import os

from calcisvd.hash_cache import StatHashCache
from calcisvd.io import sha256_file, sha256_files


def test_hash_reused_while_stat_unchanged_and_redone_when_it_changes(tmp_path):
    img = tmp_path / "a.nii.gz"
    img.write_bytes(b"x" * 1000)
    store = tmp_path / "var" / "cache" / "file_hashes.json"
    cache = StatHashCache(store)
    assert cache(img) == sha256_file(img) and cache.hashed == 1
    cache.save()
    again = StatHashCache(store)  # a later process
    assert again(img) == sha256_file(img) and again.hashed == 0
    # same size, new content and mtime: hashed again
    img.write_bytes(b"y" * 1000)
    os.utime(img, ns=(1, 1))
    assert again(img) == sha256_file(img) and again.hashed == 1
    # replaced by rename (new inode), same size and mtime as before: hashed again
    new = tmp_path / "b.tmp"
    new.write_bytes(b"z" * 1000)
    os.utime(new, ns=(1, 1))
    os.replace(new, img)
    assert again(img) == sha256_file(img) and again.hashed == 2


def test_same_inputs_hash_as_without_cache_and_unwritable_cache_is_harmless(tmp_path):
    files = []
    for i in range(3):
        f = tmp_path / f"f{i}.json"
        f.write_text(str(i))
        files.append(f)
    blocker = tmp_path / "file"
    blocker.write_text("")
    cache = StatHashCache(blocker / "cache.json")  # its folder is a file: cannot be written
    assert sha256_files(files, extra="v1", hash_file=cache) == sha256_files(files, extra="v1")
    cache.save()  # no error
    assert not (blocker / "cache.json").exists()


def test_corrupt_cache_file_is_ignored(tmp_path):
    store = tmp_path / "c.json"
    store.write_text("{not json")
    f = tmp_path / "f"
    f.write_text("data")
    assert StatHashCache(store)(f) == sha256_file(f)
