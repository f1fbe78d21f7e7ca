"""Already converted images: ``<folder>/<patient_id>/<YYYYMMDD>/<name>.nii[.gz]`` + ``.json``.

The JSON sidecar (dcm2niix style, times in seconds) is used to classify the image, like the
DICOM attributes of a series; a missing sidecar leaves only the file name's keywords. Each
image is one series; its ledger key is its content hash.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from calcisvd.io import sha256_file
from tasks.ingest.classify import classify_series
from tasks.ingest.deid import keyed_hash, parse_dicom_date
from tasks.ingest.sources.base import (
    Context,
    Discovery,
    SeriesInput,
    Source,
    Study,
    stat_row,
    unreadable_item,
)


def nifti_stem(path: str) -> str:
    """File name without ``.nii`` / ``.nii.gz``."""
    name = Path(path).name
    return name[:-7] if name.endswith(".nii.gz") else name[:-4]


def _ms(value) -> float | None:
    """Sidecar seconds to DICOM milliseconds."""
    try:
        return float(value) * 1000.0 if value is not None else None
    except (TypeError, ValueError):
        return None


def classify_sidecar(meta: dict, name: str, modality_hint: str = "MR"):
    """Classify an image from its sidecar (BIDS units) and file name."""
    return classify_series(
        modality=str(meta.get("Modality") or modality_hint),
        image_type=tuple(str(t) for t in meta.get("ImageType") or ()),
        description=f"{meta.get('SeriesDescription', '')} {meta.get('ProtocolName', '')} "
                    f"{name}",
        repetition_time=_ms(meta.get("RepetitionTime")), echo_time=_ms(meta.get("EchoTime")),
        inversion_time=_ms(meta.get("InversionTime")),
        scanning_sequence=str(meta.get("ScanningSequence") or ""),
        sequence_name=str(meta.get("SequenceName") or ""))


def read_sidecar(path: Path) -> dict:
    """The JSON next to a NIfTI file, or ``{}``."""
    side = path.parent / (nifti_stem(str(path)) + ".json")
    if side.is_file():
        try:
            return json.loads(side.read_text())
        except (ValueError, UnicodeDecodeError):
            return {}
    return {}


def nifti_series(ctx: Context, rel: str, kind: str | None, reason: str,
                 sidecar: dict) -> tuple[SeriesInput | None, bool]:
    """A :class:`SeriesInput` for one NIfTI file, or ``(None, True)`` when already known."""
    pkey = keyed_hash(ctx.key, "path:" + rel)
    size, mtime, cached = stat_row(ctx, rel, pkey)
    if cached:
        return None, True
    sha = sha256_file(ctx.drop_dir / rel)
    ikey = keyed_hash(ctx.key, "nifti:" + sha)
    if ikey in ctx.instances:
        return None, True
    s = SeriesInput(key=ikey, kind=kind, reason=reason, files=[rel],
                    file_rows=[(pkey, size, mtime, sha)], inst_rows=[(ikey, sha)],
                    source="nifti", order=(rel,), nifti=ctx.drop_dir / rel, sidecar=sidecar)
    return s, False


class NiftiFolderSource(Source):
    """NIfTI + JSON files laid out as ``<patient_id>/<YYYYMMDD>/<image>``."""

    kind = "nifti"

    def discover(self, ctx: Context) -> Discovery:
        """One series per NIfTI file; patient and date from the two parent folders."""
        disc = Discovery()
        studies: dict[tuple[str, str], Study] = {}
        groups: dict[tuple[str, str], list[SeriesInput]] = defaultdict(list)
        for rel in self.files:
            path = ctx.drop_dir / rel
            try:
                meta = read_sidecar(path)
                c = classify_sidecar(meta, nifti_stem(rel))
                s, known = nifti_series(ctx, rel, c.kind, c.reason, meta)
            except OSError as exc:
                disc.quarantine.append(unreadable_item(rel, keyed_hash(ctx.key, "path:" + rel),
                                                       exc))
                continue
            if known:
                disc.unchanged += 1
                continue
            assert s is not None
            parts = Path(rel).parts
            date = parse_dicom_date(parts[-2]) if len(parts) >= 3 else None
            if date is None:
                disc.quarantine.append(s.quarantine_item(
                    "NIfTI file not in a <patient_id>/<YYYYMMDD>/ folder: cannot tell whose "
                    "scan it is or when it was taken", "unsupported"))
                disc.quarantine_rows += s.file_rows
                continue
            if s.kind is None:
                disc.skipped.append(s)
                continue
            sid = (parts[-3], parts[-2])
            studies.setdefault(sid, Study(patient_id=parts[-3],
                                          study_uid=f"nifti:{parts[-3]}:{parts[-2]}",
                                          date=date))
            groups[sid].append(s)
        for sid, study in sorted(studies.items()):
            study.series = groups[sid]
            disc.studies.append(study)
        return disc
