"""Privacy audit: search every output for identifying data taken from the input DICOM.

The identifying values are read from the DICOM headers of the drop folder (what a hospital
export carries): patient name, patient ID, birth date, accession number, institution,
referring physician and study dates, plus the patient IDs of the clinical CSV. Every file under
the output roots is then searched for them: plain bytes, gzip members, NIfTI images' header
and extensions (where their text lives; voxel data is numbers, and reading it all took minutes
on a 12-patient home), Parquet and DuckDB files as their decoded text values. Inputs (drop/,
quarantine/) and the secrets folder are not outputs and are not searched.

A match is reported with the file and the *category* of the value, never the value itself,
so that the audit report does not leak what it found.

Matching is by whole token (no letter or digit on either side), with minimum lengths (IDs
:data:`MIN_ID_LEN`, name parts :data:`MIN_NAME_PART_LEN` characters) and a list of common
words (``common_words.txt``) that are not searched alone: a phantom whose PatientName is
``HEAD`` would otherwise match every "head" of the README, the HTML reports and the Prefect
database. Text with escapes (JSON ``\\n``, ``\\u00e9``, ``\\"``; logs and Prefect's
database hold JSON) is also searched with the escapes decoded, so that an ID written right
after an escaped newline (``...\\nMRN7741203``) is found.
"""

from __future__ import annotations

import csv
import gzip
import re
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from calcisvd.phi_forms import tokens_for

PHI_ATTRIBUTES: dict[str, str] = {
    "PatientName": "patient name",
    "PatientID": "patient ID",
    "PatientBirthDate": "birth date",
    "AccessionNumber": "accession number",
    "InstitutionName": "institution",
    "InstitutionAddress": "institution",
    "ReferringPhysicianName": "referring physician",
    "StudyDate": "study date",
    "SeriesDate": "study date",
    "AcquisitionDate": "study date",
}
@dataclass(frozen=True)
class Finding:
    """One identifying value (by category) found in one output file."""

    path: str
    category: str
    where: str  # "bytes", "gzip", "parquet", "duckdb:<table>.<column>"


def _csv_patient_ids(path: Path) -> list[str]:
    """``patient_id`` values of a CSV read as ingest reads clinical exports (any common
    encoding, ``,`` ``;`` or tab, header in any case), so that an export ingest could not use
    (its content then risks reaching an error message) is still searched for."""
    import io

    from tasks.ingest.clinical import ClinicalFileError, decode_bytes

    try:
        data = path.read_bytes()
    except OSError:
        return []
    try:
        text = decode_bytes(data)
    except ClinicalFileError:  # binary or a bad byte-order mark: read what can be read
        text = data.replace(b"\x00", b"").decode("utf-8", "replace")
    first = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
        reader.fieldnames = [f.strip().lower() for f in (reader.fieldnames or [])]
        return [(row.get("patient_id") or "").strip() for row in reader]
    except csv.Error:
        return []


def collect_phi(drop_dir: Path, max_files_per_series: int = 1) -> dict[str, str]:
    """Identifying strings found in the drop folder: ``token -> category``.

    Reads DICOM headers only (one file per series suffices: PHI is per study/patient) and the
    ``patient_id`` column of clinical CSV files.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    tokens: dict[str, str] = {}
    seen_series: dict[str, int] = {}
    for path in sorted(Path(drop_dir).rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        if path.suffix.lower() == ".csv":
            for pid in _csv_patient_ids(path):
                for t in tokens_for("PatientID", pid):
                    tokens[t] = "patient ID"
            continue
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True, force=False,
                                 specific_tags=list(PHI_ATTRIBUTES) + ["SeriesInstanceUID"])
        except (InvalidDicomError, OSError, ValueError, EOFError, AttributeError,
                TypeError, KeyError, struct.error):  # a header cut in its file meta
            continue
        uid = str(ds.get("SeriesInstanceUID", ""))
        if uid and seen_series.get(uid, 0) >= max_files_per_series:
            continue
        seen_series[uid] = seen_series.get(uid, 0) + 1
        for attr, category in PHI_ATTRIBUTES.items():
            for t in tokens_for(attr, str(ds.get(attr, "") or "")):
                tokens[t] = category
    return tokens


def _compile(tokens: dict[str, str]) -> re.Pattern[bytes] | None:
    if not tokens:
        return None
    alts = sorted({re.escape(t.encode("utf-8")) for t in tokens}, key=len, reverse=True)
    return re.compile(rb"(?<![A-Za-z0-9])(" + b"|".join(alts) + rb")(?![A-Za-z0-9])",
                      re.IGNORECASE)


_ESCAPE = re.compile(rb"\\(u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|[nrtbf\"'/\\\\])")
_SIMPLE = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f", b'"': b'"',
           b"'": b"'", b"/": b"/", b"\\": b"\\"}


def unescape(data: bytes) -> bytes:
    """``data`` with JSON/Python string escapes decoded (``\\n``, ``\\u00e9``, ``\\x41``, ...),
    twice over for doubly escaped JSON (JSON inside a JSON string, as Prefect stores it)."""
    def one(m: re.Match[bytes]) -> bytes:
        code = m.group(1)
        if code[:1] in (b"u", b"x"):
            return chr(int(code[1:], 16)).encode("utf-8", "replace")
        return _SIMPLE[code]

    for _ in range(2):
        if b"\\" not in data:
            break
        data = _ESCAPE.sub(one, data)
    return data


def _texts(path: Path) -> Iterator[tuple[str, bytes]]:
    """Decoded views of a file to search: ``(where, bytes)``."""
    for where, data in _raw_texts(path):
        yield where, data
        if b"\\" in data:
            decoded = unescape(data)
            if decoded != data:
                yield f"{where}+unescaped", decoded


#: a NIfTI file's text lives in its header and extensions (descrip, aux_file, intent_name,
#: db_name; extensions such as dcm2niix's); its voxel data is numbers
_NIFTI_TEXT_MAX = 64 << 20


def nifti_text_part(head: bytes) -> int | None:
    """Bytes of header plus extensions of a NIfTI-1/-2 file whose start is ``head`` (the
    ``vox_offset``), or None when ``head`` is not a NIfTI header (then the whole file is
    searched)."""
    for endian in ("<", ">"):
        if len(head) >= 352 and struct.unpack(endian + "i", head[:4])[0] == 348:
            offset = int(struct.unpack(endian + "f", head[108:112])[0])
        elif len(head) >= 544 and struct.unpack(endian + "i", head[:4])[0] == 540:
            offset = struct.unpack(endian + "q", head[168:176])[0]
        else:
            continue
        return offset if 348 <= offset <= _NIFTI_TEXT_MAX else None
    return None


def _nifti_text(path: Path) -> bytes | None:
    """Header and extensions of a NIfTI image (gzip or not); None when it is not one."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            head = f.read(544)
            size = nifti_text_part(head)
            return None if size is None else head[:size] + f.read(max(0, size - len(head)))
    except (OSError, EOFError):
        return None


