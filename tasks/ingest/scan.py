"""Walk the drop folder and sort its files by source kind (DICOM, NIfTI folder, BIDS)."""

from __future__ import annotations

import os
from pathlib import Path

from tasks.ingest.sources.base import Source
from tasks.ingest.sources.bids_dataset import BidsDatasetSource
from tasks.ingest.sources.dicom_export import DicomExportSource
from tasks.ingest.sources.nifti_folder import NiftiFolderSource

CLINICAL_DIR = "clinical"


def _is_nifti(name: str) -> bool:
    return name.endswith((".nii", ".nii.gz"))


def scan_drop(drop_dir: Path) -> list[Source]:
    """Sources under ``drop_dir``: every existing BIDS dataset, NIfTI files, other files.

    Hidden files and folders, ``clinical/`` and the sidecars of NIfTI files are left out.
    Paths are relative to ``drop_dir`` and sorted, so the plan does not depend on walk order.
    """
    drop_dir = Path(drop_dir)
    dicom: list[str] = []
    nifti: list[str] = []
    bids: dict[str, list[str]] = {}
    if not drop_dir.is_dir():
        return []
    for dirpath, dirnames, filenames in os.walk(drop_dir):
        rel_dir = Path(dirpath).relative_to(drop_dir)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        if rel_dir == Path("."):
            dirnames[:] = [d for d in dirnames if d != CLINICAL_DIR]
        bids_root = next((r for r in bids if rel_dir.as_posix().startswith(r + "/")
                          or rel_dir.as_posix() == r), None)
        if bids_root is None and "dataset_description.json" in filenames:
            bids_root = rel_dir.as_posix()
            bids[bids_root] = []
        if bids_root is not None:
            dirnames[:] = [d for d in dirnames if d not in {"derivatives", "sourcedata", "code"}]
        names = set(filenames)
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            rel = (rel_dir / name).as_posix()
            if _is_nifti(name):
                (bids[bids_root] if bids_root is not None else nifti).append(rel)
            elif bids_root is not None:
                continue  # sidecars, TSVs and dataset files of the BIDS source
            elif name.endswith(".json") and (
                    f"{name[:-5]}.nii" in names or f"{name[:-5]}.nii.gz" in names):
                continue  # sidecar of a NIfTI file
            else:
                dicom.append(rel)
    sources: list[Source] = []
    if dicom:
        sources.append(DicomExportSource(dicom))
    if nifti:
        sources.append(NiftiFolderSource(nifti))
    sources += [BidsDatasetSource(files, root) for root, files in sorted(bids.items()) if files]
    return sources
