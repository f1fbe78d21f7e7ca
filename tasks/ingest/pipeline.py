"""One ingest run in three steps (plan, one call per session, finalize), without Prefect.

``flows/ingest.py`` calls the same steps as Prefect tasks; :func:`run_ingest` runs them in a
plain loop (tests, benchmarks, scripts). Nothing here logs identifiers: log lines carry
pseudonyms, session labels, kinds, counts and plain-words reasons only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calcisvd.io import LockBusy, exclusive_lock
from calcisvd.redact import redact_obj, register_identifiers
from calcisvd.resources import ResourceError
from tasks.ingest import bidsio
from tasks.ingest.clinical import ClinicalResult, clinical_files, read_clinical_exports
from tasks.ingest.config import IngestConfig
from tasks.ingest.deid import MissingKeyError, load_or_create_key, pseudonym
from tasks.ingest.fsutil import recover_dirs, write_text_atomic
from tasks.ingest.isolation import discover_isolated, failure_reason, raise_if_resource
from tasks.ingest.ledger import Ledger
from tasks.ingest.plan import SessionPlan, plan_sessions
from tasks.ingest.quarantine import (
    QuarantineItem,
    mark_resolved,
    quarantine,
    quarantined_keys,
    without_paths,
    write_skipped,
)
from tasks.ingest.scan import CLINICAL_DIR, scan_drop
from tasks.ingest.session import SessionResult, build_session
from tasks.ingest.sources.base import Context, Discovery, FileRow, SeriesInput

log = logging.getLogger("calcisvd.ingest")


def ledger_path(settings: IngestConfig) -> Path:
    """``<var>/ingest/ledger.sqlite``."""
    return Path(settings.var_dir or "") / "ingest" / "ledger.sqlite"


def lock_path(settings: IngestConfig) -> Path:
    """``<var>/ingest/ingest.lock`` (``fcntl.flock``)."""
    return Path(settings.var_dir or "") / "ingest" / "ingest.lock"


def clinical_report_path(settings: IngestConfig) -> Path:
    """``<var>/ingest/clinical_report.json``: the last run's clinical files, held rows,
    conflicts (file names, row numbers, columns; no identifiers); read by ``status``."""
    return Path(settings.var_dir or "") / "ingest" / "clinical_report.json"


def waiting_path(settings: IngestConfig) -> Path:
    """``<var>/ingest/waiting.json``: series the last run left for later (still arriving or
    incomplete): description, file count, reason; read by ``status``."""
    return Path(settings.var_dir or "") / "ingest" / "waiting.json"


def baselines_path(settings: IngestConfig) -> Path:
    """``<secrets>/ingest_baselines.json``: subject -> date of the first study (secret)."""
    return Path(settings.secrets_dir or "") / "ingest_baselines.json"


def staging_root(settings: IngestConfig) -> Path:
    """Staging folder beside the BIDS root (same file system, so renames are atomic)."""
    bids = Path(settings.bids_dir or "")
    return bids.parent / f".{bids.name}.staging"


def pybids_db_path(settings: IngestConfig) -> Path:
    """pybids database cache, ``<var>/pybids``."""
    return Path(settings.var_dir or "") / "pybids"


def load_identity(settings: IngestConfig) -> bytes:
    """The pseudonym key; refused (never recreated) when the dataset already has subjects and
    the key or the re-identification map is missing (:class:`MissingKeyError`)."""
    bids = Path(settings.bids_dir or "")
    exists = bids.is_dir() and any(p.is_dir() for p in bids.glob("sub-*"))
    reid = Path(settings.reid_map_path)
    if exists and Path(settings.pseudonym_key_path).exists() and not reid.exists():
        raise MissingKeyError(
            f"the re-identification map {reid} is missing but the BIDS dataset already has "
            f"subjects; restore {reid.name} from your backup of {reid.parent}. Nothing was "
            "changed.")
    return load_or_create_key(settings.pseudonym_key_path, dataset_exists=exists)


def make_run_id(now: dt.datetime | None = None) -> str:
    """``ingest-YYYYMMDDTHHMMSSZ`` in UTC."""
    return "ingest-" + (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")


@contextlib.contextmanager
def ingest_lock(settings: IngestConfig, timeout_s: float | None = None) -> Iterator[Path]:
    """The exclusive lock every ingest run holds (see :func:`exclusive_lock`)."""
    with exclusive_lock(lock_path(settings), timeout_s=timeout_s) as path:
        yield path


def _rows(series: SeriesInput, outcome: str) -> dict[str, list]:
    return {
        "files": [(*r, outcome) for r in series.file_rows],
        "instances": [(k, sha, series.key, outcome) for k, sha in series.inst_rows],
    }


_without_paths = without_paths  # (the log gets reasons without drop-folder paths)


@dataclass
class IngestRun:
    """State of one run: settings, key, ledger, counters. Call the steps in order."""

    settings: IngestConfig
    run_id: str = field(default_factory=make_run_id)
    counts: Counter = field(default_factory=Counter)
    skip_reasons: Counter = field(default_factory=Counter)
    quarantine_reasons: Counter = field(default_factory=Counter)
    started: float = field(default_factory=time.perf_counter)
    timings: dict[str, float] = field(default_factory=dict)
    skipped_series: list[dict[str, Any]] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)
    ingested_keys: set[str] = field(default_factory=set)
    waiting: list[dict[str, Any]] = field(default_factory=list)  # series left for later
    relabelled: list[str] = field(default_factory=list)  # "sub-X: M00->M12, ..." (no PHI)
    possible_duplicates: list[list[str]] = field(default_factory=list)  # [["sub-A", "sub-B"]]

    def __post_init__(self) -> None:
        self.key = load_identity(self.settings)
        from calcisvd.permissions import secure_home

        secure_home(self.settings)
        self.ledger = Ledger(ledger_path(self.settings))
        self._secrets_lock = threading.Lock()
        self.changed = False

    @property
    def drop_dir(self) -> Path:
        """The drop folder."""
        return Path(self.settings.drop_dir or "")

    @property
    def bids_dir(self) -> Path:
        """The BIDS root."""
        return Path(self.settings.bids_dir or "")

    # step 1 --------------------------------------------------------------------------------
    def plan(self) -> list[SessionPlan]:
        """Scan, discover, classify, plan; skipped and quarantined input is handled here."""
        t0 = time.perf_counter()
        if recover_dirs(self.bids_dir):
            log.warning("finished an interrupted session swap from an earlier run")
        shutil.rmtree(staging_root(self.settings), ignore_errors=True)
        from tasks.ingest.heuristics import load_heuristics

        cache = self.ledger.file_cache()
        qdir = Path(self.settings.quarantine_dir or "")
        held = any(v[3] == "quarantined" for v in cache.values())
        ctx = Context(drop_dir=self.drop_dir, key=self.key,
                      file_cache=cache, instances=self.ledger.instances(),
                      series=self.ledger.series(),
                      workers=max(1, int(self.settings.n_procs or 1)),
                      heuristics=load_heuristics(self.settings.ingest_heuristics or Path(
                          self.settings.home) / "heuristics.json"),
                      placeholder_ids=self.settings.ingest_placeholder_ids,
                      quiet_s=float(self.settings.ingest_quiet_s or 0.0),
                      max_file_bytes=int(self.settings.ingest_max_file_mib) << 20,
                      now_ns=time.time_ns(),
                      quarantined_keys=quarantined_keys(qdir) if held else None)
        disc = Discovery()
        for source in scan_drop(self.drop_dir):
            disc.extend(discover_isolated(source, ctx))
        self.counts["files_unchanged"] += disc.unchanged
        self.waiting += disc.waiting
        for w in disc.waiting:
            log.info("waiting: %d file(s)%s: %s", w["files"],
                     f" of series {w['description']!r}" if w["description"] else "",
                     w["reason"])
        write_text_atomic(waiting_path(self.settings), json.dumps(
            {"run_id": self.run_id, "waiting": redact_obj(self.waiting)}, indent=2) + "\n")
        if disc.duplicates:
            self.counts["duplicates"] += disc.duplicates
            log.info("skipped %d re-sent cop(ies) of images already received (same "
                     "SOPInstanceUID and bytes)", disc.duplicates)
        if disc.held:
            self.counts["files_in_quarantine"] += disc.held
            log.warning("%d unchanged file(s) are still in quarantine: fix them in the drop "
                        "folder (a changed file is read again) or see `calcisvd quarantine "
                        "list`", disc.held)
        plan = plan_sessions(disc.studies, self.key,
                             bidsio.read_baselines(baselines_path(self.settings)),
                             undated=self.settings.ingest_undated,
                             ct_max_mm=float(self.settings.ingest_ct_max_thickness_mm),
                             existing=self.ledger.sessions())
        self._relabel(plan)
        self._possible_duplicates(disc.studies)
        for note in plan.merged:
            log.info("merged studies: %s", note)
        self.merged += plan.merged
        rows: dict[str, list] = {"files": [(*row, outcome) for row, outcome
                                           in disc.unchanged_rows], "instances": [],
                                 "series": []}
        for s in disc.skipped + plan.skipped:
            self.counts["skipped"] += 1
            self.skip_reasons[s.reason] += 1
            log.info("skipped series %r (%d files): %s", s.description, len(s.files), s.reason)
            self.skipped_series.append({"description": s.description, "reason": s.reason,
                                        "files": len(s.files)})
            write_skipped(qdir, key=s.key, description=s.description, reason=s.reason,
                          n_files=len(s.files), run_id=self.run_id)
            for k, v in _rows(s, "skipped").items():
                rows[k] += v
            rows["series"].append((s.key, "", "", s.kind or "", "skipped"))
        self.ledger.record(**rows)  # one transaction
        self._quarantine(disc.quarantine + plan.quarantine,
                         disc.quarantine_rows + plan.quarantine_rows)
        self.counts["files_new"] = sum(len(s.files) for sp in plan.sessions for s in sp.series)
        log.info("%s: %d session(s) to write, %d file(s) unchanged", self.run_id,
                 len(plan.sessions), disc.unchanged)
        self.timings["plan"] = time.perf_counter() - t0
        if plan.sessions:  # the layout is refreshed at the end: import pybids meanwhile
            from tasks.ingest.layout import preload_pybids

            preload_pybids()
        return plan.sessions

    def _possible_duplicates(self, studies: list) -> None:
        """Report subjects that share a person fingerprint (keyed hash of family and first
        given name, birth year and sex: :func:`tasks.ingest.dicom.person_fingerprint_text`)
        under different PatientIDs: a possible duplicate patient. Reported only (summary,
        log, ``var/ingest/identity_report.json``), never merged: pseudonyms only."""
        from tasks.ingest.deid import keyed_hash

        rows = {(keyed_hash(self.key, "person:" + st.person), pseudonym(self.key,
                                                                       st.patient_id))
                for st in studies if st.person and not st.patient_id.startswith("study:")}
        seen = self.ledger.add_persons(sorted(rows))
        groups = sorted(sorted(subs) for subs in seen.values() if len(subs) > 1)
        self.possible_duplicates = [[f"sub-{s}" for s in g] for g in groups]
        for g in self.possible_duplicates:
            log.warning("possible duplicate patient: %s share family and given name, birth "
                        "year and sex under different PatientIDs; check them (nothing was "
                        "merged)", " and ".join(g))
        write_text_atomic(Path(self.settings.var_dir or "") / "ingest" / "identity_report.json",
                          json.dumps({"run_id": self.run_id, "possible_duplicates":
                                      self.possible_duplicates}, indent=2) + "\n")

    def _relabel(self, plan) -> None:
        """Apply the plan's re-labellings (an earlier baseline arrived; relabel.py)."""
        from tasks.ingest import relabel

        for subject, mapping in sorted(plan.relabels.items()):
            baseline = next(sp.baseline for sp in plan.sessions if sp.subject == subject)
            relabel.relabel_bids_subject(self.bids_dir, staging_root(self.settings), subject,
                                         mapping)
            self.ledger.relabel(subject, mapping)
            relabel.relabel_reid_map(Path(self.settings.reid_map_path), subject, mapping)
            baselines = bidsio.read_baselines(baselines_path(self.settings))
            baselines[subject] = baseline
            bidsio.write_baselines(baselines_path(self.settings), baselines)
            relabel.remove_derivatives(Path(self.settings.derivatives_dir or ""), subject)
            moved = ", ".join(f"{old}->{new}" for old, (new, _d) in sorted(mapping.items()))
            log.warning("sub-%s: an earlier baseline arrived; sessions re-labelled (%s), "
                        "derivatives removed for the next quantify", subject, moved)
            self.relabelled.append(f"sub-{subject}: {moved}")
            self.changed = True

    def _quarantine(self, items: list[QuarantineItem], rows: list[FileRow]) -> None:
        qdir = Path(self.settings.quarantine_dir or "")
        if items and not qdir.is_dir():
            qdir.mkdir(parents=True, mode=0o750)  # raw copies: not world-readable
            os.chmod(qdir, 0o750)
        for item in items:
            try:
                folder = quarantine(item, self.drop_dir, qdir, self.run_id,
                                    max_bytes=int(self.settings.ingest_max_file_mib) << 20)
            except OSError as exc:
                raise_if_resource(exc, qdir)
                raise
            self.counts["quarantined"] += 1
            self.quarantine_reasons[item.category] += 1
            log.warning("quarantined %d file(s) in %s: %s", len(item.files), folder.name,
                        _without_paths(item.reason, item.files))
        self.ledger.record(files=[(*r, "quarantined") for r in rows],
                           series_if_new=[(i.series_key, "", "", "", "quarantined")
                                          for i in items if i.series_key])

    # step 2 --------------------------------------------------------------------------------
    def ingest_session(self, sp: SessionPlan) -> dict[str, Any]:
        """Convert and write one session, record it; returns a PHI-free summary."""
        from tasks.ingest.convert import find_dcm2niix

        def record_secrets() -> None:  # the baseline date and re-identification rows
            with self._secrets_lock:
                baselines = bidsio.read_baselines(baselines_path(self.settings))
                baselines.setdefault(sp.subject, sp.baseline)
                bidsio.write_baselines(baselines_path(self.settings), baselines)
                bidsio.update_reid_map(self.settings.reid_map_path, sp.reid_rows)

        try:
            res: SessionResult = build_session(
                sp, drop_dir=self.drop_dir, bids_dir=self.bids_dir,
                staging_root=staging_root(self.settings), dcm2niix=find_dcm2niix(),
                before_commit=record_secrets)
        except Exception as exc:  # one session's input must not stop the others
            raise_if_resource(exc, self.bids_dir)
            res = SessionResult(sp.subject, sp.session, sp.days)
            why = failure_reason(exc)
            res.quarantined = [(s, s.quarantine_item(
                f"the session could not be converted ({why}); its other series are "
                "quarantined with it", "conversion")) for s in sp.series]
        self._quarantine([q for _, q in res.quarantined],
                         [r for s, _ in res.quarantined for r in s.file_rows])
        rows: dict[str, list] = {"files": [], "instances": [], "series": []}
        for s in res.ingested:
            if s.replaces:
                self.counts["reconverted"] += 1
                log.warning("%s: the %s series grew after it was ingested and was converted "
                            "again, whole; its derivatives are redone by the next quantify "
                            "(the image's hash changed)", sp.name, s.kind)
            for k, v in _rows(s, "ingested").items():
                rows[k] += v
            rows["series"].append((s.key, sp.subject, sp.session, s.kind or "", "ingested"))
            self.ingested_keys.add(s.key)
        for s, _ in res.quarantined:
            for k, v in _rows(s, "quarantined").items():
                rows[k] += v
        if res.ingested:
            if not res.written:  # already in place (an interrupted run): secrets as well
                record_secrets()
            rows["sessions"] = [(sp.subject, sp.session, sp.days)]
        self.ledger.record(**rows)
        self.counts["ingested"] += len(res.ingested)
        self.changed |= res.written
        kinds = ",".join(sorted(s.kind or "" for s in res.ingested)) or "nothing new"
        log.info("%s: %s", sp.name, kinds)
        return {"subject": sp.subject, "session": sp.session, "ingested": len(res.ingested),
                "quarantined": len(res.quarantined), "written": res.written}

    def try_ingest_session(self, sp: SessionPlan) -> int:
        """:meth:`ingest_session` that logs and counts a failure instead of raising (1/0).

        Nothing of a failed session is recorded, so the next run tries it again.
        """
        try:
            self.ingest_session(sp)
        except ResourceError:
            raise  # the machine lacks something: every other session would fail the same way
        except Exception as exc:  # the run goes on with the other sessions
            log.error("%s failed (%s); it will be retried by the next run", sp.name,
                      type(exc).__name__)
            return 1
        return 0

    # step 3 --------------------------------------------------------------------------------
    def finalize(self) -> dict[str, Any]:
        """Dataset files, participants, sessions.tsv, layout refresh; returns the summary."""
        t0 = time.perf_counter()
        self.timings["sessions"] = t0 - self.started - self.timings.get("plan", 0.0)
        bids = self.bids_dir
        changed = bool(bidsio.write_dataset_files(bids))
        sessions = self.ledger.sessions()
        subjects = sorted(s for s in sessions if (bids / f"sub-{s}").is_dir())
        for sub in subjects:
            on_disk = set(bidsio.existing_sessions(bids, sub))
            changed |= bidsio.write_sessions_tsv(
                bids, sub, {k: v for k, v in sessions[sub].items() if k in on_disk})
        clinical = self._clinical()
        covariates = {pseudonym(self.key, pid): rec for pid, rec in clinical.records.items()}
        changed |= bidsio.write_participants(bids, subjects, covariates)
        self.changed |= changed
        if self.changed:
            from tasks.ingest.layout import get_layout

            try:
                get_layout(bids, pybids_db_path(self.settings), reset_database=True)
            except Exception as exc:  # pybids failures must not fail the ingest
                log.warning("pybids layout refresh failed: %s", type(exc).__name__)
        self.ledger.close()
        if self.ingested_keys:
            resolved = mark_resolved(Path(self.settings.quarantine_dir or ""),
                                     self.ingested_keys, self.run_id)
            if resolved:
                log.info("%d quarantine item(s) resolved by this run", resolved)
        self.timings["finalize"] = time.perf_counter() - t0
        return self.summary(subjects=len(subjects))

    def _clinical(self) -> ClinicalResult:
        """Read every clinical export; quarantine unusable files, report held rows."""
        from calcisvd.io import sha256_file

        result = read_clinical_exports(clinical_files(self.drop_dir))
        register_identifiers("PatientID", result.records)  # redacted from every text
        items, rows = [], []
        for name, why in result.errors.items():
            rel = f"{CLINICAL_DIR}/{name}"
            try:
                sha = sha256_file(self.drop_dir / rel)
            except OSError:
                sha = ""
            items.append(QuarantineItem(reason=f"clinical CSV cannot be used: {rel}: {why}",
                                        category="clinical", files=[rel],
                                        hashes=[sha] if sha else []))
        self._quarantine(items, rows)
        for held in result.held:
            log.warning("clinical row held back: %s row %d: %s", held.file, held.row,
                        held.reason)
        if result.conflicts:
            log.info("%d clinical value change(s) between exports (the later export is used)",
                     len(result.conflicts))
        self.clinical_report = redact_obj(result.report())
        path = clinical_report_path(self.settings)
        write_text_atomic(path, json.dumps({"run_id": self.run_id, **self.clinical_report},
                                           indent=2) + "\n")
        return result

    def summary(self, **extra: Any) -> dict[str, Any]:
        """Counts and reasons, every text through the one redaction step (no identifiers)."""
        return redact_obj({
            "run_id": self.run_id,
            "status": "partial" if self.counts["quarantined"] else "ok",
            "ingested": self.counts["ingested"],
            "skipped": self.counts["skipped"],
            "quarantined": self.counts["quarantined"],
            "files_new": self.counts["files_new"],
            "files_unchanged": self.counts["files_unchanged"],
            "duplicate_files": self.counts["duplicates"],
            "dataset_changed": self.changed,
            "files_in_quarantine": self.counts["files_in_quarantine"],
            "skip_reasons": dict(sorted(self.skip_reasons.items())),
            "skipped_series": self.skipped_series,
            "waiting": len(self.waiting),
            "reconverted": self.counts["reconverted"],
            "relabelled_subjects": self.relabelled,
            "possible_duplicates": self.possible_duplicates,
            "waiting_series": self.waiting,
            "merged_sessions": self.merged,
            "quarantine_reasons": dict(sorted(self.quarantine_reasons.items())),
            "clinical": getattr(self, "clinical_report", {}),
            "seconds": round(time.perf_counter() - self.started, 3),
            "timings_s": {k: round(v, 3) for k, v in self.timings.items()},
            **extra,
        })


def locked_summary(run_id: str) -> dict[str, Any]:
    """Summary of a run that found another run holding the lock."""
    return {"run_id": run_id, "status": "locked", "ingested": 0, "skipped": 0,
            "quarantined": 0, "dataset_changed": False}


def run_ingest(settings: IngestConfig, *, run_id: str | None = None,
               lock_timeout_s: float | None = None) -> dict[str, Any]:
    """Plan, write every session (``settings.n_procs`` at a time), finalize; no Prefect."""
    run_id = run_id or make_run_id()
    try:
        with ingest_lock(settings, lock_timeout_s):
            run = IngestRun(settings, run_id=run_id)
            sessions = run.plan()
            workers = max(1, min(int(settings.n_procs or 1), len(sessions)))
            with ThreadPoolExecutor(max_workers=workers) as pool:
                # dcm2niix runs as a subprocess and zlib releases the GIL: threads overlap
                failed = sum(pool.map(run.try_ingest_session, sessions))
            summary = run.finalize()
            summary["failed_sessions"] = failed
            if failed:
                summary["status"] = "partial"
            return summary
    except LockBusy:
        log.warning("%s: another ingest run is in progress; nothing done", run_id)
        return locked_summary(run_id)
