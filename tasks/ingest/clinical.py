"""Clinical CSV exports (``drop/clinical/*.csv``): decoding, row checks, one row per patient.

Rules (documented in docs/reliability.md, "Clinical CSVs"):

* Encoding: a byte-order mark decides (UTF-8, UTF-16 LE/BE, UTF-32); without one, UTF-8 is
  tried, then UTF-16 when every other byte is zero, then cp1252 (Windows Western, a superset
  of Latin-1's printable range), then Latin-1. A file holding NUL or other control bytes
  after decoding is not text: that file is an error (quarantined), never guessed at.
* Delimiter: comma, semicolon or tab, whichever the header line uses most.
* An empty file (0 bytes, or a header without rows) is an error for that file.
* Rows: a row whose ``patient_id`` is blank, whose covariates are all blank, or a patient
  given two different rows in one file is *held back* (reported with file name, row number
  and reason, never applied); identical repeated rows are counted once and reported.
* Several files: every file is read, oldest export first (the export date is the first
  ``YYYYMMDD`` in the file name, then the modification time); a later export's row replaces
  an earlier one for the same patient, and each changed value is reported as a conflict.
* Patient IDs go through :func:`tasks.ingest.deid.normalise_patient_id` (case, spaces).

Reports name files, row numbers, columns and counts only: never an ID or a cell's content
(exception text included), so nothing identifying reaches logs or Prefect.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from tasks.ingest.bidsio import CLINICAL_COLUMNS
from tasks.ingest.deid import normalise_patient_id

_YES_NO = {"yes": "yes", "no": "no", "y": "yes", "n": "no", "1": "yes", "0": "no",
           "true": "yes", "false": "no"}
_SEX = {"m": "M", "male": "M", "f": "F", "female": "F"}
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
         (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
         (codecs.BOM_UTF16_BE, "utf-16-be"))
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_DATE = re.compile(r"(?<!\d)(\d{8})(?!\d)")
#: the most a clinical CSV may hold (bytes): a cohort export is kilobytes to a few megabytes
MAX_BYTES = 64 * 1024 * 1024


class ClinicalFileError(ValueError):
    """A clinical CSV that cannot be used as a whole (the message never quotes content)."""


@dataclass
class HeldRow:
    """A row not applied, with where it is and why (no identifiers)."""

    file: str
    row: int  # line number in the file (header = 1)
    reason: str

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly form."""
        return {"file": self.file, "row": self.row, "reason": self.reason}


@dataclass
class ClinicalResult:
    """Covariates per normalised patient ID, and everything held back or reported."""

    records: dict[str, dict[str, str]] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # file name -> reason
    held: list[HeldRow] = field(default_factory=list)
    repeated: int = 0  # identical rows given twice in one file (applied once)
    conflicts: list[dict[str, object]] = field(default_factory=list)  # later export changed

    def report(self) -> dict[str, object]:
        """PHI-free summary for the ingest summary and ``status``: a file is named by its
        path token (``<drop>/<12 hex>``, calcisvd/redact.py; an export's name may carry
        identifiers), the same token the logs give it."""
        from calcisvd.redact import path_token

        def name(file: str) -> str:
            return path_token(f"clinical/{file}")

        return {"files": [name(f) for f in self.files], "patients": len(self.records),
                "errors": {name(f): why for f, why in sorted(self.errors.items())},
                "held_rows": [{**h.as_dict(), "file": name(h.file)} for h in self.held],
                "repeated_rows": self.repeated,
                "conflicts": [{**c, "file": name(str(c["file"]))} for c in self.conflicts]}


