"""Read the BIDS dataset and the quantification derivatives into staging-shaped DataFrames.

Only files are read (never recomputed): ``participants.tsv``, ``sub-*/sub-*_sessions.tsv``,
``sub-*/ses-*/anat/*.nii.gz`` with their JSON sidecars, ``<derivatives>/sub-*/ses-*/
sub-*_ses-*_measures.json`` (shape in :mod:`calcisvd.measures`) and quarantine reason files.
Values are coerced to the warehouse column types; a value that cannot be coerced becomes NULL and
is reported in :attr:`Batch.problems` (and the ``ingest_log`` table).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calcisvd.measures import (
    ARTERY_MEASURES,
    ICAC_ARTERY_LOCATION,
    ICAC_QC_MEASURES,
    ICAC_SESSION_MEASURES,
    IQM_UNITS,
    SVD_MEASURES,
    SVD_QC,
    markers_of,
)

#: column -> kind (``str``, ``float``, ``int``, ``bool``, ``json``) of each staged table
COLUMNS: dict[str, dict[str, str]] = {
    "subjects": {
        "subject": "str", "sex": "str", "age": "float", "smoking": "bool",
        "hypertension": "bool", "diabetes": "bool", "hyperlipidaemia": "bool",
        "heart_disease": "bool", "prior_stroke": "bool",
    },
    "sessions": {
        "subject": "str", "session": "str", "visit": "str", "days_since_baseline": "int",
        "has_ct": "bool", "has_t1w": "bool", "has_t2w": "bool", "has_flair": "bool",
        "has_t2starw": "bool", "n_scans": "int",
    },
    "scans": {
        "path": "str", "subject": "str", "session": "str", "modality": "str",
        "size_bytes": "int", "content_sha256": "str", "repetition_time": "float",
        "echo_time": "float", "inversion_time": "float", "kvp": "float",
        "slice_thickness": "float", "manufacturer": "str", "model": "str", "sidecar": "json",
    },
    "icac_artery_measures": {
        "subject": "str", "session": "str", "artery": "str", "side": "str",
        # calcisvd.measures.MARKER_REGISTRY (location columns: migration 002)
        **{m.name: m.dtype for m in markers_of("icac_artery_measures")},
    },
    "icac_session_measures": {
        "subject": "str", "session": "str", "status": "str", "reason": "str",
        **{m.name: m.dtype for m in markers_of("icac_session_measures")},
        "code_version": "str", "code_revision": "str",
        "inputs_hash": "str", "quantified_at": "str",
        # calcisvd.measures.ICAC_QC_MEASURES (migration 002)
        "qc_intracranial_volume_ml": "float", "qc_intracranial_coverage": "float",
        "qc_air_hu": "float", "qc_csf_hu": "float", "qc_brain_hu": "float",
        "qc_registration_dice": "float", "qc_slice_thickness_mm": "float",
        "qc_gantry_tilt_deg": "float", "qc_kvp": "float",
    },
    "svd_measures": {
        "subject": "str", "session": "str", "status": "str", "reason": "str",
        **{m.name: m.dtype for m in markers_of("svd_measures")},
        "code_version": "str",
        "code_revision": "str", "inputs_hash": "str", "quantified_at": "str",
        # calcisvd.measures.SVD_QC as qc_<name> (svd.qc of the measures JSON; migration 003)
        **{f"qc_{name}": "float" for name in SVD_QC},
    },
    # image-quality metrics, long (migration 004; tasks.qc.iqm)
    "session_iqms": {
        "subject": "str", "session": "str", "modality": "str", "metric": "str",
        "value": "float", "unit": "str",
    },
}
assert set(ARTERY_MEASURES) <= set(COLUMNS["icac_artery_measures"])
assert set(ICAC_SESSION_MEASURES) <= set(COLUMNS["icac_session_measures"])
assert set(ICAC_ARTERY_LOCATION) <= set(COLUMNS["icac_artery_measures"])
assert set(ICAC_QC_MEASURES) <= set(COLUMNS["icac_session_measures"])
assert set(SVD_MEASURES) <= set(COLUMNS["svd_measures"])

#: BIDS filename tail -> modality
MODALITY_BY_SUFFIX: dict[str, str] = {"ct": "ct", "T1w": "T1w", "T2w": "T2w", "FLAIR": "FLAIR",
                                      "T2starw": "T2starw"}
_TRUE = {"yes", "y", "true", "1", "t"}
_FALSE = {"no", "n", "false", "0", "f"}
_NA = {"", "n/a", "na", "nan", "none", "null"}


@dataclass
class Batch:
    """Rows read from the files, per staged table, plus quarantine rows and read problems."""

    rows: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {t: [] for t in COLUMNS})
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # (path, message)
    hash_cache: list[dict[str, Any]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Number of rows read per table."""
        return {t: len(r) for t, r in self.rows.items()}

    def extend(self, other: Batch) -> None:
        """Append the rows, quarantine rows, problems and hashes of ``other``."""
        for table, rows in other.rows.items():
            self.rows[table] += rows
        self.quarantine += other.quarantine
        self.problems += other.problems
        self.hash_cache += other.hash_cache


