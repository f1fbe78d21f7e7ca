"""Read DICOM headers cheaply and check that each file is complete.

One pass over the bytes gives the content hash and the header (pixel data is not decoded:
``defer_size`` makes pydicom seek past it, and the element's offset and length are compared
with the file size to detect truncation).
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

#: SOP classes that carry no image to convert (structured reports, presentation states, ...)
NON_IMAGE_SOP_PREFIXES: tuple[str, ...] = (
    "1.2.840.10008.5.1.4.1.1.88.",  # structured reports, incl. radiation dose SR
    "1.2.840.10008.5.1.4.1.1.11.",  # presentation states
    "1.2.840.10008.5.1.4.1.1.104.",  # encapsulated PDF/CDA
    "1.2.840.10008.5.1.4.1.1.66",  # raw data, registration, segmentation-like objects
    "1.2.840.10008.5.1.4.1.1.481.",  # RT objects
)
SECONDARY_CAPTURE_PREFIX = "1.2.840.10008.5.1.4.1.1.7"

NATIVE_SYNTAXES = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"}


#: the largest DICOM file read (bytes), unless configured (``ingest_max_file_mib``): an
#: enhanced multi-frame CT of 2,000 frames of 512x512 16-bit pixels is 1 GiB (PS3.3 A.38);
#: twice that leaves room for the largest exports while a 40 GB file is refused unread
MAX_FILE_BYTES = 2 << 30


class UnreadableFile(ValueError):
    """A file that cannot be ingested; ``str(exc)`` is a reason a person understands.

    ``series_uid`` is set when the header could be read (a truncated image), so the rest of
    its series can be held back too.
    """

    def __init__(self, message: str, series_uid: str = ""):
        super().__init__(message)
        self.series_uid = series_uid

    def __reduce__(self):  # keep series_uid across processes (headers read in a pool)
        return (type(self), (str(self), self.series_uid))


class RefusedUnread(UnreadableFile):
    """A file refused from its ``stat`` alone (sparse, larger than the bound): its content
    was never read, and is not hashed or copied either."""


def check_size(path: Path, max_bytes: int = MAX_FILE_BYTES) -> os.stat_result:
    """``stat`` of ``path``; :class:`RefusedUnread` when it is sparse (holes: it declares
    more data than the disk holds) or larger than ``max_bytes``."""
    from tasks.ingest.fsutil import is_sparse

    st = os.stat(path)
    if is_sparse(st):
        raise RefusedUnread(f"sparse file: {st.st_size} bytes declared, "
                            f"{st.st_blocks * 512} on disk; not read")
    if st.st_size > max_bytes:
        raise RefusedUnread(f"file of {st.st_size} bytes is larger than the bound of "
                            f"{max_bytes} bytes (ingest_max_file_mib); not read")
    return st


@dataclass(frozen=True)
class DicomInstance:
    """The header fields ingestion needs from one DICOM file (identifiers included)."""

    path: Path
    rel: str
    sha256: str
    size: int
    sop_uid: str
    sop_class: str
    patient_id: str
    study_uid: str
    series_uid: str
    study_date: str  # the first valid date of DATE_TAGS ("" when none is)
    modality: str
    image_type: tuple[str, ...] = ()
    series_description: str = ""
    protocol_name: str = ""
    series_number: int | None = None
    repetition_time: float | None = None
    echo_time: float | None = None
    inversion_time: float | None = None
    scanning_sequence: str = ""
    sequence_name: str = ""
    rows: int | None = None
    columns: int | None = None
    pixel_spacing: tuple[float, ...] = ()
    orientation: tuple[float, ...] = ()
    position: tuple[float, ...] = ()  # ImagePositionPatient (mm)
    echo: str = ""  # EchoNumbers: echoes of one series share slice positions
    has_pixels: bool = False
    date_source: str = ""  # which of DATE_TAGS gave ``study_date``
    # series-level classification fields (``full=True``)
    sequence_variant: str = ""
    slice_thickness: float | None = None  # mm
    kernel: str = ""  # ConvolutionKernel (CT)
    contrast_agent: str = ""  # ContrastBolusAgent
    b_value: float | None = None  # largest diffusion b-value found (s/mm^2)
    images_in_acquisition: int | None = None  # (0020,1002): the expected image count
    spacing_between_slices: float | None = None  # (0018,0088) mm, as the scanner declares
    person: str = ""  # "NAME|birth year|sex" (PHI: only hashed, never written or logged)
    extra: dict = field(default_factory=dict, compare=False)


def _float(value) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _floats(value, ndigits: int = 4) -> tuple[float, ...]:
    try:
        return tuple(round(float(v), ndigits) for v in (value or ()) if v != "")
    except (TypeError, ValueError):
        return ()


def _int(value: str) -> int | None:
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def _decode(ds, value: bytes) -> str:
    """Raw element bytes decoded with the file's SpecificCharacterSet (0008,0005).

    ASCII (the usual case) is decoded directly; otherwise :func:`pydicom.charset.decode_bytes`
    applies the declared character set(s) (e.g. ISO_IR 192 = UTF-8, ISO_IR 100 = latin-1),
    falling back to latin-1 when the declaration is missing or wrong.
    """
    if value.isascii():
        return value.decode("ascii")
    try:
        from pydicom.charset import decode_bytes

        return decode_bytes(value, list(ds._character_set), set())
    except Exception:  # an unknown or invalid character set: keep every byte
        return value.decode("latin-1")


def _text(ds, tag: int) -> str:
    """A string element's value without pydicom's value conversion (faster on every file).

    Multi-valued elements come back joined with a backslash, as stored in the file. Bytes are
    decoded with the file's SpecificCharacterSet (:func:`_decode`).
    """
    elem = ds.get_item(tag, keep_deferred=True)
    if elem is None:
        return ""
    value = elem.value
    if isinstance(value, bytes):
        return _decode(ds, value).strip("\x00 ")
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    try:
        return "\\".join(str(v) for v in value)
    except TypeError:
        return str(value)


#: visit date, in order of preference: StudyDate, SeriesDate, AcquisitionDate, ContentDate
DATE_TAGS: tuple[tuple[str, int], ...] = (
    ("StudyDate", 0x00080020), ("SeriesDate", 0x00080021), ("AcquisitionDate", 0x00080022),
    ("ContentDate", 0x00080023))


@functools.lru_cache(maxsize=4096)
def _valid_date(value: str) -> bool:
    from tasks.ingest.deid import parse_dicom_date

    return parse_dicom_date(value) is not None


def first_date(get) -> tuple[str, str]:
    """(value, attribute name) of the first valid date of :data:`DATE_TAGS`, ``get(tag)``
    giving each element's text; empty, masked (``***``) or impossible dates are missing.
    (Dates repeat over the files of a study: their validity is cached.)"""
    for name, tag in DATE_TAGS:
        value = (get(tag) or "").strip()
        if value and _valid_date(value):
            return value, name
    return "", ""


#: the elements every image is read for (the series-level fields need ``full=True``)
IMAGE_TAGS: list[int] = [
    0x00080005, 0x00080008, 0x00080016, 0x00080018, 0x00080020, 0x00080021, 0x00080022,
    0x00080023, 0x00080060,
    0x00100020, 0x00180086, 0x0020000D, 0x0020000E, 0x00200011, 0x00200032, 0x00200037,
    0x00280002, 0x00280008, 0x00280010, 0x00280011, 0x00280030, 0x00280100, 0x7FE00010,
]


def read_instance(path: Path, rel: str, *, full: bool = False, walk: bool = True,
                  max_bytes: int = MAX_FILE_BYTES) -> DicomInstance:
    """Read the header of one DICOM file and check its pixel data is complete.

    Per-image fields (UIDs, patient, geometry) are always read; the series-level description
    and timing fields only with ``full=True`` (done once per series, for classification).
    Raises :class:`UnreadableFile` for empty, non-DICOM, truncated or identifier-less files,
    :class:`RefusedUnread` (before reading) for sparse files and files over ``max_bytes``.
    With ``walk`` the elements are found by :mod:`tasks.ingest.dicomwalk` (several times
    faster); files it does not fully understand are read by pydicom.
    """
    check_size(path, max_bytes)
    with open(path, "rb") as fh:
        data = fh.read(max_bytes + 1)  # grown since the stat: still no more than the bound
    if len(data) > max_bytes:
        raise RefusedUnread(f"file grew past the bound of {max_bytes} bytes while read")
    if not data:
        raise UnreadableFile("empty file (0 bytes)")
    sha = hashlib.sha256(data).hexdigest()
    if walk:
        fast = _from_walk(path, rel, data, sha, full)
        if fast is not None:
            return fast
    import pydicom  # imported only when needed: ~0.5 s, in every worker process
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(io.BytesIO(data), defer_size=1024,
                             specific_tags=None if full else IMAGE_TAGS)
    except InvalidDicomError:
        raise UnreadableFile("not a DICOM file (no DICM preamble or readable header)") from None
    except Exception as exc:  # pydicom raises many types on damaged headers
        raise UnreadableFile(f"damaged DICOM header ({type(exc).__name__})") from None
    meta = getattr(ds, "file_meta", None)
    syntax = str(getattr(meta, "TransferSyntaxUID", "") or "")
    sop_uid = _text(ds, 0x00080018)
    if not sop_uid:
        raise UnreadableFile("DICOM file without SOPInstanceUID")
    series_uid = _text(ds, 0x0020000E)
    rows = int(ds.Rows) if "Rows" in ds else None
    cols = int(ds.Columns) if "Columns" in ds else None
    has_pixels = 0x7FE00010 in ds
    if has_pixels:
        elem = ds.get_item(0x7FE00010, keep_deferred=True)
        tell = getattr(elem, "value_tell", None)
        length = getattr(elem, "length", None)
        if tell is not None and length not in (None, 0xFFFFFFFF) and tell + length > len(data):
            raise UnreadableFile(
                f"truncated file: pixel data needs {length} bytes, {len(data) - tell} present",
                series_uid)
        if syntax in NATIVE_SYNTAXES and length not in (None, 0xFFFFFFFF):
            bits = int(ds.get("BitsAllocated", 16) or 16)
            spp = int(ds.get("SamplesPerPixel", 1) or 1)
            frames = _int(_text(ds, 0x00280008) or "1") or 1  # "0.0", "x": one frame
            expected = (rows or 0) * (cols or 0) * spp * frames * bits // 8
            if length < expected:
                raise UnreadableFile(
                    f"truncated pixel data: {length} bytes for {rows}x{cols}x{frames} "
                    f"({expected} expected)", series_uid)
    image_type = tuple(v.strip().upper() for v in _text(ds, 0x00080008).split("\\") if v)
    number = _text(ds, 0x00200011)
    dates = first_date(lambda tag: _text(ds, tag))
    series_fields: dict = {}
    if full:
        scanning = ds.get("ScanningSequence") or ()
        series_fields = dict(
            series_description=str(ds.get("SeriesDescription", "") or ""),
            protocol_name=str(ds.get("ProtocolName", "") or ""),
            repetition_time=_float(ds.get("RepetitionTime")),
            echo_time=_float(ds.get("EchoTime")),
            inversion_time=_float(ds.get("InversionTime")),
            scanning_sequence=scanning if isinstance(scanning, str)
            else "\\".join(map(str, scanning)),
            sequence_name=str(ds.get("SequenceName", "") or ""),
            **_class_fields(lambda tag: _text(ds, tag), lambda tag: _pydicom_raw(ds, tag)))
    return DicomInstance(
        path=Path(path), rel=rel, sha256=sha, size=len(data), sop_uid=sop_uid,
        sop_class=_text(ds, 0x00080016),
        patient_id=_text(ds, 0x00100020),
        study_uid=_text(ds, 0x0020000D),
        series_uid=series_uid,
        study_date=dates[0], date_source=dates[1],
        modality=_text(ds, 0x00080060).upper(),
        image_type=image_type,
        series_number=_int(number),
        rows=rows,
        columns=cols,
        pixel_spacing=_floats(_text(ds, 0x00280030).split("\\")),
        orientation=_floats(_text(ds, 0x00200037).split("\\"), 3),
        position=_floats(_text(ds, 0x00200032).split("\\")),
        echo=_text(ds, 0x00180086),
        has_pixels=has_pixels,
        **series_fields,
    )


#: elements of IMAGE_TAGS that are not text (US values and the pixel data)
_BINARY_TAGS = {0x00280002, 0x00280010, 0x00280011, 0x00280100, 0x7FE00010}
#: series-level elements read with ``full=True``: single-valued text, numbers (DS), CS list
_SERIES_TEXT = {"series_description": 0x0008103E, "protocol_name": 0x00181030,
                "sequence_name": 0x00180024}
_SERIES_DS = {"repetition_time": 0x00180080, "echo_time": 0x00180081,
              "inversion_time": 0x00180082}
_SCANNING_SEQUENCE = 0x00180020
#: classification fields (full=True), read as raw text or raw little-endian numbers
_CLASS_TEXT = {"sequence_variant": 0x00180021, "kernel": 0x00181210,
               "contrast_agent": 0x00180010}
_SLICE_THICKNESS = 0x00180050
#: completeness fields (full=True): ImagesInAcquisition (IS), SpacingBetweenSlices (DS)
_IMAGES_IN_ACQUISITION = 0x00201002
_SPACING_BETWEEN_SLICES = 0x00180088
#: b-value elements: DiffusionBValue (FD), Siemens CSA-free (0019,100C IS), GE (0043,1039 IS,
#: first value, +1e9 on some versions), Philips (2001,1003 FL)
_B_TEXT = (0x0019100C, 0x00431039)
_B_BINARY = {0x00189087: "<d", 0x20011003: "<f"}
#: PatientName, PatientBirthDate, PatientSex: hashed into a duplicate-patient fingerprint
_PERSON_TAGS = (0x00100010, 0x00100030, 0x00100040)
#: identifying elements read with ``full=True`` only to be redacted from every text leaving
#: ingest (calcisvd/redact.py): never stored, never written
IDENTIFYING_TAGS: dict[str, int] = {
    "PatientName": 0x00100010, "PatientBirthDate": 0x00100030, "AccessionNumber": 0x00080050,
    "InstitutionName": 0x00080080, "ReferringPhysicianName": 0x00080090}
_CLASS_TAGS = [*_CLASS_TEXT.values(), _SLICE_THICKNESS, *_B_TEXT, *_B_BINARY,
               _IMAGES_IN_ACQUISITION, _SPACING_BETWEEN_SLICES, *_PERSON_TAGS,
               *IDENTIFYING_TAGS.values()]
_SERIES_TAGS = [*_SERIES_TEXT.values(), *_SERIES_DS.values(), _SCANNING_SEQUENCE]


def _pydicom_raw(ds, tag: int) -> bytes | None:
    """Raw little-endian bytes of a binary element read by pydicom (``None`` otherwise)."""
    import struct

    elem = ds.get_item(tag, keep_deferred=True)
    if elem is None:
        return None
    value = elem.value
    if isinstance(value, bytes):
        return value if getattr(ds, "is_little_endian", True) else None
    try:
        return struct.pack(_B_BINARY[tag], float(value))
    except (TypeError, ValueError, KeyError, struct.error):
        return None


def person_fingerprint_text(name: str, birth_date: str, sex: str) -> str:
    """``FAMILY^GIVEN|YYYY|S`` from PatientName (letters only, upper case, family name and
    first given name), the year of PatientBirthDate and PatientSex; ``""`` when the name or
    the year is missing. Hashed with the key (never stored in clear) to report a possible
    duplicate patient under another PatientID."""
    import re
    import unicodedata

    def letters(text: str) -> str:
        ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
        return re.sub(r"[^A-Z]", "", ascii_text.upper())

    parts = (name or "").split("=")[0].split("^")  # alphabetic group: family^given^...
    family = letters(parts[0])
    words = parts[1].split() if len(parts) > 1 else []
    given = letters(words[0]) if words else ""
    year = (birth_date or "").strip()[:4]
    if not family or not (year.isdigit() and len(year) == 4):
        return ""
    return f"{family}^{given}|{year}|{(sex or '').strip().upper()[:1]}"


def _class_fields(text, raw) -> dict:
    """Classification fields from ``text(tag) -> str`` and ``raw(tag) -> bytes | None``."""
    import struct

    out: dict = {name: text(tag).strip() for name, tag in _CLASS_TEXT.items()}
    thick = text(_SLICE_THICKNESS).split("\\")[0].strip()
    try:
        out["slice_thickness"] = float(thick) if thick else None
    except ValueError:
        out["slice_thickness"] = None
    count = _int(text(_IMAGES_IN_ACQUISITION).split("\\")[0].strip())
    out["images_in_acquisition"] = count if count and count > 0 else None
    spacing = _float(text(_SPACING_BETWEEN_SLICES).split("\\")[0].strip())
    out["spacing_between_slices"] = spacing if spacing and math.isfinite(spacing) and \
        spacing > 0 else None
    out["person"] = person_fingerprint_text(*(text(t) for t in _PERSON_TAGS))
    out["extra"] = {"identifiers": {k: text(t).strip() for k, t in IDENTIFYING_TAGS.items()}}
    values: list[float] = []
    for tag in _B_TEXT:
        first = text(tag).split("\\")[0].strip()
        if first and first.lstrip("+-").replace(".", "", 1).isdigit():
            values.append(float(first) % 1e9)
    for tag, fmt in _B_BINARY.items():
        data = raw(tag)
        if data is not None and len(data) == struct.calcsize(fmt):
            values.append(struct.unpack(fmt, data)[0])
    found = [v for v in values if v >= 0 and v == v]
    out["b_value"] = round(max(found), 3) if found else None
    return out


def _walk_series_fields(text: dict[int, str]) -> dict | None:
    """The ``full=True`` fields from raw text as pydicom converts them, or ``None`` when a
    value is multi-valued or not a number where one is expected (left to pydicom)."""
    out: dict = {}
    for name, tag in _SERIES_TEXT.items():
        value = text.get(tag, "")
        if "\\" in value:
            return None
        out[name] = value
    for name, tag in _SERIES_DS.items():
        value = text.get(tag, "")
        if "\\" in value:
            return None
        try:
            out[name] = float(value) if value else None
        except ValueError:
            return None
    out["scanning_sequence"] = "\\".join(
        v.strip() for v in text.get(_SCANNING_SEQUENCE, "").split("\\")) \
        if text.get(_SCANNING_SEQUENCE) else ""
    return out


def _from_walk(path: Path, rel: str, data: bytes, sha: str,
               full: bool = False) -> DicomInstance | None:
    """:func:`read_instance` by the element walk of :mod:`tasks.ingest.dicomwalk`;
    ``None`` when the file needs pydicom (an encoding the walk does not know, non-ASCII
    text, a value pydicom would convert differently, anything unexpected)."""
    from tasks.ingest.dicomwalk import _Stop, walk

    tags = IMAGE_TAGS + _SERIES_TAGS + _CLASS_TAGS if full else IMAGE_TAGS
    hdr = walk(data, tags)
    if hdr is None:
        return None
    text: dict[int, str] = {}
    for tag in tags:
        raw = hdr.raw(tag)
        if raw is None or tag in _BINARY_TAGS or tag in _B_BINARY:
            continue
        if not raw.isascii():
            return None  # character sets are pydicom's job
        text[tag] = raw.decode("ascii").strip("\x00 ")
    try:
        rows, cols = hdr.us(0x00280010), hdr.us(0x00280011)
        bits, spp = hdr.us(0x00280100), hdr.us(0x00280002)
    except _Stop:
        return None
    sop_uid = text.get(0x00080018, "")
    if not sop_uid:
        raise UnreadableFile("DICOM file without SOPInstanceUID")
    series_uid = text.get(0x0020000E, "")
    pix = hdr.elements.get(0x7FE00010)
    if pix is not None:
        length = pix.length
        if length != 0xFFFFFFFF and pix.offset + length > len(data):
            raise UnreadableFile(
                f"truncated file: pixel data needs {length} bytes, {len(data) - pix.offset} "
                "present", series_uid)
        if hdr.syntax in NATIVE_SYNTAXES and length != 0xFFFFFFFF:
            frames = _int(text.get(0x00280008) or "1") or 1  # "0.0", "x": one frame
            expected = (rows or 0) * (cols or 0) * (spp or 1) * frames * (bits or 16) // 8
            if length < expected:
                raise UnreadableFile(
                    f"truncated pixel data: {length} bytes for {rows}x{cols}x{frames} "
                    f"({expected} expected)", series_uid)
    series_fields = _walk_series_fields(text) if full else {}
    if series_fields is not None and full:
        series_fields.update(_class_fields(lambda tag: text.get(tag, ""), hdr.raw))
    if series_fields is None or (full and any(
            (hdr.raw(t) or b"").startswith(b" ") for t in _SERIES_TAGS)):
        return None  # (pydicom keeps leading spaces of text values)
    get = text.get
    return DicomInstance(
        path=Path(path), rel=rel, sha256=sha, size=len(data), sop_uid=sop_uid,
        sop_class=get(0x00080016, ""), patient_id=get(0x00100020, ""),
        study_uid=get(0x0020000D, ""), series_uid=series_uid,
        **dict(zip(("study_date", "date_source"), first_date(get), strict=True)),
        modality=get(0x00080060, "").upper(),
        image_type=tuple(v.strip().upper() for v in get(0x00080008, "").split("\\") if v),
        series_number=_int(get(0x00200011, "")), rows=rows, columns=cols,
        pixel_spacing=_floats(get(0x00280030, "").split("\\")),
        orientation=_floats(get(0x00200037, "").split("\\"), 3),
        position=_floats(get(0x00200032, "").split("\\")),
        echo=get(0x00180086, ""), has_pixels=pix is not None, **series_fields)