def decode_bytes(data: bytes) -> str:
    """Text of a CSV export in any common encoding (see the module docstring)."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return _text_only(data[len(bom):].decode(encoding))
            except UnicodeDecodeError:
                raise ClinicalFileError(f"not valid {encoding} after its byte-order "
                                        "mark") from None
    try:
        return _text_only(data.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    if len(data) >= 4 and data.count(0) * 3 >= len(data):  # UTF-16 without a BOM
        even_zero = data[0::2].count(0) > data[1::2].count(0)
        try:
            return _text_only(data.decode("utf-16-be" if even_zero else "utf-16-le"))
        except UnicodeDecodeError:
            pass
    try:
        return _text_only(data.decode("cp1252"))
    except UnicodeDecodeError:
        return _text_only(data.decode("latin-1"))


def _text_only(text: str) -> str:
    if _CONTROL.search(text):
        raise ClinicalFileError("binary content (control characters): not a text CSV")
    return text


def export_key(path: Path) -> tuple[str, str, int]:
    """Sort key of an export: date in the name (``YYYYMMDD``), name, modification time."""
    m = _DATE.search(path.name)
    return (m.group(1) if m else "", path.name, path.stat().st_mtime_ns)


def _normalise(col: str, raw: str) -> str:
    if col == "age":
        try:
            age = float(raw)
        except ValueError:
            return "n/a"
        if age != age or age in (float("inf"), float("-inf")):
            return "n/a"
        return str(int(age)) if age.is_integer() else f"{age:g}"
    if col == "sex":
        return _SEX.get(raw.lower(), "n/a")
    return _YES_NO.get(raw.lower(), "n/a")


def read_clinical_file(path: Path) -> tuple[dict[str, tuple[int, dict[str, str]]],
                                            list[HeldRow], int]:
    """Rows of one export: ``{patient_id: (line, covariates)}``, held rows, repeats.

    Raises :class:`ClinicalFileError` (or ``OSError``) when the file cannot be used.
    """
    name = path.name
    size = path.stat().st_size
    if size == 0:
        raise ClinicalFileError("empty file (0 bytes)")
    if size > MAX_BYTES:
        raise ClinicalFileError(f"larger than {MAX_BYTES // 2**20} MiB: not a clinical export")
    text = decode_bytes(path.read_bytes())
    first = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
        fields = [f.strip().lower() for f in (reader.fieldnames or [])]
        if "patient_id" not in fields:
            raise ClinicalFileError("no patient_id column in the header")
        reader.fieldnames = fields
        seen: dict[str, tuple[int, dict[str, str]]] = {}
        held: list[HeldRow] = []
        conflicted: set[str] = set()
        repeated = 0
        n_rows = 0
        for row in reader:
            line = reader.line_num
            n_rows += 1
            values = {k: (v or "").strip() for k, v in row.items()
                      if isinstance(k, str) and isinstance(v, str)}
            pid = normalise_patient_id(values.get("patient_id", ""))
            if not pid:
                what = ("blank row" if not any(values.values())
                        else "no patient_id (the row cannot be attributed)")
                held.append(HeldRow(name, line, what))
                continue
            if not any(values.get(c) for c in CLINICAL_COLUMNS):
                held.append(HeldRow(name, line, "every covariate blank (it would wipe the "
                                                "subject's covariates)"))
                continue
            rec = {c: _normalise(c, values.get(c, "")) for c in CLINICAL_COLUMNS}
            if pid in conflicted:
                held.append(HeldRow(name, line, "patient given several different rows in this "
                                                "file"))
            elif pid in seen:
                first_line, first_rec = seen[pid]
                if first_rec == rec:
                    repeated += 1
                    continue
                del seen[pid]
                conflicted.add(pid)
                held += [HeldRow(name, first_line, "patient given several different rows in "
                                                   "this file"),
                         HeldRow(name, line, "patient given several different rows in this "
                                             "file")]
            else:
                seen[pid] = (line, rec)
    except csv.Error:
        raise ClinicalFileError("malformed CSV (quoting or line structure)") from None
    if n_rows == 0:
        raise ClinicalFileError("no rows after the header")
    return seen, sorted(held, key=lambda h: h.row), repeated


def read_clinical_exports(files: list[Path]) -> ClinicalResult:
    """Every export in ``files``, oldest first; see the module docstring."""
    res = ClinicalResult()
    dated = []
    for path in files:
        try:
            dated.append((export_key(path), path))
        except OSError as exc:
            res.errors[path.name] = f"cannot be read ({exc.strerror or type(exc).__name__})"
    for _, path in sorted(dated, key=lambda t: t[0]):
        try:
            rows, held, repeated = read_clinical_file(path)
        except ClinicalFileError as exc:
            res.errors[path.name] = str(exc)
            continue
        except OSError as exc:
            res.errors[path.name] = f"cannot be read ({exc.strerror or type(exc).__name__})"
            continue
        res.files.append(path.name)
        res.held += held
        res.repeated += repeated
        for pid, (line, rec) in rows.items():
            old = res.records.get(pid)
            if old is not None and old != rec:
                changed = sorted(c for c in CLINICAL_COLUMNS if old.get(c) != rec.get(c))
                res.conflicts.append({"file": path.name, "row": line, "columns": changed,
                                      "resolution": "the later export's values are used"})
            res.records[pid] = rec
    return res


def clinical_files(drop_dir: Path) -> list[Path]:
    """Every ``drop/clinical/*.csv`` (case-insensitive suffix), regular files only."""
    folder = Path(drop_dir) / "clinical"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.suffix.lower() == ".csv" and p.is_file() and not p.is_symlink())
