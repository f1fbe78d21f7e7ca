"""Hostile and broken hospital exports, generated into a drop folder (parametrised by seed).

Every case starts from a tiny valid series (32x32 CT, 12 slices of 4 mm, RescaleIntercept
-1024, or a 16^3 NIfTI FLAIR) written with pydicom/nibabel, then corrupts it. Each case has
its own patient and study and lives in ``<drop>/hostile/<case_id>/`` so that its fate (the
quarantine reasons naming its files, or the session it produced) can be told apart from the
others. The good session (:func:`write_good_session`) sits beside them.

Plain code (no pytest): ``tests/robustness/test_*.py`` and ``bench/robustness.py`` share it;
the valid material it corrupts comes from :mod:`bench.support.hostile_series`.

Categories (:data:`CATEGORIES`) and what must happen to them (:data:`EXPECT`):

* ``quarantine``: the input is broken; every case must end in ``quarantine/<id>/reason.json``
  with a reason listing the case's files.
* ``safe``: the input is valid but carries hostile identifiers (``../../etc`` in PatientID or
  SeriesDescription, non-ASCII names); it may be ingested (under a pseudonym) or quarantined,
  but the value must never appear in an output path and nothing may be written outside the
  configured roots.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import os
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.support.hostile_series import (  # noqa: F401  (re-exported for the tests)
    CT_STORAGE,
    EXPLICIT_LE,
    GOOD_PATIENT,
    MR_STORAGE,
    SeriesSpec,
    uid,
    write_clinical,
    write_good_session,
    write_nifti,
    write_series,
)

CATEGORIES: tuple[str, ...] = (
    "truncated", "no_pixels", "bad_syntax", "inconsistent_spacing", "one_slice",
    "memory_bomb", "nan_nifti", "inf_nifti", "empty_file", "symlink_outside", "path_like",
    "non_ascii", "duplicate_uid",
)
EXPECT: dict[str, str] = {c: "quarantine" for c in CATEGORIES} | {
    "path_like": "safe", "non_ascii": "safe"}

HOSTILE_DIR = "hostile"
#: values that look like paths (PatientID / SeriesDescription)
PATH_VALUES: tuple[str, ...] = ("../../etc", "../../../tmp/evil", "..\\..\\windows",
                                "/etc/passwd", "a/../../b", "%2e%2e%2fetc", "~/.ssh/id",
                                "./../..", "..", "CON/../../x")
NON_ASCII: tuple[str, ...] = ("Müller^Zoë", "患者^太郎", "Ødegård^Åse", "Łukasz^Żółć",
                              "Ελένη^Παπά", "Ñandú^José")
BAD_SYNTAXES: tuple[str, ...] = ("1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91",
                                 "1.2.840.10008.1.2.4.50", "1.2.3.4.999.1",
                                 "1.2.840.10008.1.2.4.201")


@dataclass
class Case:
    """One hostile input: its folder under the drop folder and what must happen to it."""

    case_id: str
    category: str
    variant: str
    folder: str  # relative to the drop folder
    patient_id: str
    expect: str
    files: list[str] = field(default_factory=list)  # relative to the drop folder

    def as_dict(self) -> dict:
        """JSON-friendly summary (no file list)."""
        return {"case_id": self.case_id, "category": self.category, "variant": self.variant,
                "expect": self.expect, "n_files": len(self.files)}


def _pick(case: Case, rnd: random.Random, options: list[str]) -> str:
    """The case's variant: the one forced by the caller, else a seeded random choice."""
    choice = rnd.choice(options)
    if case.variant not in options:
        case.variant = choice
    return case.variant


def _spec(case: Case, rnd: random.Random, **kw) -> SeriesSpec:
    study = uid("study", case.case_id)
    defaults: dict = dict(seed=rnd.randrange(1 << 16),
                          date=dt.date(2019, 1, 1) + dt.timedelta(days=rnd.randrange(900)))
    defaults.update(kw)
    return SeriesSpec(case.patient_id, study, uid(study, "series"), **defaults)


def _truncated(root: Path, case: Case, rnd: random.Random) -> list[Path]:
    paths = write_series(root, _spec(case, rnd))
    variant = _pick(case, rnd, ["pixels", "header", "all", "last"])
    victims = paths if variant == "all" else [paths[-1] if variant == "last"
                                              else rnd.choice(paths)]
    for p in victims:
        data = p.read_bytes()
        cut = rnd.randrange(132, 400) if variant == "header" else rnd.randrange(
            len(data) - 2000, len(data) - 1)
        p.write_bytes(data[:cut])
    return paths


