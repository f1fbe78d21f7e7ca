"""The cohort export behind ``calcisvd simulate``: PACS-like DICOM tree, clinical CSV, truth.

Layout written (see docs/simulator.md)::

    <drop>/pacs_<YYYYMMDD>/DICOM/PA<nnnnn>/ST<nnnnn>/SE<nnnnn>/IM<nnnnn>
    <drop>/clinical/clinical_<YYYYMMDD>.csv
    <truth>/cohort.json, <truth>/messy.json
    <truth>/<patient_id>/<visit>/truth.json + masks (.nii.gz)

Each visit is a CT study (GE LightSpeed VCT: scout, axial head series, dose report) and an MR
study (Siemens Skyra 3T: localizer, T1w, T2w, FLAIR, T2*) on the same day. Exports are grouped
by week (the Friday after the study). Everything derives from the seed: names, dates, UIDs.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simulator import dicom
from simulator.cohort import PatientSpec, paper_tables, patient_rng, sample_cohort
from simulator.nifti import write_nifti

COHORT_START = dt.date(2021, 3, 1)
INSTITUTION = "Rivermouth University Hospital"
FIRST = {"M": ["JAN", "PETER", "THOMAS", "MICHAEL", "ANDREAS", "KLAUS", "WEI", "LUCA", "OMAR",
               "JOHN", "HANS", "PAVEL"],
         "F": ["ANNA", "MARIA", "SUSANNE", "PETRA", "LI", "SOFIA", "FATIMA", "EVA", "CLAIRE",
               "MONIKA", "JULIA", "HELGA"]}
LAST = ["MUELLER", "SCHMIDT", "SCHNEIDER", "FISCHER", "WEBER", "MEYER", "WAGNER", "BECKER",
        "HOFFMANN", "KOCH", "ZHANG", "ROSSI", "NOVAK", "YILMAZ", "SMITH", "JANSSEN"]
PHYSICIANS = ["HARTMANN^ULRICH^^DR", "KRAUSE^BIRGIT^^DR", "OKAFOR^CHIDI^^DR"]
MR_PROTOCOL = {
    # contrast: (series number, description, sequence fields)
    "T1w": (2, "t1_se_tra", {"ScanningSequence": "SE", "SequenceVariant": "SP",
                             "SequenceName": "*se2d1", "FlipAngle": 90, "EchoTrainLength": 1}),
    "T2w": (3, "t2_tse_tra", {"ScanningSequence": "SE", "SequenceVariant": "SK\\SP",
                              "SequenceName": "*tse2d1_15", "FlipAngle": 150,
                              "EchoTrainLength": 15}),
    "FLAIR": (4, "t2_tirm_tra_dark-fluid", {"ScanningSequence": "SE\\IR",
                                            "SequenceVariant": "SK\\SP\\MP",
                                            "SequenceName": "*tir2d1_16", "FlipAngle": 150,
                                            "EchoTrainLength": 16}),
    "T2starw": (5, "t2_fl2d_tra_hemo", {"ScanningSequence": "GR", "SequenceVariant": "SP",
                                        "SequenceName": "*fl2d1", "FlipAngle": 20,
                                        "EchoTrainLength": 1, "RepetitionTime": 650.0,
                                        "EchoTime": 20.0}),
}
MESSY_FAULTS = ("duplicate_series", "missing_followup", "truncated_file", "non_image_dicom",
                "non_dicom_file", "unusual_orientation")


@dataclass
class PatientJob:
    """Everything a worker needs to export one patient."""

    spec: PatientSpec
    resolution_mm: float
    drop_dir: Path
    truth_dir: Path
    visits: list[str]
    paths: dict[str, dict[str, Path]]  # visit -> {"ct": study dir, "mr": study dir}
    dates: dict[str, dt.date]
    protocol: str = "paper"  # simulator/protocols.py
    orientation: dict[str, dict[str, str]] = field(default_factory=dict)  # visit->contrast->


def study_dates(spec: PatientSpec) -> dict[str, dt.date]:
    """Baseline and follow-up dates of a patient."""
    base = COHORT_START + dt.timedelta(days=spec.baseline_day)
    return {"baseline": base, "followup": base + dt.timedelta(days=spec.followup_gap_days)}


def export_date(d: dt.date) -> dt.date:
    """PACS exports run weekly, on the Friday on or after the study."""
    return d + dt.timedelta(days=(4 - d.weekday()) % 7)


def birth_date(spec: PatientSpec, baseline: dt.date) -> dt.date:
    """Birth date such that the age at baseline is ``spec.age``."""
    day = min(baseline.day, 28)
    return baseline.replace(year=baseline.year - spec.age, day=day) - dt.timedelta(
        days=spec.birth_offset_days)


def _name(spec: PatientSpec) -> str:
    rng = patient_rng(spec.seed, spec.index, "name")
    first = FIRST[spec.sex][int(rng.integers(len(FIRST[spec.sex])))]
    return f"{LAST[int(rng.integers(len(LAST)))]}^{first}"


def _study_header(spec: PatientSpec, visit: str, date: dt.date, kind: str) -> dict[str, Any]:
    rng = patient_rng(spec.seed, spec.index, f"header:{visit}:{kind}")
    acq = paper_tables()["acquisition"]
    bd = birth_date(spec, study_dates(spec)["baseline"])
    age = date.year - bd.year - ((date.month, date.day) < (bd.month, bd.day))
    hh, mm = int(rng.integers(7, 18)), int(rng.integers(0, 60))
    h = {
        "PatientName": _name(spec), "PatientID": spec.patient_id,
        "PatientBirthDate": bd.strftime("%Y%m%d"), "PatientSex": spec.sex,
        "PatientAge": f"{age:03d}Y", "PatientWeight": round(float(rng.uniform(55, 100)), 1),
        "StudyInstanceUID": dicom.make_uid(spec.seed, spec.patient_id, visit, kind, "study"),
        "StudyDate": date.strftime("%Y%m%d"), "StudyTime": f"{hh:02d}{mm:02d}00",
        "StudyID": str(int(rng.integers(1000, 99999))),
        "AccessionNumber": f"A{int(rng.integers(10**7, 10**8))}",
        "InstitutionName": INSTITUTION, "InstitutionAddress": "1 Harbour Road, Rivermouth",
        "InstitutionalDepartmentName": "Neuroradiology",
        "ReferringPhysicianName": PHYSICIANS[int(rng.integers(len(PHYSICIANS)))],
        "OperatorsName": "TECH^" + LAST[int(rng.integers(len(LAST)))],
        "BodyPartExamined": "HEAD", "PatientPosition": "HFS",
        "FrameOfReferenceUID": dicom.make_uid(spec.seed, spec.patient_id, visit, kind, "for"),
    }
    if kind == "ct":
        ct = acq["ct"]
        h.update({"StudyDescription": "CT HEAD WO CONTRAST", "Manufacturer": "GE MEDICAL SYSTEMS",
                  "ManufacturerModelName": ct["model"], "StationName": "CT01",
                  "DeviceSerialNumber": "VCT0419", "SoftwareVersions": "07MW18.4"})
    else:
        h.update({"StudyDescription": "MR HEAD WO CONTRAST", "Manufacturer": "SIEMENS",
                  "ManufacturerModelName": "Skyra", "StationName": "MRC40123",
                  "DeviceSerialNumber": "40123", "SoftwareVersions": "syngo MR E11",
                  "MagneticFieldStrength": 3.0, "ImagingFrequency": 123.25})
    return h


def _series(study: dict[str, Any], number: int, desc: str, modality: str,
            image_type: list[str] | None = None, **extra: Any) -> dicom.SeriesSpec:
    uid = dicom.make_uid(study["StudyInstanceUID"], number, desc)
    return dicom.SeriesSpec(modality, number, desc, uid,
                            image_type or ["ORIGINAL", "PRIMARY", "AXIAL"], extra)


def _oblique(arr: np.ndarray, affine: np.ndarray, angle_deg: float = 18.0
             ) -> tuple[np.ndarray, np.ndarray]:
    """Resample onto a grid tilted about the left-right axis (an oblique acquisition)."""
    from simulator import geometry as geo

    centre = affine[:3, :3] @ (np.array(arr.shape) / 2.0) + affine[:3, 3]
    rot = geo.rigid((angle_deg, 0, 0), (0, 0, 0))
    new = rot @ affine
    new[:3, 3] = centre - new[:3, :3] @ (np.array(arr.shape) / 2.0)
    return geo.resample(arr, affine, new, arr.shape, order=1), new


def write_visit(job: PatientJob, visit: str, session) -> dict[str, Any]:
    """Write the CT and MR studies of one rendered visit; returns UIDs and series paths."""
    date = job.dates[visit]
    out: dict[str, Any] = {"series": {}}
    spec = job.spec
    uid_parts = (spec.seed, spec.patient_id, visit)
    acq = paper_tables()["acquisition"]
    # ---- CT study ---------------------------------------------------------------------
    ct_dir = job.paths[visit]["ct"]
    h = _study_header(spec, visit, date, "ct")
    out["ct_study_instance_uid"] = h["StudyInstanceUID"]
    hu, aff = session.images["ct"]
    prot = session.truth.get("protocol", {})
    res = float(prot.get("ct_slice_mm") or np.abs(aff[2, 2]))
    kernel = "BONE" if prot.get("ct_kernel") == "bone" else "STANDARD"
    ct_common = {"KVP": prot.get("kvp", acq["ct"]["kvp"]), "XRayTubeCurrent": acq["ct"]["ma"],
                 "ExposureTime": 1000, "ConvolutionKernel": kernel,
                 "GantryDetectorTilt": float(prot.get("ct_tilt_deg", 0.0)),
                 "TableHeight": 160.0,
                 "ReconstructionDiameter": 250.0, "ProtocolName": "HEAD ROUTINE",
                 "CTDIvol": 55.2, "AcquisitionNumber": 1}
    scout = _series(h, 1, "Scout", "CT", ["ORIGINAL", "PRIMARY", "LOCALIZER"], **ct_common)
    proj = np.clip((hu + 1000).mean(axis=1) * 2 - 1000, -1024, 3000)[:, None, :]
    dicom.write_image_series(ct_dir / "SE00001", proj, aff, h, scout, slice_axis=1,
                             uid_parts=uid_parts)
    axial = _series(h, 2, f"HEAD ROUTINE {res:.1f} {kernel[:4]}", "CT", **ct_common)
    out["series"]["ct"] = str(ct_dir / "SE00002")
    dicom.write_image_series(ct_dir / "SE00002", hu, aff, h, axial, uid_parts=uid_parts,
                             slice_thickness_mm=prot.get("ct_slice_mm"))
    dose = _series(h, 999, "Dose Report", "CT", ["DERIVED", "SECONDARY", "SCREEN SAVE"])
    dicom.write_secondary_capture(ct_dir / "SE00999" / "IM00001", dicom.text_image(
        ["Dose Report", "Series Type Scan Range CTDIvol DLP", "2 Helical 55.20 980.4"]),
        h, dose)
    # ---- MR study -----------------------------------------------------------------------
    mr_dir = job.paths[visit]["mr"]
    h = _study_header(spec, visit, date, "mr")
    out["study_instance_uid"] = h["StudyInstanceUID"]
    flair, faff = session.images["FLAIR"]
    loc = _series(h, 1, "localizer", "MR", ["ORIGINAL", "PRIMARY", "M", "NORM", "DIS2D"],
                  RepetitionTime=8.6, EchoTime=4.0, ScanningSequence="GR",
                  SequenceVariant="SP", SequenceName="*fl2d1", FlipAngle=20)
    c = np.array(flair.shape) // 2
    for n, ax in enumerate((0, 1, 2)):
        sl = [slice(None)] * 3
        sl[ax] = slice(c[ax], c[ax] + 1)
        a2 = faff.copy()
        a2[:3, 3] = faff[:3, :3] @ np.array([s.start or 0 for s in sl]) + faff[:3, 3]
        dicom.write_image_series(mr_dir / "SE00001", flair[tuple(sl)] * 0.6, a2, h, loc,
                                 slice_axis=ax, uid_parts=uid_parts, first_instance=n + 1)
    mri = acq["mri"]
    for contrast, (num, desc, seq) in MR_PROTOCOL.items():
        if contrast not in session.images:  # FLAIR-only / FLAIR+T1 protocols
            continue
        arr, aff = session.images[contrast]
        times = {"RepetitionTime": float(mri.get(contrast, {}).get("tr_ms", 0)),
                 "EchoTime": float(mri.get(contrast, {}).get("te_ms", 0))}
        if "ti_ms" in mri.get(contrast, {}):
            times["InversionTime"] = float(mri[contrast]["ti_ms"])
        fields = {**times, **seq, "MRAcquisitionType": "2D", "ProtocolName": desc,
                  "MagneticFieldStrength": 3.0, "AcquisitionNumber": 1}
        orient = job.orientation.get(visit, {}).get(contrast, "axial")
        slice_axis = 2
        itype = ["ORIGINAL", "PRIMARY", "M", "NORM", "DIS2D"]
        if orient == "sagittal":
            slice_axis, desc = 0, desc.replace("_tra", "_sag")
        elif orient == "oblique":
            arr, aff = _oblique(arr, aff)
            desc = desc.replace("_tra", "_tra_obl")
        s = _series(h, num, desc, "MR", itype, **fields)
        folder = mr_dir / f"SE{num:05d}"
        dicom.write_image_series(folder, arr, aff, h, s, slice_axis=slice_axis,
                                 uid_parts=uid_parts,
                                 slice_thickness_mm=prot.get("mr_slice_mm")
                                 if slice_axis == 2 and orient != "oblique" else None)
        out["series"][contrast] = str(folder)
    return out


def write_truth(job: PatientJob, visit: str, session, uids: dict[str, Any]) -> None:
    """Truth masks (NIfTI, world space) then ``truth.json`` last (marks the visit complete)."""
    d = job.truth_dir / job.spec.patient_id / visit
    d.mkdir(parents=True, exist_ok=True)
    for name in ("calcium_labels", "wmh_mask", "microbleeds", "lacunes", "pvs", "ventricles"):
        arr, aff = session.masks[name]
        write_nifti(d / f"{name}.nii.gz", arr, aff)
    truth = dict(session.truth)
    truth.update({"study_instance_uid": uids["study_instance_uid"],
                  "ct_study_instance_uid": uids["ct_study_instance_uid"],
                  "study_date": job.dates[visit].isoformat(),
                  "series_dirs": {k: str(Path(v).relative_to(job.drop_dir))
                                  for k, v in uids["series"].items()},
                  "orientation": job.orientation.get(visit, {})})
    tmp = d / "truth.json.part"
    tmp.write_text(json.dumps(truth, indent=1))
    tmp.replace(d / "truth.json")


def export_patient(job: PatientJob) -> dict[str, Any]:
    """Render and write every visit of one patient (skipping visits already complete)."""
    from simulator.render import PatientRenderer

    todo = [v for v in job.visits
            if not (job.truth_dir / job.spec.patient_id / v / "truth.json").exists()]
    if todo:
        renderer = PatientRenderer(job.spec, job.resolution_mm, job.protocol)
        for visit in todo:
            session = renderer.render(visit)
            uids = write_visit(job, visit, session)
            write_truth(job, visit, session, uids)
    return {"patient_id": job.spec.patient_id, "visits": job.visits, "rendered": todo}


def plan_jobs(specs: list[PatientSpec], resolution_mm: float, drop_dir: Path, truth_dir: Path,
              follow_up: bool, skip_followup: set[str] | None = None,
              protocol: str = "paper") -> list[PatientJob]:
    """Assign every study a folder in its weekly export (deterministic numbering)."""
    skip_followup = skip_followup or set()
    studies = []  # (export date, patient id, visit, date)
    for s in specs:
        dates = study_dates(s)
        visits = ["baseline"] + (["followup"] if follow_up and s.patient_id not in skip_followup
                                 else [])
        for v in visits:
            studies.append((export_date(dates[v]), s.patient_id, v, dates[v]))
    paths: dict[str, dict[str, dict[str, Path]]] = {}
    by_export: dict[dt.date, list] = {}
    for st in sorted(studies):
        by_export.setdefault(st[0], []).append(st)
    for exp, items in by_export.items():
        for pa, (_, pid, visit, _) in enumerate(items, start=1):
            root = drop_dir / f"pacs_{exp:%Y%m%d}" / "DICOM" / f"PA{pa:05d}"
            paths.setdefault(pid, {})[visit] = {"ct": root / "ST00001", "mr": root / "ST00002"}
    jobs = []
    for s in specs:
        visits = list(paths[s.patient_id])
        jobs.append(PatientJob(s, resolution_mm, drop_dir, truth_dir, visits,
                               paths[s.patient_id], study_dates(s), protocol))
    return jobs


def write_clinical(specs: list[PatientSpec], drop_dir: Path) -> Path:
    """The EHR export: one row per patient, keyed by the hospital patient ID."""
    last = max(study_dates(s)["baseline"] for s in specs)
    path = drop_dir / "clinical" / f"clinical_{export_date(last):%Y%m%d}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    cols = ["patient_id", "age", "sex", "smoking", "hypertension", "diabetes", "hyperlipidaemia",
            "heart_disease", "prior_stroke"]
    rows = [",".join(cols)]
    for s in sorted(specs, key=lambda s: s.patient_id):
        rows.append(",".join([s.patient_id, str(s.age), s.sex]
                             + [s.clinical[c] for c in cols[3:]]))
    tmp = path.with_suffix(".part")
    tmp.write_text("\n".join(rows) + "\n")
    tmp.replace(path)
    return path


class OptionsChanged(ValueError):
    """The truth folder holds a cohort simulated with other options."""


def check_options(truth_dir: Path, **options: Any) -> None:
    """Refuse to mix cohorts: an existing ``cohort.json`` must have the same options."""
    path = truth_dir / "cohort.json"
    if not path.exists():
        return
    old = json.loads(path.read_text())
    diff = {k: (old.get(k), v) for k, v in options.items() if old.get(k) != v}
    if diff:
        detail = ", ".join(f"{k}: {a} -> {b}" for k, (a, b) in diff.items())
        raise OptionsChanged(f"{truth_dir} holds a cohort simulated with other options "
                             f"({detail}); use --overwrite to start again")


def simulate_cohort(n_subjects: int, seed: int, resolution_mm: float, drop_dir: Path,
                    truth_dir: Path, follow_up: bool = True, messy: bool = False,
                    n_procs: int = 1, progress: Callable[[int, int], None] | None = None,
                    protocol: str = "paper") -> dict[str, Any]:
    """Write the whole export; returns a summary (counts, faults, paths).

    ``protocol`` names an acquisition protocol (:mod:`simulator.protocols`)."""
    from simulator import protocols

    protocols.get(protocol)  # a clear error for an unknown name
    extra = {} if protocol == "paper" else {"protocol": protocol}
    from simulator import messy as messy_mod

    drop_dir, truth_dir = Path(drop_dir), Path(truth_dir)
    check_options(truth_dir, seed=seed, n_subjects=n_subjects, resolution_mm=resolution_mm,
                  follow_up=follow_up, messy=messy, **extra)
    specs = sample_cohort(n_subjects, seed, follow_up=follow_up)
    plan = messy_mod.plan_faults(specs, seed, follow_up) if messy else {}
    skip = {plan["missing_followup"]["patient_id"]} if "missing_followup" in plan else set()
    jobs = plan_jobs(specs, resolution_mm, drop_dir, truth_dir, follow_up, skip, protocol)
    if messy:
        messy_mod.apply_orientation(plan, jobs)
    truth_dir.mkdir(parents=True, exist_ok=True)
    records = []
    done = 0
    if n_procs > 1 and len(jobs) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        from simulator.anatomy import load_template, work_resolution

        load_template(work_resolution(resolution_mm))  # shared with forked workers
        with ProcessPoolExecutor(max_workers=n_procs, mp_context=mp.get_context("fork")) as ex:
            futs = [ex.submit(export_patient, j) for j in jobs]
            for f in as_completed(futs):
                records.append(f.result())
                done += 1
                if progress:
                    progress(done, len(jobs))
    else:
        for j in jobs:
            records.append(export_patient(j))
            done += 1
            if progress:
                progress(done, len(jobs))
    clinical = write_clinical(specs, drop_dir)
    faults = messy_mod.apply_file_faults(plan, jobs, drop_dir) if messy else []
    cohort = {
        "seed": seed, "n_subjects": n_subjects, "resolution_mm": resolution_mm,
        "follow_up": follow_up, "messy": messy, **extra,
        "clinical_csv": str(clinical.relative_to(drop_dir)),
        "faults": faults,
        "patients": [dict(s.as_record(), visits=j.visits,
                          study_dates={v: j.dates[v].isoformat() for v in j.visits})
                     for s, j in zip(specs, jobs, strict=True)],
    }
    tmp = truth_dir / "cohort.json.part"
    tmp.write_text(json.dumps(cohort, indent=1, default=str))
    tmp.replace(truth_dir / "cohort.json")
    (truth_dir / "messy.json").write_text(json.dumps(faults, indent=1, default=str))
    return {"n_patients": len(specs), "n_sessions": sum(len(j.visits) for j in jobs),
            "rendered": sum(len(r["rendered"]) for r in records), "faults": faults,
            "clinical_csv": str(clinical), "drop_dir": str(drop_dir),
            "truth_dir": str(truth_dir)}


def remove_tree(path: Path) -> None:
    """Delete a directory tree if it exists (used by ``--overwrite``)."""
    if path.exists():
        shutil.rmtree(path)