def _raw_texts(path: Path) -> Iterator[tuple[str, bytes]]:
    name = path.name.lower()
    if name.endswith((".nii", ".nii.gz")):  # images: header and extensions, not voxels
        header = _nifti_text(path)
        if header is not None:
            yield "nifti-header", header
            return
    raw = path.read_bytes()
    yield "bytes", raw
    if name.endswith((".gz", ".pklz")) or raw[:2] == b"\x1f\x8b":  # gzip (Nipype's .pklz)
        try:
            unzipped: bytes | None = gzip.decompress(raw)
        except (OSError, EOFError):
            unzipped = None
        if unzipped is not None:
            yield "gzip", unzipped
    elif name.endswith(".parquet"):
        try:
            import pyarrow.parquet as pq

            table = pq.read_table(path)
            yield "parquet", "\n".join(map(str, table.to_pylist())).encode()
        except Exception:  # unreadable parquet: raw bytes were searched
            pass
    elif name.endswith((".duckdb", ".db")) and raw[8:12] == b"DUCK":
        yield from _duckdb_texts(path)


def _duckdb_texts(path: Path) -> Iterator[tuple[str, bytes]]:
    import duckdb

    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return
    try:
        cols = con.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE data_type IN ('VARCHAR', 'JSON') AND table_schema NOT IN "
            "('information_schema', 'pg_catalog')").fetchall()
        for schema, table, column in cols:
            rel = con.table(f'"{schema}"."{table}"').select(f'"{column}"')
            values = [r[0] for r in rel.fetchall() if r[0] is not None]
            yield f"duckdb:{table}.{column}", "\n".join(map(str, values)).encode()
    finally:
        con.close()


#: files of a work folder searched by :func:`text_files`: Nipype's crash reports, node
#: reports and results (gzip pickles of inputs and outputs), logs, sidecars, reportlets
TEXT_SUFFIXES = (".txt", ".rst", ".json", ".pklz", ".log", ".tsv", ".csv", ".html", ".svg")


def text_files(root: Path) -> list[Path]:
    """The text files under ``root`` (a work folder): images there are intermediate copies of
    BIDS images, which are searched where they are kept, and reading them all takes minutes."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*")
                  if p.is_file() and p.name.lower().endswith(TEXT_SUFFIXES))


def scan(roots: Iterable[Path], tokens: dict[str, str],
         exclude: Iterable[Path] = ()) -> tuple[list[Finding], int]:
    """Search every file under ``roots``; returns findings and the number of files searched."""
    pattern = _compile(tokens)
    lower = {t.lower().encode("utf-8"): c for t, c in tokens.items()}
    excluded = [Path(e).resolve() for e in exclude]
    findings: list[Finding] = []
    n_files = 0
    for root in roots:
        root = Path(root)
        if not root.exists():
            continue
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            rp = path.resolve()
            if any(rp == e or e in rp.parents for e in excluded) or path.is_symlink():
                continue
            n_files += 1
            if pattern is None:
                continue
            for where, data in _texts(path):
                for match in {m.group(1).lower() for m in pattern.finditer(data)}:
                    findings.append(Finding(str(path), lower.get(match, "identifier"), where))
    return findings, n_files