def _no_pixels(root: Path, case: Case, rnd: random.Random) -> list[Path]:
    import pydicom

    kind = rnd.choice(["CT", "T1w"])
    paths = write_series(root, _spec(case, rnd, kind=kind, description="Head 1.0 STND"
                                     if kind == "CT" else "t1_se_tra"))
    _pick(case, rnd, ["all", "half"])
    for p in paths if case.variant == "all" else paths[::2]:
        ds = pydicom.dcmread(p)
        del ds.PixelData
        ds.save_as(p, enforce_file_format=True)
    return paths


def _bad_syntax(root: Path, case: Case, rnd: random.Random) -> list[Path]:
    import pydicom
    from pydicom.encaps import encapsulate

    syntax = _pick(case, rnd, list(BAD_SYNTAXES))
    paths = write_series(root, _spec(case, rnd))
    for p in paths:
        ds = pydicom.dcmread(p)
        if syntax.startswith("1.2.840.10008.1.2.4"):  # a known codec: garbage codestream
            junk = bytes(rnd.randrange(256) for _ in range(512))
            ds.PixelData = encapsulate([junk])
            ds["PixelData"].VR = "OB"
        ds.file_meta.TransferSyntaxUID = syntax
        pydicom.dcmwrite(p, ds, enforce_file_format=True, implicit_vr=False,
                         little_endian=True)
    return paths


def _inconsistent_spacing(root: Path, case: Case, rnd: random.Random) -> list[Path]:
    z = [k * 4.0 for k in range(12)]
    variant = _pick(case, rnd, ["gap", "jitter", "repeat", "shuffled-gaps"])
    if variant == "gap":
        z = [v + (20.0 if k >= 6 else 0.0) for k, v in enumerate(z)]
    elif variant == "jitter":
        z = [v + rnd.uniform(-1.5, 1.5) for v in z]
    elif variant == "repeat":
        z[7] = z[6]
    else:
        z = sorted(rnd.sample(range(0, 200, 3), 12))
    return write_series(root, _spec(case, rnd, z=[float(v) for v in z]))


def _one_slice(root: Path, case: Case, rnd: random.Random) -> list[Path]:
    kind = _pick(case, rnd, ["CT", "T1w"])
    return write_series(root, _spec(case, rnd, kind=kind, shape=(32, 32, 1),
                                    description="Head" if kind == "CT" else "t1_se_tra"))


def _memory_bomb(root: Path, case: Case, rnd: random.Random) -> list[Path]:
    import pydicom

    paths = write_series(root, _spec(case, rnd, shape=(32, 32, 4)))
    variant = _pick(case, rnd, ["rows-cols", "frames", "bits", "rows-cols-nopixels"])
    for p in paths:
        ds = pydicom.dcmread(p)
        if variant.startswith("rows-cols"):
            ds.Rows = ds.Columns = 65535
        if variant == "frames":
            ds.NumberOfFrames = 2_000_000
        if variant == "bits":
            ds.Rows = ds.Columns = 30000
            ds.BitsAllocated = 32
        if variant == "rows-cols-nopixels":
            del ds.PixelData
        ds.save_as(p, enforce_file_format=True)
    return paths


def _nifti(root: Path, case: Case, rnd: random.Random, bad: float) -> list[Path]:
    data = np.random.default_rng(rnd.randrange(1 << 16)).normal(300, 30, (16, 16, 16))
    variant = _pick(case, rnd, ["all", "some", "one"])
    if variant == "all":
        data[:] = bad
    elif variant == "some":
        data[data > 310] = bad
    else:
        data[8, 8, 8] = bad
    date = (dt.date(2019, 1, 1) + dt.timedelta(days=rnd.randrange(900))).strftime("%Y%m%d")
    path = write_nifti(root / case.patient_id / date / "flair.nii.gz", data)
    return [path]


def _nan_nifti(root: Path, case: Case, rnd: random.Random) -> list[Path]:
    return _nifti(root, case, rnd, float("nan"))


def _inf_nifti(root: Path, case: Case, rnd: random.Random) -> list[Path]:
    return _nifti(root, case, rnd, rnd.choice([float("inf"), float("-inf")]))


