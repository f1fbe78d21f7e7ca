"""Outcomes of suites that passed, reused when the same suite meets the same data again.

A rerun after one new follow-up changes the rows of a few sources (sessions, scans, the MRI
measures); the other suites would validate exactly the frames they validated before. The key
of an entry is a SHA-256 over the suite's JSON, the expectations code (``expectations/``:
suites, checks, runner) and the frame: column names, dtypes and every value
(``pandas.util.hash_pandas_object``). The one exception is ``run_id``, which every load
rewrites: it enters the key as the pattern of equal values (``pandas.factorize`` codes and
nulls), enough for the only rules the suites have on it (the column exists; keys unique
together with it), unless a suite names it in another expectation, when its values enter the
key too. Any other change of a single value, row or column gives another key, so new data is
always validated by GX before it reaches the curated tables; only passing suites are stored
(a failing suite is validated again with details). Unreadable or unwritable cache: every suite
is validated. The cache is a JSON file under the GX context (``uncommitted/``).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

#: columns every load rewrites (the run that wrote the row): keyed by their pattern only
VOLATILE_COLUMNS = ("run_id",)
#: expectation types that only look at the column names
_COLUMN_SET_TYPES = {"expect_table_columns_to_match_set",
                     "expect_table_columns_to_match_ordered_list", "expect_column_to_exist"}
MAX_ENTRIES = 256


def cache_path(gx_dir: Path) -> Path:
    """The cache file of a GX context directory."""
    return Path(gx_dir) / "gx" / "uncommitted" / "outcome_cache.json"


def _value_blind(spec: dict[str, Any]) -> set[str]:
    named = set()
    for exp in spec.get("expectations", []):
        if exp.get("type") in _COLUMN_SET_TYPES:
            continue
        kw = exp.get("kwargs", {})
        named |= {kw.get("column"), kw.get("column_A"), kw.get("column_B"),
                  *(kw.get("column_list") or [])}
    return {c for c in VOLATILE_COLUMNS if c not in named}


def frame_key(suite_json: str, spec: dict[str, Any], code: str, df: Any) -> str | None:
    """The entry key of suite ``spec`` (its JSON text ``suite_json``) on ``df``; None when the
    frame cannot be hashed (then the suite is validated)."""
    import pandas as pd

    h = hashlib.sha256(suite_json.encode())
    h.update(code.encode())
    h.update(json.dumps([[str(c), str(t)] for c, t in df.dtypes.items()]).encode())
    frame = df.copy()
    for col in _value_blind(spec) & set(frame.columns):
        codes, _ = pd.factorize(frame[col], use_na_sentinel=True)
        frame[col] = codes
    try:
        h.update(pd.util.hash_pandas_object(frame, index=False).values.tobytes())
    except (TypeError, ValueError):
        return None
    h.update(str(len(frame)).encode())
    return h.hexdigest()


class OutcomeCache:
    """``get(key)`` -> stored outcome dicts or None; ``put(key, outcomes)``; ``save()``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.entries: dict[str, list[dict[str, Any]]] = {}
        self.dirty = False
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
            if isinstance(doc, dict) and isinstance(doc.get("entries"), dict):
                self.entries = doc["entries"]
        except (OSError, ValueError):
            self.entries = {}

    def get(self, key: str | None) -> list[dict[str, Any]] | None:
        """The outcomes stored under ``key`` (None when absent)."""
        got = self.entries.get(key) if key else None
        return got if isinstance(got, list) else None

    def put(self, key: str | None, outcomes: list[Any]) -> None:
        """Store the outcomes (dataclasses) of a passing suite under ``key``."""
        if not key:
            return
        self.entries.pop(key, None)
        self.entries[key] = [asdict(o) for o in outcomes]  # newest last
        while len(self.entries) > MAX_ENTRIES:
            self.entries.pop(next(iter(self.entries)))
        self.dirty = True

    def save(self) -> None:
        """Write the cache atomically when it changed; errors are ignored (it is a cache)."""
        if not self.dirty:
            return
        from calcisvd.io import atomic_write_json

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.path, {"entries": self.entries})
            self.dirty = False
        except OSError:
            pass


def code_version() -> str:
    """Fingerprint of the expectations code (suites, checks, runner, this module)."""
    from calcisvd.provenance import code_fingerprint

    return code_fingerprint(("expectations",))


def suite_text(path: Path) -> str:
    """The suite file's text (part of the key)."""
    return Path(path).read_text(encoding="utf-8") if os.path.exists(path) else ""
