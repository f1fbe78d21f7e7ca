"""``--messy``: the faults real hospital exports contain, each recorded in the truth.

* ``duplicate_series``: a FLAIR series sent twice (same UIDs) in the next week's export;
* ``missing_followup``: one patient's follow-up visit is absent;
* ``truncated_file``: one CT slice cut to 60 % of its bytes;
* ``non_image_dicom``: an X-ray radiation dose structured report (no pixels) in a CT study;
* ``non_dicom_file``: an export log (text) and a ``Thumbs.db`` inside the tree;
* ``unusual_orientation``: a T1w acquired sagittally and a T2w acquired obliquely (18 deg).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from simulator import dicom
from simulator.cohort import PatientSpec


def plan_faults(specs: list[PatientSpec], seed: int, follow_up: bool) -> dict[str, Any]:
    """Choose which patients carry which fault (deterministic for the seed)."""
    rng = np.random.default_rng([seed, 99])
    ids = [s.patient_id for s in specs]
    pick = list(rng.permutation(len(ids)))

    def nxt() -> str:
        i = pick.pop(0) if pick else int(rng.integers(len(ids)))
        return ids[i]

    plan: dict[str, Any] = {}
    if follow_up and len(ids) > 1:
        plan["missing_followup"] = {"patient_id": nxt()}
    plan["unusual_orientation"] = [
        {"patient_id": nxt(), "visit": "baseline", "contrast": "T1w", "orientation": "sagittal"},
        {"patient_id": nxt(), "visit": "baseline", "contrast": "T2w", "orientation": "oblique"},
    ]
    plan["duplicate_series"] = {"patient_id": nxt(), "visit": "baseline", "contrast": "FLAIR"}
    plan["truncated_file"] = {"patient_id": nxt(), "visit": "baseline"}
    plan["non_image_dicom"] = {"patient_id": nxt(), "visit": "baseline"}
    return plan


def apply_orientation(plan: dict[str, Any], jobs: list) -> None:
    """Set the unusual orientations on the jobs before rendering."""
    by_id = {j.spec.patient_id: j for j in jobs}
    for item in plan.get("unusual_orientation", []):
        job = by_id[item["patient_id"]]
        job.orientation.setdefault(item["visit"], {})[item["contrast"]] = item["orientation"]


def apply_file_faults(plan: dict[str, Any], jobs: list, drop_dir: Path) -> list[dict]:
    """Make the file-level faults after the export was written; returns their records.

    Paths in the records are relative to ``drop_dir``.
    """

    def rel(p: Path) -> str:
        return str(Path(p).relative_to(drop_dir))

    by_id = {j.spec.patient_id: j for j in jobs}
    faults: list[dict[str, Any]] = []
    if "missing_followup" in plan:
        faults.append({"fault": "missing_followup", **plan["missing_followup"]})
    for item in plan.get("unusual_orientation", []):
        job = by_id[item["patient_id"]]
        faults.append({"fault": "unusual_orientation", **item,
                       "path": rel(job.paths["baseline"]["mr"])})
    # duplicate series: the same files again in the next week's export
    item = plan["duplicate_series"]
    job = by_id[item["patient_id"]]
    src = job.paths["baseline"]["mr"] / "SE00004"
    exp = src.parents[3].name  # pacs_<date>
    later = dt.datetime.strptime(exp[5:], "%Y%m%d").date() + dt.timedelta(days=7)
    dst = drop_dir / f"pacs_{later:%Y%m%d}" / "DICOM" / "PA90001" / "ST00001" / "SE00004"
    if not dst.exists():
        shutil.copytree(src, dst)
    faults.append({"fault": "duplicate_series", **item, "original": rel(src),
                   "duplicate": rel(dst)})
    # truncated file
    item = plan["truncated_file"]
    job = by_id[item["patient_id"]]
    ct = job.paths["baseline"]["ct"] / "SE00002"
    files = sorted(ct.glob("IM*"))
    victim = files[len(files) // 2]
    full = files[0].stat().st_size  # every slice has the same size: rerunning is idempotent
    victim.write_bytes(victim.read_bytes()[: int(full * 0.6)])
    faults.append({"fault": "truncated_file", **item, "path": rel(victim)})
    # non-image DICOM: radiation dose SR in the CT study
    item = plan["non_image_dicom"]
    job = by_id[item["patient_id"]]
    import pydicom

    first = pydicom.dcmread(sorted((job.paths["baseline"]["ct"] / "SE00002").glob("IM*"))[0],
                            stop_before_pixels=True)
    study = {k: first.get(k) for k in (
        "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID",
        "StudyDate", "StudyTime", "AccessionNumber", "InstitutionName",
        "ReferringPhysicianName", "Manufacturer", "ManufacturerModelName", "StudyID")}
    series = dicom.SeriesSpec("SR", 998, "Radiation Dose Information",
                              dicom.make_uid(study["StudyInstanceUID"], "dose-sr"), ["DERIVED"])
    sr_path = job.paths["baseline"]["ct"] / "SE00998" / "IM00001"
    dicom.write_dose_sr(sr_path, study, series, 55.2, 980.4)
    faults.append({"fault": "non_image_dicom", **item, "path": rel(sr_path)})
    # non-DICOM files
    exp_dir = sorted(drop_dir.glob("pacs_*"))[0]
    log = exp_dir / "export_log.txt"
    log.write_text("PACS export job finished\nstudies: see DICOM/\n")
    thumbs = job.paths["baseline"]["mr"] / "SE00002" / "Thumbs.db"
    thumbs.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    faults.append({"fault": "non_dicom_file", "paths": [rel(log), rel(thumbs)]})
    return faults
