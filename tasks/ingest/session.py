"""Write one session: convert, de-identify, stage, then move into the dataset atomically.

The session folder is built under a staging folder beside the BIDS root (same file system):
existing files of the session are hard-linked in, new images are converted by one dcm2niix
call, headers and sidecars are cleaned, ``scans.tsv`` is written, and the folder replaces the
session with :func:`tasks.ingest.fsutil.replace_dir`. A crash before the rename leaves the
dataset untouched; the staging folder is removed at the next run.
"""

from __future__ import annotations

import gzip
import math
import os
import shutil
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tasks.ingest.bidsio import scans_tsv_text
from tasks.ingest.classify import BIDS_NAME
from tasks.ingest.convert import (
    ConversionError,
    Converted,
    collect_outputs,
    finalize_nifti,
    run_dcm2niix,
    split_inputs,
    stage_inputs,
    write_sidecar,
)
from tasks.ingest.deid import scrub_nifti_header
from tasks.ingest.fsutil import replace_dir, write_text_atomic
from tasks.ingest.plan import SessionPlan
from tasks.ingest.quarantine import QuarantineItem
from tasks.ingest.sources.base import SeriesInput


@dataclass
class SessionResult:
    """What happened to each series of a planned session."""

    subject: str
    session: str
    days: int
    ingested: list[SeriesInput] = field(default_factory=list)
    quarantined: list[tuple[SeriesInput, QuarantineItem]] = field(default_factory=list)
    written: bool = False  # the session folder was created or replaced


#: the most bytes a NIfTI source may hold (uncompressed): the largest plausible single 3-D
#: image, a 256 mm head at 0.5 mm isotropic (512^3 voxels), at the widest voxel type (8-byte
#: float64) is 1 GiB. A source is also read no further than its header's declared size, so a
#: small gzip expanding to gigabytes of padding is refused after a few bytes past that size.
MAX_NIFTI_BYTES = 512 ** 3 * 8


def _nifti_source_bytes(path: Path) -> bytes:
    """The uncompressed bytes of a NIfTI source, read no further than its header declares
    (bounded by :data:`MAX_NIFTI_BYTES`); :class:`ConversionError` for a sparse file, a file
    declaring more than the bound, one that decompresses past its declared size, or a
    non-finite geometry (pixdim, quaternion, sform)."""
    st = path.stat()
    gz = path.name.endswith(".gz")
    if not gz and st.st_size > MAX_NIFTI_BYTES:
        raise ConversionError(f"file of {st.st_size} bytes is larger than any plausible image")
    if st.st_size > (1 << 20) and st.st_blocks * 512 < st.st_size // 2:
        raise ConversionError("sparse file (holds fewer bytes on disk than its size)")
    opener = gzip.open if gz else open
    with opener(path, "rb") as fh:
        hdr = fh.read(348)
        if len(hdr) < 348 or int.from_bytes(hdr[:4], "little") != 348:
            return hdr  # the caller refuses it (bad header size)
        dims = struct.unpack("<8h", hdr[40:56])
        bitpix = struct.unpack("<h", hdr[72:74])[0]
        geometry = struct.unpack("<8f", hdr[76:108]) + struct.unpack("<18f", hdr[256:328])
        vox_offset = struct.unpack("<f", hdr[108:112])[0]
        if not all(math.isfinite(v) for v in (*geometry, vox_offset)):
            raise ConversionError("non-finite affine or voxel size in the NIfTI header")
        ndim = min(max(dims[0], 0), 7)
        voxels = math.prod(max(d, 1) for d in dims[1:ndim + 1])
        declared = int(max(vox_offset, 352)) + voxels * max(bitpix, 8) // 8
        if declared > MAX_NIFTI_BYTES:
            raise ConversionError(f"header declares {declared} bytes, more than any plausible "
                                  f"image ({MAX_NIFTI_BYTES})")
        rest = fh.read(declared - 348 + 1)
    if len(rest) > declared - 348:
        raise ConversionError(f"image holds more data than its header declares ({declared} "
                              "bytes): refused before decompressing further")
    return hdr + rest