def _empty_file(root: Path, case: Case, rnd: random.Random) -> list[Path]:
    variant = _pick(case, rnd, ["zero-dcm", "zero-noext", "preamble-only", "zero-nifti",
                                "gzip-empty"])
    root.mkdir(parents=True, exist_ok=True)
    if variant == "zero-dcm":
        p = root / "IM0001.dcm"
        p.write_bytes(b"")
    elif variant == "zero-noext":
        p = root / "IM0001"
        p.write_bytes(b"")
    elif variant == "preamble-only":
        p = root / "IM0001"
        p.write_bytes(b"\0" * 128 + b"DICM")
    else:
        p = root / case.patient_id / "20200101" / "flair.nii.gz"
        p.parent.mkdir(parents=True)
        p.write_bytes(b"" if variant == "zero-nifti" else gzip.compress(b"", mtime=0))
    return [p]


def _symlink_outside(root: Path, case: Case, rnd: random.Random, outside: Path) -> list[Path]:
    variant = _pick(case, rnd, ["valid-dicom", "secret-text", "dangling", "dicom-dir"])
    root.mkdir(parents=True, exist_ok=True)
    target_dir = outside / case.case_id
    if variant in ("valid-dicom", "dicom-dir"):
        targets = write_series(target_dir, _spec(case, rnd, shape=(32, 32, 6)))
        if variant == "dicom-dir":
            link = root / "series"
            os.symlink(target_dir, link, target_is_directory=True)
            return [link]  # what the drop folder holds is the link, not the files beyond it
        links = []
        for t in targets:
            link = root / t.name
            os.symlink(t, link)
            links.append(link)
        return links
    if variant == "secret-text":
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / "secret.txt"
        target.write_text("root:x:0:0:outside-the-drop-folder\n")
    else:
        target = target_dir / "missing.dcm"
    link = root / "IM0001"
    os.symlink(target, link)
    return [link]


def _path_like(root: Path, case: Case, rnd: random.Random) -> list[Path]:
    value = rnd.choice(PATH_VALUES)
    where = rnd.choice(["PatientID", "SeriesDescription", "both"])
    case.variant = f"{where}:{value}"
    kw: dict = {}
    if where in ("SeriesDescription", "both"):
        kw["description"] = value
    if where in ("PatientID", "both"):
        case.patient_id = value + case.patient_id[-4:]
    return write_series(root, _spec(case, rnd, **kw))


def _non_ascii(root: Path, case: Case, rnd: random.Random) -> list[Path]:
    name = rnd.choice(NON_ASCII)
    variant = _pick(case, rnd, ["file-names", "patient-name", "patient-id", "nifti-folder"])
    if variant == "nifti-folder":
        case.patient_id = name.replace("^", "_") + case.patient_id[-4:]
        data = np.random.default_rng(1).normal(300, 30, (16, 16, 16))
        return [write_nifti(root / case.patient_id / "20200202" / "flair_ü.nii.gz", data)]
    kw: dict = {"patient_name": name, "description": "Kopf nativ ü 頭部"}
    if variant == "file-names":
        kw["names"] = [f"IMG_ü_患者_{k:03d}.dcm" for k in range(12)]
    if variant == "patient-id":
        case.patient_id = name.split("^")[0] + case.patient_id[-4:]
    return write_series(root, _spec(case, rnd, **kw))


def _duplicate_uid(root: Path, case: Case, rnd: random.Random) -> list[Path]:
    spec = _spec(case, rnd)
    variant = _pick(case, rnd, ["same-folder", "copy-folder", "half"])
    paths = write_series(root / "a", spec)
    other = SeriesSpec(**{**spec.__dict__, "seed": spec.seed + 1})
    if variant == "same-folder":
        other.names = [f"DUP{k + 1:04d}" for k in range(12)]
        paths += write_series(root / "a", other)
    elif variant == "copy-folder":
        paths += write_series(root / "b", other)
    else:
        more = write_series(root / "b", other)
        keep = more[::2]
        for p in more[1::2]:
            p.unlink()
        paths += keep
    return paths


WRITERS = {
    "truncated": _truncated, "no_pixels": _no_pixels, "bad_syntax": _bad_syntax,
    "inconsistent_spacing": _inconsistent_spacing, "one_slice": _one_slice,
    "memory_bomb": _memory_bomb, "nan_nifti": _nan_nifti, "inf_nifti": _inf_nifti,
    "empty_file": _empty_file, "path_like": _path_like, "non_ascii": _non_ascii,
    "duplicate_uid": _duplicate_uid,
}


