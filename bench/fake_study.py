"""A small fake study: a BIDS tree and measures.json documents with plausible values.

Plain code (no pytest), used by the warehouse tests (``tests/warehouse/conftest.py``) and by
the warehouse and QC benchmarks (``bench/warehouse.py``, ``bench/qc_rating.py``): a benchmark
helper lives in ``bench/``, not in ``tests/``. The values are plausible, not simulated images:
it exercises loading, validation and queries, never a method.
"""

from __future__ import annotations

import csv
import gzip
import json
import random
from pathlib import Path
from typing import Any

from calcisvd.measures import ARTERIES, SEVERITY_GROUPS

MODALITIES: dict[str, dict[str, Any]] = {
    "ct": {"Modality": "CT", "KVP": 120, "SliceThickness": 1.0, "Manufacturer": "GE",
           "ManufacturersModelName": "LightSpeed VCT"},
    "T1w": {"Modality": "MR", "RepetitionTime": 2.0, "EchoTime": 0.025, "SliceThickness": 1.0,
            "Manufacturer": "Siemens", "ManufacturersModelName": "Skyra"},
    "T2w": {"Modality": "MR", "RepetitionTime": 9.0, "EchoTime": 0.09, "SliceThickness": 1.0,
            "Manufacturer": "Siemens", "ManufacturersModelName": "Skyra"},
    "FLAIR": {"Modality": "MR", "RepetitionTime": 9.0, "EchoTime": 0.11, "InversionTime": 2.5,
              "SliceThickness": 1.0, "Manufacturer": "Siemens",
              "ManufacturersModelName": "Skyra"},
    "acq-swi_T2starw": {"Modality": "MR", "RepetitionTime": 0.027, "EchoTime": 0.02,
                        "SliceThickness": 1.0, "Manufacturer": "Siemens",
                        "ManufacturersModelName": "Skyra"},
}


def measures_doc(rng: random.Random, subject: str, session: str, severity: str,
                 progression: float = 0.0, version: str = "0.1.0") -> dict[str, Any]:
    """A plausible measures.json document (calcisvd/measures.py shape)."""
    level = SEVERITY_GROUPS.index(severity)
    arteries = []
    for artery, side in ARTERIES:
        vol = round(max(0.0, rng.gauss(5 + 20 * level, 5)) * (1 + progression / 10), 3)
        n = 0 if vol == 0 else rng.randint(1, 2 + 2 * level)
        arteries.append({
            "artery": artery, "side": side, "calcium_volume_mm3": vol,
            "agatston": round(vol * rng.uniform(1.0, 3.0), 3), "mass_mg": round(vol * 0.6, 3),
            "n_plaques": n, "max_hu": round(130 + rng.uniform(0, 600), 1) if n else None,
            "circumferential_extent_deg": round(rng.uniform(10, 90 + 90 * level), 1) if n else 0.0,
        })
    totals = {k: round(sum(a[k] for a in arteries), 3)
              for k in ("calcium_volume_mm3", "agatston", "mass_mg")}
    pv = min(3, level + rng.randint(0, 1))
    deep = min(3, max(0, level + rng.randint(-1, 1)))
    wmh = round(min(290.0, max(0.5, rng.gauss(7 + 6 * level, 3)) + progression), 3)
    mb = rng.randint(0, 2 + 3 * level) + int(progression)
    lac = rng.randint(0, 2 + level)
    return {
        "subject": subject, "session": session,
        "pipeline": {"name": "calcisvd", "version": version, "code_revision": "abc1234",
                     "inputs_hash": f"{subject}{session}{version}".ljust(16, "0"),
                     "created": "2026-11-26T00:00:00Z"},
        "icac": {"status": "ok", "reason": None, "arteries": arteries,
                 "total_calcium_volume_mm3": totals["calcium_volume_mm3"],
                 "total_agatston": totals["agatston"], "total_mass_mg": totals["mass_mg"],
                 "total_plaques": sum(a["n_plaques"] for a in arteries),
                 "n_segments_involved": sum(a["n_plaques"] > 0 for a in arteries),
                 "max_circumferential_extent_deg": max(
                     a["circumferential_extent_deg"] for a in arteries),
                 "severity_group": severity,
                 "dominant_location": max(arteries, key=lambda a: a["calcium_volume_mm3"])[
                     "artery"],
                 "iqms": {"ct": {"noise_air_sd": 4.2, "noise_brain_sd": 5.1, "csf_hu": 8.0,
                                 "brain_hu": 33.0}}},
        "svd": {"status": "ok", "reason": None, "wmh_volume_cm3": wmh,
                "wmh_pv_volume_cm3": round(wmh * 0.6, 3),
                "wmh_deep_volume_cm3": round(wmh * 0.4, 3),
                "fazekas_pv": pv, "fazekas_deep": deep, "fazekas_total": pv + deep,
                "microbleed_count": mb, "microbleed_volume_mm3": round(mb * 8.5, 3),
                "microbleed_contrast": "T2starw", "lacune_count": lac,
                "pvs_count": rng.randint(0, 15), "pv_punctate_grade": min(3, level + 1),
                "svd_score": min(4, int(lac > 0) + int(mb > 0) + int(pv == 3 or deep >= 2)),
                "iqms": {"FLAIR": {"snr_wm": 12.5, "cnr": 2.1, "cjv": 0.6, "efc": 0.55,
                                   "fber": None}}},
    }


