"""DICOM to NIfTI with dcm2niix (slice order, mosaics; its geometry is checked afterwards).

The series of a session are converted by one dcm2niix call over a staging folder: a folder
that holds exactly one series is linked as a whole, the files of a series mixed with other
files are linked one by one (start-up costs dcm2niix ~30 ms a call, more than converting a
small series). A series the shared call does not convert is tried alone. Outputs
are named by SeriesInstanceUID (``-f %j``). The NIfTI is
written uncompressed, its free-text header fields are zeroed, and it is gzipped here with a
fixed gzip header (mtime 0, no file name) so that the same input gives the same bytes.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tasks.ingest.deid import scrub_nifti_header, sidecar_bytes

#: zlib level 1: ~2x faster than 6 for a few % larger files (see docs/ingest.md, bench/ingest.py)
GZIP_LEVEL = 1


class ConversionError(RuntimeError):
    """dcm2niix failed or produced something other than one volume for a series."""


def find_dcm2niix() -> str:
    """Path of the dcm2niix executable: next to ``sys.executable`` first, then ``PATH``."""
    local = Path(sys.executable).parent / "dcm2niix"
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    found = shutil.which("dcm2niix")
    if not found:
        raise FileNotFoundError("dcm2niix not found next to the Python interpreter or on PATH")
    return found


def dcm2niix_command(exe: str, in_dir: Path, out_dir: Path, *, compress: bool = False,
                     name: str = "%j", depth: int = 5) -> list[str]:
    """The dcm2niix command line used by ingestion (anonymised BIDS sidecars)."""
    return [exe, "-b", "y", "-ba", "y", "-z", "y" if compress else "n", "-f", name,
            "-w", "1", "-d", str(depth), "-o", str(out_dir), str(in_dir)]


def split_inputs(series_files: dict[str, list[Path]]) -> tuple[list[Path], dict[str, list[Path]]]:
    """Folders dcm2niix can read as they are, and the series that need a staging folder.

    A folder is used directly when it holds exactly the files of one series (the usual
    one-folder-per-series export); otherwise the series is linked into a staging folder
    (links cost a file-system operation per image, so they are avoided when possible).
    """
    direct: list[Path] = []
    linked: dict[str, list[Path]] = {}
    for uid, files in sorted(series_files.items()):
        folders = {Path(f).parent for f in files}
        if len(folders) == 1:
            folder = folders.pop()
            names = {n for n in os.listdir(folder) if not n.startswith(".")}
            if names == {Path(f).name for f in files}:
                direct.append(folder)
                continue
        linked[uid] = files
    return direct, linked


def stage_inputs(series_files: dict[str, list[Path]], in_dir: Path,
                 folders: list[Path] | tuple = ()) -> None:
    """Link each series' files into ``in_dir/<n>/``, and each of ``folders`` (folders that
    hold exactly one series) as ``in_dir/d<n>``: symbolic links, no copies."""
    in_dir.mkdir(parents=True, exist_ok=True)
    for n, folder in enumerate(folders):
        os.symlink(Path(folder).resolve(), in_dir / f"d{n:03d}", target_is_directory=True)
    for n, (_, files) in enumerate(sorted(series_files.items())):
        sub = in_dir / f"{n:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        for i, f in enumerate(files):
            os.symlink(Path(f).resolve(), sub / f"{i:05d}.dcm")


def run_dcm2niix(exe: str, in_dir: Path, out_dir: Path, *, depth: int = 5) -> int:
    """Run dcm2niix; returns its exit status (its output may name files: never logged).

    A non-zero status is not raised: series converted before the failure are still used and
    the others get a reason from :func:`collect_outputs`.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(dcm2niix_command(exe, in_dir, out_dir, depth=depth),
                          capture_output=True, check=False, timeout=3600)
    return proc.returncode


@dataclass(frozen=True)
class Converted:
    """One converted volume: uncompressed NIfTI and its raw dcm2niix sidecar."""

    nifti: Path
    sidecar: dict
    plain: Path | None = None  # dcm2niix's uncorrected output when ``nifti`` is a variant


_VARIANT = re.compile(r"_(Tilt|Eq)_\d+$")
_PARTS = re.compile(r"_(ph|real|imaginary)$")


def collect_outputs(out_dir: Path, series_uids: list[str]) -> dict[str, Converted | str]:
    """Map each series UID to its output, or to a plain-words reason when it has none/many.

    dcm2niix writes ``<uid>.nii`` and, for gantry-tilted or unevenly spaced CT, corrected
    copies ``<uid>_Tilt_1.nii`` / ``<uid>_Eq_1.nii``; the corrected copy is tried first and
    the uncorrected one kept in ``plain``: :func:`tasks.ingest.geometry.verify_converted`
    checks them against the DICOM positions (dcm2niix's tilt correction can be wrong).
    """
    by_uid: dict[str, list[Path]] = {u: [] for u in series_uids}
    for nii in sorted(out_dir.glob("*.nii")):
        stem = nii.name[:-4]
        for uid in series_uids:
            if stem == uid or stem.startswith(uid + "_"):
                by_uid[uid].append(nii)
                break
    result: dict[str, Converted | str] = {}
    for uid, files in by_uid.items():
        if not files:
            result[uid] = ("dcm2niix could not convert this series (damaged or unsupported "
                           "images)")
            continue
        chosen = None
        for tag in ("_Tilt_", "_Eq_"):
            tagged = [f for f in files if tag in f.name]
            if tagged:
                chosen = tagged[0]
                break
        plain = [f for f in files if not _VARIANT.search(f.name[:-4])]
        magnitude = [f for f in plain if not _PARTS.search(f.name[:-4])]
        if magnitude:  # phase/real/imaginary images exported in the same series: keep magnitude
            plain = magnitude
        if chosen is None:
            if len(plain) != 1:
                result[uid] = (f"dcm2niix split the series into {len(plain)} volumes "
                               "(mixed geometry, echoes or orientations)")
                continue
            chosen = plain[0]
        base = plain[0] if plain else chosen
        sidecar_path = base.with_suffix(".json")
        meta = json.loads(sidecar_path.read_text()) if sidecar_path.exists() else {}
        result[uid] = Converted(nifti=chosen, sidecar=meta,
                                plain=plain[0] if len(plain) == 1 else None)
    return result


def finalize_nifti(src: Path, dest_nii_gz: Path) -> None:
    """Zero the header's free-text fields and gzip deterministically to ``dest_nii_gz``."""
    data = bytearray(Path(src).read_bytes())
    scrub_nifti_header(data)
    if len(data) >= 352 and data[348] != 0:
        raise ConversionError("unexpected NIfTI header extension")
    dest_nii_gz.parent.mkdir(parents=True, exist_ok=True)
    with open(dest_nii_gz, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                                       mtime=0,
                                                       compresslevel=GZIP_LEVEL) as gz:
        gz.write(data)


def write_sidecar(meta: dict, dest_json: Path) -> None:
    """Write the allow-listed sidecar (see :func:`tasks.ingest.deid.clean_sidecar`)."""
    dest_json.parent.mkdir(parents=True, exist_ok=True)
    dest_json.write_bytes(sidecar_bytes(meta))
