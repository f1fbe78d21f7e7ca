"""Dataset-level BIDS files and the secret side files, all written atomically and only on change.

Writes ``dataset_description.json`` (BIDS 1.10.0, raw), ``README``, ``.bidsignore``,
``participants.tsv``/``.json`` (clinical covariates read by :mod:`tasks.ingest.clinical`),
``sub-X/sub-X_sessions.tsv`` (``session_id``, ``days_since_baseline``) and
``sub-X/ses-Y/sub-X_ses-Y_scans.tsv`` (``filename`` only: no acquisition dates). In
``secrets/``: the re-identification map and the subjects' baseline dates.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from tasks.ingest.fsutil import write_text_atomic

BIDS_VERSION: Final[str] = "1.10.0"
CLINICAL_COLUMNS: Final[tuple[str, ...]] = (
    "age", "sex", "smoking", "hypertension", "diabetes", "hyperlipidaemia", "heart_disease",
    "prior_stroke",
)
PARTICIPANTS_JSON: Final[dict] = {
    "participant_id": {"Description": "Keyed pseudonym of the subject (HMAC-SHA256 of the "
                                      "hospital patient ID, first 10 hex characters)"},
    "age": {"Description": "Age at the baseline visit", "Units": "year"},
    "sex": {"Description": "Sex as recorded by the hospital",
            "Levels": {"M": "male", "F": "female"}},
    **{name: {"Description": desc, "Levels": {"yes": "present", "no": "absent"}}
       for name, desc in (
           ("smoking", "Current or former smoker"),
           ("hypertension", "History of hypertension"),
           ("diabetes", "History of diabetes mellitus"),
           ("hyperlipidaemia", "History of hyperlipidaemia"),
           ("heart_disease", "History of heart disease"),
           ("prior_stroke", "History of stroke before the baseline visit"))},
}
README_TEXT: Final[str] = """\
# calcisvd BIDS dataset

Head CT and brain MRI of a cohort studied for intracranial artery calcification (ICAC) and
cerebral small-vessel disease (SVD), written by `calcisvd ingest`.

- Subjects are keyed pseudonyms; no names, hospital IDs, dates or institutions are stored.
- Sessions are labelled `M<months>` since the subject's first study (`M00` baseline,
  `M12` one-year follow-up); `sub-*/sub-*_sessions.tsv` gives `days_since_baseline`.
- MRI: `T1w`, `T2w`, `FLAIR`, `acq-swi_T2starw` (T2*/SWI). Head CT is stored as
  `anat/*_ct.nii.gz` (Hounsfield units); CT is not part of BIDS yet, so it is listed in
  `.bidsignore`.
- Clinical covariates are in `participants.tsv` (described in `participants.json`).
- Derivatives of the calcisvd pipeline are under `derivatives/calcisvd/`.
"""
BIDSIGNORE: Final[str] = "**/*_ct.*\n"
SESSIONS_JSON: Final[dict] = {
    "days_since_baseline": {"Description": "Days between the subject's first study and this "
                                           "session's study", "Units": "day"},
}


def _json_text(obj: object) -> str:
    return json.dumps(obj, indent=2) + "\n"


def write_dataset_files(bids_dir: Path, name: str = "calcisvd cohort") -> list[Path]:
    """Write the top-level files; returns those that changed."""
    desc = {
        "Name": name,
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "raw",
        "License": "restricted: de-identified clinical data, authorised use only",
        "GeneratedBy": [{"Name": "calcisvd ingest", "Description":
                         "DICOM to BIDS with dcm2niix, keyed pseudonyms, sidecar allow-list"}],
    }
    changed = []
    for rel, text in (("dataset_description.json", _json_text(desc)), ("README", README_TEXT),
                      (".bidsignore", BIDSIGNORE),
                      ("participants.json", _json_text(PARTICIPANTS_JSON)),
                      ("sessions.json", _json_text(SESSIONS_JSON))):
        if write_text_atomic(bids_dir / rel, text):
            changed.append(bids_dir / rel)
    return changed


def _tsv(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter="\t", lineterminator="\n")
    w.writerow(list(header))
    for r in rows:
        w.writerow(list(r))
    return buf.getvalue()


def write_participants(bids_dir: Path, subjects: Iterable[str],
                       covariates: dict[str, dict[str, str]]) -> bool:
    """``participants.tsv``: one row per subject (sorted), covariates or ``n/a``."""
    rows = []
    for sub in sorted(set(subjects)):
        rec = covariates.get(sub, {})
        rows.append([f"sub-{sub}", *(rec.get(c, "n/a") for c in CLINICAL_COLUMNS)])
    return write_text_atomic(bids_dir / "participants.tsv",
                             _tsv(("participant_id", *CLINICAL_COLUMNS), rows))


def write_sessions_tsv(bids_dir: Path, subject: str, sessions: dict[str, int]) -> bool:
    """``sub-X/sub-X_sessions.tsv`` with ``session_id`` and ``days_since_baseline``."""
    rows = [[f"ses-{s}", d] for s, d in sorted(sessions.items(), key=lambda kv: (kv[1], kv[0]))]
    path = bids_dir / f"sub-{subject}" / f"sub-{subject}_sessions.tsv"
    return write_text_atomic(path, _tsv(("session_id", "days_since_baseline"), rows))


def scans_tsv_text(session_dir: Path) -> str:
    """``scans.tsv`` text for a (staged) session folder: every image, ``filename`` only."""
    files = sorted(p.relative_to(session_dir).as_posix()
                   for p in session_dir.glob("*/*.nii.gz"))
    return _tsv(("filename",), ([f] for f in files))



# secrets side files ----------------------------------------------------------------------
REID_COLUMNS: Final[tuple[str, ...]] = ("patient_id", "subject", "study_instance_uid",
                                        "session")


def read_tsv_rows(path: Path) -> list[dict[str, str]]:
    """Rows of a TSV file as dicts (empty when missing)."""
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def update_reid_map(path: Path, rows: Iterable[dict[str, str]]) -> bool:
    """Merge ``rows`` into the re-identification map (mode 0600), unique and sorted."""
    merged = {tuple(r[c] for c in REID_COLUMNS) for r in read_tsv_rows(path)}
    merged |= {tuple(r[c] for c in REID_COLUMNS) for r in rows}
    ordered = sorted(merged, key=lambda r: (r[1], r[3], r[2]))
    return write_text_atomic(path, _tsv(REID_COLUMNS, ordered), mode=0o600)


def read_baselines(path: Path) -> dict[str, str]:
    """subject -> ISO date of the first study (secret: exact dates)."""
    return json.loads(path.read_text()) if path.exists() else {}


def write_baselines(path: Path, baselines: dict[str, str]) -> bool:
    """Save subject -> baseline ISO date (mode 0600)."""
    return write_text_atomic(path, _json_text(dict(sorted(baselines.items()))), mode=0o600)


_SES = re.compile(r"^ses-(M\d+)$")


def existing_sessions(bids_dir: Path, subject: str) -> list[str]:
    """Session labels present on disk for ``subject``."""
    sub = bids_dir / f"sub-{subject}"
    return sorted(m.group(1) for p in sub.glob("ses-*") if (m := _SES.match(p.name)))