def _write_from_nifti(s: SeriesInput, work: Path) -> Path:
    """Clean a NIfTI-source image into ``work`` (uncompressed), ready for finalize_nifti."""
    data = bytearray(_nifti_source_bytes(Path(s.nifti or "")))
    if len(data) < 348 or int.from_bytes(data[:4], "little") != 348:
        raise ConversionError("not a NIfTI-1 image (bad header size)")
    scrub_nifti_header(data)
    out = work / f"{s.key[:16]}.nii"
    out.write_bytes(data)
    return out


def build_session(sp: SessionPlan, *, drop_dir: Path, bids_dir: Path, staging_root: Path,
                  dcm2niix: str, before_commit: Callable[[], None] | None = None
                  ) -> SessionResult:
    """Convert and write the new series of ``sp``; returns per-series outcomes.

    ``before_commit`` runs just before the staged session replaces the dataset's (the caller
    records the subject's secrets there: a run killed between the two then leaves the secrets
    without the images, which the next run completes, never images without their secrets)."""
    res = SessionResult(sp.subject, sp.session, sp.days)
    work = staging_root / f"{sp.name}.{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        outputs = _convert(sp, drop_dir, work)
        target = bids_dir / f"sub-{sp.subject}" / f"ses-{sp.session}"
        staged = work / f"ses-{sp.session}"
        if target.exists():
            shutil.copytree(target, staged, copy_function=os.link)
        else:
            staged.mkdir()
        changed = False
        for s in sp.series:
            out = outputs.get(s.key)
            if isinstance(out, str):
                res.quarantined.append((s, s.quarantine_item(
                    out, "geometry" if out.startswith("geometry") else "conversion")))
                continue
            assert out is not None
            base = f"sub-{sp.subject}_ses-{sp.session}_{BIDS_NAME[s.kind or '']}"
            dest = staged / "anat" / f"{base}.nii.gz"
            tmp = work / "final" / f"{base}.nii.gz"
            finalize_nifti(out.nifti, tmp)
            if dest.exists() and s.replaces:  # a grown series: the whole series replaces it
                dest.unlink()  # (hard links in the staged copy: the dataset is untouched)
                dest.with_name(f"{base}.json").unlink(missing_ok=True)
                changed = True
            elif dest.exists():
                if dest.read_bytes() == tmp.read_bytes():
                    res.ingested.append(s)  # already in place (an interrupted earlier run)
                else:
                    res.quarantined.append((s, s.quarantine_item(
                        f"duplicate series with different content: {sp.name} already has a "
                        f"{BIDS_NAME[s.kind or '']} image", "duplicate")))
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, dest)
            write_sidecar(out.sidecar, dest.with_name(f"{base}.json"))
            res.ingested.append(s)
            changed = True
        if changed:
            write_text_atomic(staged / f"sub-{sp.subject}_ses-{sp.session}_scans.tsv",
                              scans_tsv_text(staged))
            if before_commit is not None:
                before_commit()
            replace_dir(staged, target)
            res.written = True
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return res


def _convert(sp: SessionPlan, drop_dir: Path, work: Path) -> dict[str, Converted | str]:
    """Series key -> converted volume or a reason; one dcm2niix call for the DICOM series."""
    from tasks.ingest.convert import find_dcm2niix

    outputs: dict[str, Converted | str] = {}
    dicom = [s for s in sp.series if s.source == "dicom"]
    if dicom:
        exe = find_dcm2niix()
        files = {s.series_uid: [drop_dir / f for f in s.files] for s in dicom}
        direct, linked = split_inputs(files)
        # one dcm2niix call for the whole session (each call costs ~30 ms of start-up)
        stage_inputs(linked, work / "in", folders=direct)
        run_dcm2niix(exe, work / "in", work / "out")
        by_uid = collect_outputs(work / "out", list(files))
        missing = [u for u, out in by_uid.items() if isinstance(out, str)]
        if missing and len(files) > 1:
            # a series dcm2niix did not convert: try it alone, so that no other series of
            # the session can have been the cause (e.g. a crash part-way through the call)
            for n, uid in enumerate(missing):
                alone = work / f"alone{n}"
                stage_inputs({uid: files[uid]}, alone / "in")
                run_dcm2niix(exe, alone / "in", alone / "out")
                by_uid[uid] = collect_outputs(alone / "out", [uid])[uid]
        from tasks.ingest.geometry import verify_converted

        for s in dicom:
            out = _check_volume(by_uid[s.series_uid])
            if not isinstance(out, str) and s.kind == "ct" and "KVP" not in out.sidecar:
                out = Converted(out.nifti, {**out.sidecar, **_ct_kvp(drop_dir, s.files)},
                                out.plain)
            outputs[s.key] = out if isinstance(out, str) else \
                verify_converted(s.geometry, out, work)
    for s in sp.series:
        if s.source == "nifti":
            try:
                nii = _write_from_nifti(s, work)
                outputs[s.key] = _check_volume(Converted(nifti=nii, sidecar=s.sidecar))
            except ConversionError as exc:  # our own reasons: no header value quoted
                outputs[s.key] = f"NIfTI image refused: {exc}"
            except (OSError, EOFError, gzip.BadGzipFile, ValueError,
                    OverflowError, struct.error) as exc:  # any header the checks missed
                outputs[s.key] = f"unreadable NIfTI image ({type(exc).__name__})"
    return outputs


