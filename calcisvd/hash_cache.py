"""Content hashes of files, recomputed only when a file's stat changed.

``calcisvd status`` must answer in about a second, but deciding whether a session needs
quantifying compares a hash over its images (hundreds of MB at paper resolution). The
:class:`StatHashCache` keeps, per absolute path, the (size, mtime_ns, inode) seen when the file
was last hashed and its SHA-256: while all three are the same, the stored hash is used; any
change (rewrite, replace by rename, truncation, touch) hashes the file again. The cache is a
JSON file written atomically; it is an optimisation only: unreadable or unwritable, every
file is hashed as before.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from calcisvd.io import atomic_write_json, sha256_file

#: the cache file under the home's var folder
CACHE_NAME = "file_hashes.json"


class StatHashCache:
    """``cache(path)`` is the file's SHA-256 (hex), read from disk only when its stat changed.
    Call :meth:`save` to keep new entries."""

    def __init__(self, path: Path | None) -> None:
        self.path = Path(path) if path else None
        self.entries: dict[str, list] = {}
        self.dirty = False
        self.hashed = 0  # files read in this process (tests, diagnostics)
        if self.path is not None:
            try:
                doc = json.loads(self.path.read_text(encoding="utf-8"))
                if isinstance(doc, dict) and isinstance(doc.get("files"), dict):
                    self.entries = doc["files"]
            except (OSError, ValueError):
                self.entries = {}

    def __call__(self, path: Path | str) -> str:
        key = os.path.abspath(path)
        st = os.stat(key)
        stat = [st.st_size, st.st_mtime_ns, st.st_ino]
        hit = self.entries.get(key)
        if isinstance(hit, list) and len(hit) == 4 and hit[:3] == stat:
            return str(hit[3])
        digest = sha256_file(Path(key))
        self.hashed += 1
        self.entries[key] = [*stat, digest]
        self.dirty = True
        return digest

    def save(self) -> None:
        """Write the cache (atomically) when something was added; errors are ignored."""
        if self.path is None or not self.dirty:
            return
        live = {k: v for k, v in self.entries.items() if os.path.exists(k)}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.path, {"files": live})
            self.dirty = False
        except OSError:
            pass