# --- issue 24, item 8: NIfTI sources past the reading limits (tasks/ingest/session.py) ---
def _nifti_limits(root: Path, case: Case, rnd: random.Random) -> list[Path]:
    import gzip
    import struct

    variant = _pick(case, rnd, ["nan-affine", "inf-pixdim", "gzip-bomb", "sparse"])
    date = (dt.date(2019, 1, 1) + dt.timedelta(days=rnd.randrange(900))).strftime("%Y%m%d")
    data = np.random.default_rng(rnd.randrange(1 << 16)).normal(300, 30, (16, 16, 16))
    path = write_nifti(root / case.patient_id / date / "flair.nii", data)
    raw = bytearray(path.read_bytes())
    if variant == "nan-affine":
        raw[280:284] = struct.pack("<f", float("nan"))  # srow_x[0]
    elif variant == "inf-pixdim":
        raw[84:88] = struct.pack("<f", float("inf"))  # pixdim[2]
    if variant == "gzip-bomb":  # 32 MiB of padding past the declared 16^3 float32
        path.unlink()
        path = path.with_name("flair.nii.gz")
        # mtime=0: the same case gives the same bytes in every run (quarantine ids compare)
        with open(path, "wb") as out, gzip.GzipFile(fileobj=out, mode="wb", compresslevel=1,
                                                    mtime=0) as fh:
            fh.write(raw)
            for _ in range(32):
                fh.write(bytes(1 << 20))
    else:
        path.write_bytes(raw)
    if variant == "sparse":  # 16 MiB by its size, a few KiB on disk
        with open(path, "r+b") as fh:
            fh.truncate(16 << 20)
    return [path]


WRITERS["nifti_limits"] = _nifti_limits
CATEGORIES += ("nifti_limits",)
EXPECT["nifti_limits"] = "quarantine"


# --- issue 24, item 8 for DICOM: files read whole into memory or declaring more than they hold --
def _dicom_limits(root: Path, case: Case, rnd: random.Random) -> list[Path]:
    import struct

    variant = _pick(case, rnd, ["sparse", "pixels-past-eof"])
    paths = write_series(root, _spec(case, rnd, shape=(16, 16, 4)))
    victim = paths[rnd.randrange(len(paths))]
    if variant == "sparse":  # its valid header, then a 3 GiB hole (past the 2 GiB bound)
        with open(victim, "r+b") as fh:
            fh.truncate(3 << 30)
    else:  # (7FE0,0010) OW declares 2 GiB of pixels in a file of a few KiB
        data = bytearray(victim.read_bytes())
        at = data.rfind(b"\xe0\x7f\x10\x00OW\x00\x00")
        data[at + 8:at + 12] = struct.pack("<I", 0x7FFFFFF0)
        victim.write_bytes(bytes(data))
    return paths


# --- issue 24, items 6 and 2: identifiers in folder names, descriptions and reasons -------------
PHI_NAME, PHI_BIRTH = "NOVAK^WEI", "19570118"


def _phi_folder(root: Path, case: Case, rnd: random.Random) -> list[Path]:
    """A series in a folder named like a hospital export (``NOVAK^WEI <ID> 19570118``) whose
    SeriesDescription quotes the patient, with one image truncated: quarantined whole, and
    its records (reason, warehouse, logs, Prefect) must name neither (``audit-phi``)."""
    variant = _pick(case, rnd, ["truncated", "no-pixels"])
    folder = root / f"{PHI_NAME} {case.patient_id} {PHI_BIRTH}"
    paths = write_series(folder, _spec(case, rnd, shape=(16, 16, 4), patient_name=PHI_NAME,
                                       description=f"{PHI_NAME} {case.patient_id} head"))
    victim = paths[rnd.randrange(len(paths))]
    data = victim.read_bytes()
    if variant == "truncated":
        victim.write_bytes(data[:len(data) - 200])
    else:  # pixel data element removed: an image series without pixels
        import pydicom

        ds = pydicom.dcmread(victim)
        del ds.PixelData
        ds.save_as(victim, enforce_file_format=True)
    return paths