# coercion -------------------------------------------------------------------------------------
def _is_na(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in _NA)


_NA_EXACT = frozenset({"", "n/a", "N/A", "NA", "na", "nan", "NaN", "None", "none", "null",
                       "NULL"})


def _slow_numbers(values: list[Any], where: list[str], column: str,
                  problems: list[tuple[str, str]]) -> Any:
    """Element-wise float conversion; NA spellings become NaN, junk a NaN plus a problem."""
    import numpy as np

    num = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        if _is_na(v):
            continue
        try:
            num[i] = float(v)
        except (TypeError, ValueError):
            problems.append((where[i], f"{column}: not a number: {v!r}"))
    return num


def _coerce_column(kind: str, values: list[Any], where: list[str], column: str,
                   problems: list[tuple[str, str]]) -> Any:
    """Vectorised coercion of one column; values that cannot be coerced become NA + a problem."""
    import numpy as np
    import pandas as pd

    if kind == "json":  # JSON text as read (kept verbatim), or an object to serialise
        return pd.array([None if v is None or v != v else v if type(v) is str
                         else json.dumps(v, sort_keys=True) for v in values], dtype=object)
    if kind == "str":
        return pd.array([None if v is None or v != v or (type(v) is str and v in _NA_EXACT)
                         else v if type(v) is str else str(v) for v in values], dtype=object)
    if kind == "bool":
        out = []
        for i, v in enumerate(values):
            if v is None or type(v) is bool or v != v:
                out.append(None if v is None or v != v else v)
                continue
            text = str(v).strip().lower()
            b = True if text in _TRUE else False if text in _FALSE else None
            if b is None and text not in _NA:
                problems.append((where[i], f"{column}: not yes/no: {v!r}"))
            out.append(b)
        return pd.array(out, dtype="boolean")
    try:  # fast path: numbers (and numeric strings) from JSON/TSV
        num = np.array(values, dtype="float64")
    except (TypeError, ValueError):
        num = _slow_numbers(values, where, column, problems)
    if kind == "int":
        frac = ~np.isnan(num) & (np.mod(num, 1) != 0)
        for i in np.flatnonzero(frac):
            problems.append((where[i], f"{column}: not an integer: {values[i]!r}"))
        num[frac] = np.nan
        return pd.array(num, dtype="Float64").astype("Int64")
    return pd.array(num, dtype="Float64")


def frame(table: str, rows: list[dict[str, Any]],
          problems: list[tuple[str, str]] | None = None) -> Any:
    """A pandas DataFrame of raw ``rows`` coerced to the staged table's column types.

    Each row may carry ``_where`` (its source file) used to report coercion problems.
    """
    import pandas as pd

    problems = [] if problems is None else problems
    cols = list(COLUMNS[table])
    raw = pd.DataFrame.from_records(rows, columns=[*cols, "_where"]) if rows else None
    where = ([] if raw is None else
             [str(w) if w is not None else table for w in raw["_where"].tolist()])
    out = {}
    for c, kind in COLUMNS[table].items():
        values = [] if raw is None else raw[c].tolist()
        out[c] = _coerce_column(kind, values, where, c, problems)
    return pd.DataFrame(out)