def _write_tsv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, delimiter="\t", lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def make_fake_study(bids_dir: Path, derivatives_dir: Path, n_subjects: int = 6, *,
                    seed: int = 0, follow_up: bool = True, scans: bool = True,
                    version: str = "0.1.0") -> list[str]:
    """Write a BIDS tree and measures.json files for ``n_subjects``; return the subjects."""
    rng = random.Random(seed)
    bids_dir.mkdir(parents=True, exist_ok=True)
    derivatives_dir.mkdir(parents=True, exist_ok=True)
    subjects = [f"{rng.getrandbits(40):010x}" for _ in range(n_subjects)]
    participants = []
    for i, sub in enumerate(subjects):
        severity = SEVERITY_GROUPS[i % 3]
        participants.append([f"sub-{sub}", rng.randint(45, 80), rng.choice("MF")]
                            + [rng.choice(["yes", "no"]) for _ in range(6)])
        sessions = [("M00", 0)] + ([("M12", 365 + rng.randint(-20, 20))] if follow_up else [])
        sub_dir = bids_dir / f"sub-{sub}"
        sub_dir.mkdir(exist_ok=True)
        _write_tsv(sub_dir / f"sub-{sub}_sessions.tsv", ["session_id", "days_since_baseline"],
                   [[f"ses-{s}", d] for s, d in sessions])
        for k, (ses, _days) in enumerate(sessions):
            if scans:
                anat = sub_dir / f"ses-{ses}" / "anat"
                anat.mkdir(parents=True, exist_ok=True)
                for tail, sidecar in MODALITIES.items():
                    if tail == "ct" and ses != "M00":
                        continue
                    stem = anat / f"sub-{sub}_ses-{ses}_{tail}"
                    stem.with_suffix(".nii.gz").write_bytes(
                        gzip.compress(f"{sub}{ses}{tail}".encode(), mtime=0))
                    stem.with_suffix(".json").write_text(json.dumps(sidecar))
            out = derivatives_dir / f"sub-{sub}" / f"ses-{ses}"
            out.mkdir(parents=True, exist_ok=True)
            doc = measures_doc(rng, sub, ses, severity, progression=1.5 * k, version=version)
            (out / f"sub-{sub}_ses-{ses}_measures.json").write_text(json.dumps(doc))
    _write_tsv(bids_dir / "participants.tsv",
               ["participant_id", "age", "sex", "smoking", "hypertension", "diabetes",
                "hyperlipidaemia", "heart_disease", "prior_stroke"], participants)
    return subjects


def measures_path(derivatives_dir: Path, subject: str, session: str) -> Path:
    """The measures.json of one session."""
    return (derivatives_dir / f"sub-{subject}" / f"ses-{session}"
            / f"sub-{subject}_ses-{session}_measures.json")


def edit_measures(derivatives_dir: Path, subject: str, session: str, fn) -> None:
    """Rewrite one measures.json through ``fn(doc) -> None`` (in place)."""
    path = measures_path(derivatives_dir, subject, session)
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))