WRITERS["dicom_limits"] = _dicom_limits
WRITERS["phi_folder"] = _phi_folder
CATEGORIES += ("dicom_limits", "phi_folder")
EXPECT["dicom_limits"] = EXPECT["phi_folder"] = "quarantine"


def make_case(drop: Path, outside: Path, category: str, index: int, seed: int,
              variant: str = "") -> Case:
    """Write case number ``index`` of ``category`` under ``drop``; returns its description.

    ``variant`` forces one variant of the category (e.g. ``"dangling"``); default: seeded.
    """
    case_id = f"{category}-{seed}-{index:03d}"
    folder = f"{HOSTILE_DIR}/{case_id}"
    rnd = random.Random(f"{seed}:{category}:{index}")
    case = Case(case_id, category, variant, folder, f"HX{seed:03d}{index:05d}",
                EXPECT[category])
    root = drop / folder
    if category == "symlink_outside":
        paths = _symlink_outside(root, case, rnd, outside)
    else:
        paths = WRITERS[category](root, case, rnd)
    case.files = sorted(Path(os.path.relpath(p, drop)).as_posix() for p in paths)
    return case


def generate(drop: Path, outside: Path, n: int = 200, seed: int = 0,
             categories: Iterable[str] = CATEGORIES,
             variants: dict[str, str] | None = None) -> list[Case]:
    """Write ``n`` cases (categories in turn) under ``drop``; ``outside`` holds link targets.

    ``outside`` must not be inside ``drop``; symlinks from the drop folder point into it.
    ``variants`` forces a variant per category (``{"symlink_outside": "valid-dicom"}``).
    """
    cats = list(categories)
    forced = variants or {}
    return [make_case(Path(drop), Path(outside), cats[i % len(cats)], i, seed,
                      forced.get(cats[i % len(cats)], "")) for i in range(n)]


# ---- outcomes --------------------------------------------------------------------------------

def quarantine_reasons(quarantine_dir: Path) -> list[dict]:
    """Every ``reason.json`` under the quarantine folder."""
    out = []
    for path in sorted(Path(quarantine_dir).glob("*/reason.json")):
        doc = json.loads(path.read_text())
        doc["folder"] = path.parent.name
        out.append(doc)
    return out


def case_outcomes(cases: list[Case], quarantine_dir: Path) -> dict[str, list[dict]]:
    """case_id -> the quarantine reasons whose file list names one of the case's files."""
    from tasks.ingest.quarantine import path_sha256

    by_file: dict[str, list[dict]] = {}  # by SHA-256 of the path: records keep no path
    for doc in quarantine_reasons(quarantine_dir):
        for f in doc.get("files_sha256", []):
            by_file.setdefault(f, []).append(doc)
    result: dict[str, list[dict]] = {}
    for case in cases:
        docs: dict[str, dict] = {}
        for f in case.files:
            for d in by_file.get(path_sha256(f), []):
                docs[d["folder"]] = d
        result[case.case_id] = list(docs.values())
    return result


def unquarantined_files(case: Case, outcomes: dict[str, list[dict]]) -> list[str]:
    """Files of ``case`` that no quarantine reason names."""
    from tasks.ingest.quarantine import path_sha256

    named = {f for d in outcomes.get(case.case_id, []) for f in d.get("files_sha256", [])}
    return [f for f in case.files if path_sha256(f) not in named]


def tree_listing(root: Path, skip: Iterable[Path] = ()) -> dict[str, str]:
    """Relative path -> SHA-256 (files), ``link:<target>`` (symlinks) or ``dir``."""
    root = Path(root)
    skips = [Path(s) for s in skip]
    out: dict[str, str] = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        d = Path(dirpath)
        dirnames[:] = sorted(n for n in dirnames if d / n not in skips)
        for name in dirnames:
            p = d / name
            out[p.relative_to(root).as_posix()] = (f"link:{os.readlink(p)}" if p.is_symlink()
                                                   else "dir")
        for name in sorted(filenames):
            p = d / name
            rel = p.relative_to(root).as_posix()
            if p.is_symlink():
                out[rel] = f"link:{os.readlink(p)}"
            else:
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def tree_hash(root: Path, skip: Iterable[Path] = ()) -> str:
    """One SHA-256 over :func:`tree_listing` (names and contents)."""
    listing = tree_listing(root, skip)
    return hashlib.sha256(json.dumps(sorted(listing.items())).encode()).hexdigest()