def _ct_kvp(drop_dir: Path, files: list[str]) -> dict[str, float]:
    """``{"KVP": kV}`` from the series' first readable DICOM header (0018,0060), which
    dcm2niix does not copy to the sidecar; empty when absent or not a number. The calcium
    threshold of the CT measurer depends on the tube voltage (tasks/icac/ctqc.py)."""
    import pydicom

    for rel in files[:3]:
        try:
            ds = pydicom.dcmread(drop_dir / rel, stop_before_pixels=True,
                                 specific_tags=[0x00180060])
            kvp = float(ds.get("KVP"))
        except Exception:  # unreadable, missing or not a number: try the next file
            continue
        if 10.0 <= kvp <= 200.0:
            return {"KVP": kvp}
    return {}


#: fewest slices a volume may have (one or two slices are not a 3-D volume to measure on)
MIN_SLICES = 3
#: NIfTI datatype codes of floating-point images -> numpy dtype (little-endian)
_FLOAT_CODES = {16: "<f4", 64: "<f8", 32: "<c8", 1792: "<c16"}


def _non_finite(path: Path, offset: int, voxels: int, code: int) -> int:
    """Number of NaN/inf voxels of an uncompressed little-endian float NIfTI (0 otherwise).

    Read through a memory map in blocks of 4 M voxels, so memory stays bounded.
    """
    import numpy as np

    dtype = _FLOAT_CODES.get(code)
    if dtype is None or voxels <= 0:
        return 0
    data = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=(voxels,))
    try:
        block = 1 << 22
        return sum(int((~np.isfinite(data[i:i + block])).sum())
                   for i in range(0, voxels, block))
    finally:
        del data


def _check_volume(out: Converted | str) -> Converted | str:
    """A 3-D image of at least :data:`MIN_SLICES` slices and finite voxels, or a reason."""
    if isinstance(out, str):
        return out
    with open(out.nifti, "rb") as fh:
        hdr = fh.read(352)
    dims = [int.from_bytes(hdr[40 + 2 * i:42 + 2 * i], "little", signed=True) for i in range(8)]
    ndim = dims[0]
    if ndim < 3 or any(d < 1 for d in dims[1:4]):
        return f"not a 3-D volume (dim {dims[:4]})"
    if ndim > 3 and any(d > 1 for d in dims[4:ndim + 1]):
        return "a 4-D series (several volumes); calcisvd expects one 3-D volume"
    voxels = dims[1] * dims[2] * dims[3]
    bitpix = int.from_bytes(hdr[72:74], "little")
    vox_offset = struct.unpack("<f", hdr[108:112])[0]
    if not math.isfinite(vox_offset) or not 348 <= vox_offset <= out.nifti.stat().st_size:
        return "image header is not valid: vox_offset is not finite or points outside the file"
    offset = int(vox_offset)
    if out.nifti.stat().st_size < offset + voxels * bitpix // 8:
        return "converted image is shorter than its header says (truncated input)"
    if min(dims[1:4]) < MIN_SLICES:
        return (f"too few slices for a 3-D volume (size {dims[1]} x {dims[2]} x {dims[3]}; at "
                f"least {MIN_SLICES} slices are needed)")
    try:
        bad = _non_finite(out.nifti, offset, voxels, int.from_bytes(hdr[70:72], "little"))
    except ValueError:  # datatype and bitpix disagree: the data does not fit the file
        return "image data does not match its header (datatype, size or offset)"
    if bad:
        return f"image has non-finite values: {bad} of {voxels} voxels are NaN or infinite"
    return out
