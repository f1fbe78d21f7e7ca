"""The ingest ledger: what has been seen, by content and UID, so reruns skip it.

A small SQLite file (``<var>/ingest/ledger.sqlite``). It holds no identifiers in clear: UIDs
and relative paths are stored as keyed hashes (HMAC with the pseudonym key), so the ledger
says "this image was ingested" without naming a patient, a study or a file.

Tables: ``files`` (a stat cache: path key, size, mtime -> content hash and outcome, so an
unchanged file is never read twice), ``instances`` (image key -> content hash, series key,
outcome), ``series`` (series key -> subject, session, kind, outcome) and ``sessions``
(subject, session, days since baseline).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
  path_key TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, sha256 TEXT, outcome TEXT);
CREATE TABLE IF NOT EXISTS instances (
  inst_key TEXT PRIMARY KEY, sha256 TEXT, series_key TEXT, outcome TEXT);
CREATE TABLE IF NOT EXISTS series (
  series_key TEXT PRIMARY KEY, subject TEXT, session TEXT, kind TEXT, outcome TEXT);
CREATE TABLE IF NOT EXISTS sessions (
  subject TEXT, session TEXT, days INTEGER, PRIMARY KEY (subject, session));
CREATE TABLE IF NOT EXISTS persons (
  fingerprint TEXT, subject TEXT, PRIMARY KEY (fingerprint, subject));
"""


class Ledger:
    """Thread-safe access to the ledger file; every write is its own transaction."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._con = sqlite3.connect(self.path, check_same_thread=False, timeout=60)
        self._con.executescript(SCHEMA)
        self._con.commit()

    def close(self) -> None:
        """Close the connection."""
        self._con.close()

    # reads ---------------------------------------------------------------------------------
    def file_cache(self) -> dict[str, tuple[int, int, str, str]]:
        """path key -> (size, mtime_ns, sha256, outcome)."""
        with self._lock:
            rows = self._con.execute("SELECT path_key, size, mtime_ns, sha256, outcome FROM files")
            return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}

    def instances(self) -> dict[str, tuple[str, str, str]]:
        """instance key -> (sha256, series key, outcome)."""
        with self._lock:
            rows = self._con.execute("SELECT inst_key, sha256, series_key, outcome FROM instances")
            return {r[0]: (r[1], r[2], r[3]) for r in rows}

    def series(self) -> dict[str, tuple[str, str, str, str]]:
        """series key -> (subject, session, kind, outcome)."""
        with self._lock:
            rows = self._con.execute("SELECT series_key, subject, session, kind, outcome "
                                     "FROM series")
            return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}

    def sessions(self) -> dict[str, dict[str, int]]:
        """subject -> {session: days since baseline}."""
        out: dict[str, dict[str, int]] = {}
        with self._lock:
            for subject, session, days in self._con.execute(
                    "SELECT subject, session, days FROM sessions ORDER BY subject, days"):
                out.setdefault(subject, {})[session] = days
        return out

    # writes --------------------------------------------------------------------------------
    def record(
        self,
        *,
        files: Iterable[tuple[str, int, int, str, str]] = (),
        instances: Iterable[tuple[str, str, str, str]] = (),
        series: Iterable[tuple[str, str, str, str, str]] = (),
        sessions: Iterable[tuple[str, str, int]] = (),
        series_if_new: Iterable[tuple[str, str, str, str, str]] = (),
    ) -> None:
        """Insert or replace rows in one transaction (tuples in table column order).

        ``series_if_new`` rows are only added when the series is not known yet (a quarantine
        never overwrites an ``ingested`` series).
        """
        with self._lock, self._con:
            self._con.executemany("INSERT OR IGNORE INTO series VALUES (?, ?, ?, ?, ?)",
                                  series_if_new)
            self._con.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?)", files)
            self._con.executemany("INSERT OR REPLACE INTO instances VALUES (?, ?, ?, ?)",
                                  instances)
            self._con.executemany("INSERT OR REPLACE INTO series VALUES (?, ?, ?, ?, ?)", series)
            self._con.executemany("INSERT OR REPLACE INTO sessions VALUES (?, ?, ?)", sessions)

    def set_outcome(self, path_keys: Iterable[str], series_key: str, outcome: str | None
                    ) -> None:
        """Forget files (``outcome=None``: the next run reads them again) or give them and
        their series a new outcome (e.g. ``dismissed``), in one transaction."""
        keys = [(k,) for k in path_keys]
        with self._lock, self._con:
            if outcome is None:
                self._con.executemany("DELETE FROM files WHERE path_key = ?", keys)
            else:
                self._con.executemany("UPDATE files SET outcome = ? WHERE path_key = ?",
                                      [(outcome, k) for (k,) in keys])
            if series_key:
                self._con.execute("UPDATE series SET outcome = ? WHERE series_key = ? AND "
                                  "outcome = 'quarantined'", (outcome or "quarantined",
                                                              series_key))
                if outcome:
                    self._con.execute("UPDATE instances SET outcome = ? WHERE series_key = ? "
                                      "AND outcome = 'quarantined'", (outcome, series_key))

    def relabel(self, subject: str, mapping: dict[str, tuple[str, int]]) -> None:
        """Give ``subject``'s sessions new labels and days (``old -> (new, days)``), in one
        transaction (a new baseline: :mod:`tasks.ingest.relabel`)."""
        with self._lock, self._con:
            rows = self._con.execute("SELECT session, days FROM sessions WHERE subject = ?",
                                     (subject,)).fetchall()
            self._con.execute("DELETE FROM sessions WHERE subject = ?", (subject,))
            self._con.executemany("INSERT OR REPLACE INTO sessions VALUES (?, ?, ?)", [
                (subject, *mapping.get(ses, (ses, days))) for ses, days in rows])
            series = self._con.execute("SELECT series_key, session FROM series WHERE "
                                       "subject = ?", (subject,)).fetchall()
            self._con.executemany("UPDATE series SET session = ? WHERE series_key = ?", [
                (mapping[ses][0], key) for key, ses in series if ses in mapping])

    def add_persons(self, rows: Iterable[tuple[str, str]]) -> dict[str, set[str]]:
        """Record (fingerprint, subject) pairs (keyed hashes and pseudonyms only); returns
        every fingerprint with the subjects it was seen under."""
        with self._lock, self._con:
            self._con.executemany("INSERT OR IGNORE INTO persons VALUES (?, ?)", list(rows))
            out: dict[str, set[str]] = {}
            for fp, sub in self._con.execute("SELECT fingerprint, subject FROM persons"):
                out.setdefault(fp, set()).add(sub)
            return out
