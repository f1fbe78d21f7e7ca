"""What every source kind (DICOM export, NIfTI folder, existing BIDS) hands to the planner.

A source turns files under the drop folder into :class:`Study` objects (one patient, one
date, several :class:`SeriesInput`), plus the files it skips or quarantines. The shared
planner (:mod:`tasks.ingest.plan`) assigns subjects and sessions; the session builder
(:mod:`tasks.ingest.session`) writes them.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from tasks.ingest.quarantine import QuarantineItem

#: (path key, size, mtime_ns, sha256) of one input file, for the ledger's stat cache
FileRow = tuple[str, int, int, str]


@dataclass
class SeriesInput:
    """One series (DICOM) or one volume (NIfTI) to ingest, with its ledger rows."""

    key: str  # ledger series key (keyed hash)
    kind: str | None  # one of tasks.ingest.classify.KINDS, None = skip
    reason: str  # why this kind, or why skipped
    files: list[str] = field(default_factory=list)  # paths relative to the drop folder
    file_rows: list[FileRow] = field(default_factory=list)
    inst_rows: list[tuple[str, str]] = field(default_factory=list)  # (instance key, sha256)
    source: str = "dicom"  # dicom | nifti
    series_uid: str = ""  # for dcm2niix output names (DICOM only)
    order: tuple = ()  # sort key (series number) when two series compete for one name
    nifti: Path | None = None  # NIfTI sources: the image file
    sidecar: dict = field(default_factory=dict)  # NIfTI sources: the JSON sidecar
    description: str = ""  # SeriesDescription (for the list of skipped series)
    thickness: float | None = None  # SliceThickness, mm (CT reconstruction choice)
    kernel: str = ""  # ConvolutionKernel (CT reconstruction choice)
    geometry: object = None  # tasks.ingest.geometry.DicomGeometry (independent check)
    replaces: bool = False  # a series that grew after ingestion: its image is re-converted

    def quarantine_item(self, reason: str, category: str) -> QuarantineItem:
        """A quarantine item holding this series' files."""
        return QuarantineItem(reason=reason, category=category, files=list(self.files),
                              hashes=[r[3] for r in self.file_rows],
                              keys=[r[0] for r in self.file_rows], series_key=self.key)


@dataclass
class Study:
    """New series of one patient from one study (identifiers in clear: never logged)."""

    patient_id: str
    study_uid: str
    date: dt.date | None
    series: list[SeriesInput] = field(default_factory=list)
    days_hint: int | None = None  # sources without dates (BIDS import): days since baseline
    person: str = ""  # name|birth year|sex (PHI, in memory only: hashed for duplicate checks)


@dataclass
class Discovery:
    """Everything a source found in one pass."""

    studies: list[Study] = field(default_factory=list)
    skipped: list[SeriesInput] = field(default_factory=list)
    quarantine: list[QuarantineItem] = field(default_factory=list)
    quarantine_rows: list[FileRow] = field(default_factory=list)
    unchanged_rows: list[tuple[FileRow, str]] = field(default_factory=list)  # (row, outcome)
    unchanged: int = 0
    duplicates: int = 0  # re-sent copies of images already received (same UID and bytes)
    held: int = 0  # unchanged files still in quarantine (fix them, or quarantine retry)
    #: series left for a later run (still being written, or incomplete): {"reason", "files"}
    waiting: list[dict] = field(default_factory=list)

    def extend(self, other: Discovery) -> None:
        """Merge another source's discovery into this one."""
        self.studies += other.studies
        self.skipped += other.skipped
        self.quarantine += other.quarantine
        self.quarantine_rows += other.quarantine_rows
        self.unchanged_rows += other.unchanged_rows
        self.unchanged += other.unchanged
        self.duplicates += other.duplicates
        self.held += other.held
        self.waiting += other.waiting


@dataclass
class Context:
    """What sources need: locations, the key, and the ledger's memory of earlier runs."""

    drop_dir: Path
    key: bytes
    file_cache: dict[str, tuple[int, int, str, str]]
    instances: dict[str, tuple[str, str, str]]
    series: dict[str, tuple[str, str, str, str]]
    workers: int = 1  # processes for reading DICOM headers (large drops only)
    heuristics: tuple = ()  # site rules (tasks.ingest.heuristics.load_heuristics)
    placeholder_ids: str = "quarantine"  # quarantine | study (see tasks.ingest.deid)
    quarantined_keys: set[str] | None = None  # path keys named by quarantine folders on disk
    quiet_s: float = 0.0  # a file changed less than this many seconds ago is not settled
    now_ns: int = 0  # the run's clock (time.time_ns()) for the quiet period
    max_file_bytes: int = 2 << 30  # larger DICOM files are refused unread (ingest_max_file_mib)


def settled(ctx: Context, rel: str) -> bool:
    """True when the file's last change (the later of mtime and ctime: a copy that restores
    the original mtime still moves ctime) is at least ``ctx.quiet_s`` seconds old."""
    if ctx.quiet_s <= 0:
        return True
    try:
        st = os.stat(os.path.join(ctx.drop_dir, rel))
    except OSError:
        return True  # judged (unreadable) by the caller
    changed = max(st.st_mtime_ns, st.st_ctime_ns)
    return (ctx.now_ns or time.time_ns()) - changed >= ctx.quiet_s * 1e9


def unreadable_item(rel: str, path_key: str, exc: OSError) -> QuarantineItem:
    """Quarantine item for a file the operating system would not let us open or stat."""
    why = exc.strerror or type(exc).__name__
    return QuarantineItem(reason=f"file cannot be read: {rel} ({why})", category="unreadable",
                          files=[rel], hashes=[], keys=[path_key])


def stat_row(ctx: Context, rel: str, path_key: str) -> tuple[int, int, str | None]:
    """(size, mtime_ns, cached outcome or None) of a file, using the ledger's stat cache.

    Raises :class:`OSError` when the file cannot be stat-ed (removed, a dangling link, no
    permission); callers quarantine it with :func:`unreadable_item`.
    """
    st = os.stat(os.path.join(ctx.drop_dir, rel))  # a str join: this runs once per file
    cached = ctx.file_cache.get(path_key)
    if cached and cached[0] == st.st_size and cached[1] == st.st_mtime_ns and cached[3]:
        return st.st_size, st.st_mtime_ns, cached[3]
    return st.st_size, st.st_mtime_ns, None


class Source:
    """A kind of input under the drop folder; subclasses implement :meth:`discover`."""

    kind = "base"

    def __init__(self, files: list[str]):
        self.files = files

    def discover(self, ctx: Context) -> Discovery:  # pragma: no cover - abstract
        """Read the new files and return studies, skips and quarantine items."""
        raise NotImplementedError