def _row(table: str, raw: dict[str, Any], where: str) -> dict[str, Any]:
    """Keep the table's columns of ``raw`` (values still raw) and the source location."""
    out = {c: raw.get(c) for c in COLUMNS[table]}
    out["_where"] = where
    return out


# BIDS -----------------------------------------------------------------------------------------
def _read_tsv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def _strip(prefix: str, label: str | None) -> str | None:
    if label is None:
        return None
    return label[len(prefix):] if label.startswith(prefix) else label


def _modality(filename: str) -> str | None:
    stem = filename[:-len(".nii.gz")] if filename.endswith(".nii.gz") else filename
    return MODALITY_BY_SUFFIX.get(stem.rsplit("_", 1)[-1])


def _sha256(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def read_participants(bids_dir: Path, batch: Batch) -> None:
    """Add the rows of ``participants.tsv`` (if any) to ``batch``."""
    participants = bids_dir / "participants.tsv"
    if participants.is_file():
        for i, raw in enumerate(_read_tsv(participants)):
            row = dict(raw, subject=_strip("sub-", raw.get("participant_id")))
            batch.rows["subjects"].append(
                _row("subjects", row, f"participants.tsv:{i + 2}"))


def subject_dirs(root: Path) -> list[str]:
    """Sorted ``sub-*`` folder names directly under ``root`` (none when it does not exist)."""
    if not root.is_dir():
        return []
    return sorted(e.name for e in os.scandir(root) if e.is_dir() and e.name.startswith("sub-"))


def read_bids(bids_dir: Path, batch: Batch,
              cached_hash: Callable[[str, int, int], str | None] | None = None, *,
              subjects: list[str] | None = None, participants: bool = True) -> None:
    """Add subjects, sessions and scans of the BIDS dataset at ``bids_dir`` to ``batch``.

    ``cached_hash(relpath, size, mtime_ns)`` returns a known SHA-256 so unchanged images are not
    read again. ``subjects`` (``sub-*`` folder names) limits the folders read;
    ``participants=False`` leaves out ``participants.tsv`` (both for reading in chunks).
    """
    if participants:
        read_participants(bids_dir, batch)
    names = subject_dirs(bids_dir) if subjects is None else sorted(subjects)
    for name in names:
        sub_entry = Path(bids_dir) / name
        if not sub_entry.is_dir():
            continue
        subject = sub_entry.name[4:]
        sub_dir = sub_entry
        days: dict[str, Any] = {}
        sessions_tsv = sub_dir / f"{sub_entry.name}_sessions.tsv"
        if sessions_tsv.is_file():
            for raw in _read_tsv(sessions_tsv):
                days[_strip("ses-", raw.get("session_id")) or ""] = raw.get("days_since_baseline")
        ses_dirs = {e.name[4:]: Path(e.path) for e in os.scandir(sub_dir)
                    if e.is_dir() and e.name.startswith("ses-")}
        for session in sorted(set(days) | set(ses_dirs)):
            where = f"{sub_entry.name}/ses-{session}"
            modalities: set[str] = set()
            n_scans = 0
            anat = ses_dirs.get(session, sub_dir / f"ses-{session}") / "anat"
            if anat.is_dir():
                for f in sorted(os.scandir(anat), key=lambda e: e.name):
                    if not f.name.endswith(".nii.gz"):
                        continue
                    modality = _modality(f.name)
                    if modality is None:
                        continue
                    n_scans += 1
                    modalities.add(modality)
                    batch.rows["scans"].append(_scan_row(
                        str(bids_dir), f.path, f.stat(), subject, session, modality,
                        cached_hash, batch))
            label_days = days.get(session)
            batch.rows["sessions"].append(_row("sessions", {
                "subject": subject, "session": session,
                "visit": "baseline" if session == "M00" else "followup",
                "days_since_baseline": label_days,
                "has_ct": "ct" in modalities, "has_t1w": "T1w" in modalities,
                "has_t2w": "T2w" in modalities, "has_flair": "FLAIR" in modalities,
                "has_t2starw": "T2starw" in modalities, "n_scans": n_scans,
            }, where))


def _scan_row(bids_root: str, path: str, st: os.stat_result, subject: str, session: str,
              modality: str, cached_hash: Callable[[str, int, int], str | None] | None,
              batch: Batch) -> dict[str, Any]:
    rel = path[len(bids_root) + 1:] if path.startswith(bids_root + os.sep) else path
    digest = cached_hash(rel, st.st_size, st.st_mtime_ns) if cached_hash else None
    if digest is None:
        digest = _sha256(path)
        batch.hash_cache.append({"path": rel, "size_bytes": st.st_size,
                                 "mtime_ns": st.st_mtime_ns, "sha256": digest})
    sidecar: dict[str, Any] = {}
    text = None
    side_path = path[:-len(".nii.gz")] + ".json"
    try:
        with open(side_path, encoding="utf-8") as fh:
            text = fh.read()
        sidecar = json.loads(text)
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        batch.problems.append((rel[:-len(".nii.gz")] + ".json", str(exc)))
    return _row("scans", {
        "path": rel, "subject": subject, "session": session, "modality": modality,
        "size_bytes": st.st_size, "content_sha256": digest,
        "repetition_time": sidecar.get("RepetitionTime"), "echo_time": sidecar.get("EchoTime"),
        "inversion_time": sidecar.get("InversionTime"), "kvp": sidecar.get("KVP"),
        "slice_thickness": sidecar.get("SliceThickness"),
        "manufacturer": sidecar.get("Manufacturer"),
        "model": sidecar.get("ManufacturersModelName"), "sidecar": text if sidecar else None,
    }, rel)


# derivatives ----------------------------------------------------------------------------------
def measures_files(derivatives_dir: Path, subjects: list[str] | None = None) -> list[Path]:
    """Every ``sub-*/ses-*/sub-*_ses-*_measures.json`` under ``derivatives_dir`` (only those of
    ``subjects``, ``sub-*`` names, when given), sorted."""
    out: list[Path] = []
    names = subject_dirs(derivatives_dir) if subjects is None else sorted(subjects)
    for name in names:
        sub = Path(derivatives_dir) / name
        if not sub.is_dir():
            continue
        for ses in sorted(os.scandir(sub), key=lambda e: e.name):
            if ses.is_dir() and ses.name.startswith("ses-"):
                p = Path(ses.path) / f"{name}_{ses.name}_measures.json"
                if p.is_file():
                    out.append(p)
    return out


def read_measures(derivatives_dir: Path, batch: Batch,
                  subjects: list[str] | None = None) -> None:
    """Add the ICAC (per artery, per session) and SVD rows of every measures.json to ``batch``."""
    for path in measures_files(derivatives_dir, subjects):
        rel = path.relative_to(derivatives_dir).as_posix()
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            batch.problems.append((rel, f"unreadable measures file: {exc}"))
            continue
        add_measures_doc(doc, rel, batch)


def add_measures_doc(doc: Mapping[str, Any], where: str, batch: Batch) -> None:
    """Add one parsed measures.json document (see :mod:`calcisvd.measures`) to ``batch``."""
    keys = {"subject": _strip("sub-", doc.get("subject")),
            "session": _strip("ses-", doc.get("session"))}
    pipe = doc.get("pipeline") or {}
    prov = {"code_version": pipe.get("version"), "code_revision": pipe.get("code_revision"),
            "inputs_hash": pipe.get("inputs_hash"), "quantified_at": pipe.get("created")}
    from calcisvd.redact import redact

    icac = dict(doc.get("icac") or {"status": "missing", "reason": "no icac block"})
    svd = dict(doc.get("svd") or {"status": "missing", "reason": "no svd block"})
    for block in (icac, svd):  # a failure reason is text from a workflow: the redaction step
        if isinstance(block.get("reason"), str):
            block["reason"] = redact(block["reason"])
    batch.rows["icac_session_measures"].append(
        _row("icac_session_measures", {**icac, **keys, **prov}, where))
    qc = svd.get("qc") if isinstance(svd.get("qc"), Mapping) else {}
    batch.rows["svd_measures"].append(
        _row("svd_measures", {**svd, **{f"qc_{k}": v for k, v in qc.items()}, **keys, **prov},
             where))
    for art in icac.get("arteries") or []:
        batch.rows["icac_artery_measures"].append(
            _row("icac_artery_measures", {**art, **keys}, where))
    for block in (svd, icac):
        iqms = block.get("iqms")
        for modality, metrics in (iqms.items() if isinstance(iqms, Mapping) else ()):
            for metric, value in (metrics.items() if isinstance(metrics, Mapping) else ()):
                batch.rows["session_iqms"].append(_row("session_iqms", {
                    **keys, "modality": modality, "metric": metric, "value": value,
                    "unit": IQM_UNITS.get(metric, "n/a")}, where))


def read_subjects_chunk(bids_dir: str, derivatives_dir: str, subjects: list[str],
                        known_hashes: dict[str, tuple[int, int, str]]) -> Batch:
    """Sessions, scans and measures of some subjects (``sub-*`` names) as one :class:`Batch`:
    the unit of work when the warehouse load reads a large tree in several processes.
    ``known_hashes`` maps a BIDS-relative path to ``(size, mtime_ns, sha256)``."""
    def cached(rel: str, size: int, mtime_ns: int) -> str | None:
        hit = known_hashes.get(rel)
        return hit[2] if hit and hit[0] == size and hit[1] == mtime_ns else None

    batch = Batch()
    read_bids(Path(bids_dir), batch, cached_hash=cached, subjects=subjects, participants=False)
    read_measures(Path(derivatives_dir), batch, subjects)
    return batch


# quarantine -----------------------------------------------------------------------------------
def _path_free(doc: dict[str, Any]) -> dict[str, Any]:
    """A quarantine record without its file list (a SHA-256 of it instead), every text through
    the one redaction step (calcisvd/redact.py)."""
    from calcisvd.io import source_hash
    from calcisvd.redact import redact_obj

    files = doc.get("files")
    out = {k: v for k, v in doc.items() if k not in ("files", "drop_dir", "path")}
    if isinstance(files, list):
        out["source"] = source_hash([str(f) for f in files])
    elif doc.get("path") is not None:
        out["source"] = source_hash([str(doc["path"])])
    return redact_obj(out)


def read_quarantine(quarantine_dir: Path, batch: Batch) -> None:
    """Add one row per reason file ``quarantine/**/*.json`` (if the folder exists).

    Copies of the quarantined input (``<id>/files/...``, see tasks/ingest/quarantine.py) are
    not reason files and are skipped.
    """
    if not quarantine_dir.is_dir():
        return
    for path in sorted(quarantine_dir.rglob("*.json")):
        rel = path.relative_to(quarantine_dir).as_posix()
        if "files" in rel.split("/")[:-1]:
            continue
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            doc = {"reason": f"unreadable reason file: {exc}"}
        if not isinstance(doc, dict):
            doc = {"reason": str(doc)}
        if isinstance(doc.get("public"), dict):
            # ingestion's path-free part: export folder names may carry patient names
            doc = {**doc["public"], "source": doc["public"].get("source_sha256")}
        else:  # another writer's record: paths leave as a hash, the text redacted
            doc = _path_free(doc)
        source = doc.get("source") or doc.get("path")
        batch.quarantine.append({
            "path": rel, "reason": None if doc.get("reason") is None else str(doc["reason"]),
            "source": None if source is None else str(source),
            "details": json.dumps(doc, sort_keys=True, default=str),
        })
