"""Write one session's quantification outputs as BIDS derivatives, all or nothing.

Layout under ``derivatives/calcisvd/`` (BIDS derivatives conventions)::

    dataset_description.json            GeneratedBy: name, version, code revision
    index.html                          group QC index (tasks/qc/report.py)
    sub-X/ses-Y/anat/sub-X_ses-Y_space-ct_desc-calcium_dseg.nii.gz      (+ arteries, ...)
    sub-X/ses-Y/anat/sub-X_ses-Y_space-FLAIR_desc-wmh_mask.nii.gz       (+ microbleeds, ...)
    sub-X/ses-Y/figures/sub-X_ses-Y_desc-<what>_qc.png
    sub-X/ses-Y/sub-X_ses-Y_qc.html
    sub-X/ses-Y/sub-X_ses-Y_measures.json / .tsv     (written last: its presence = complete)

The session folder is built in a staging folder and renamed into place.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from calcisvd.io import atomic_write_json, atomic_write_text, swap_dir_into_place
from calcisvd.measures import (
    ARTERY_MEASURES,
    ICAC_QC_MEASURES,
    ICAC_SESSION_MEASURES,
    SVD_MEASURES,
    SVD_QC,
)
from calcisvd.provenance import code_revision
from tasks.quantify.sessions import Session

#: workflow output name -> BIDS derivative filename tail (inside anat/)
DERIVATIVE_NAMES: dict[str, str] = {
    "calcium_dseg": "space-ct_desc-calcium_dseg.nii.gz",
    "artery_regions": "space-ct_desc-arteries_dseg.nii.gz",
    "intracranial_mask": "space-ct_desc-intracranial_mask.nii.gz",
    "wmh_mask": "space-FLAIR_desc-wmh_mask.nii.gz",
    "microbleed_mask": "space-FLAIR_desc-microbleeds_mask.nii.gz",
    "lacune_mask": "space-FLAIR_desc-lacunes_mask.nii.gz",
    "pvs_mask": "space-FLAIR_desc-pvs_mask.nii.gz",
    "ventricle_mask": "space-FLAIR_desc-ventricles_mask.nii.gz",
    "brain_mask": "space-FLAIR_desc-brain_mask.nii.gz",
}


def dataset_description(version: str) -> dict[str, Any]:
    """The derivative dataset's ``dataset_description.json`` content."""
    return {
        "Name": "calcisvd: ICAC and small-vessel disease measures",
        "BIDSVersion": "1.10.0",
        "DatasetType": "derivative",
        "GeneratedBy": [{
            "Name": "calcisvd",
            "Version": version,
            "CodeRevision": code_revision(),
            "Description": "ICAC on CT (calcium volume, Agatston, mass per artery) and SVD "
                           "markers on MRI (WMH, Fazekas, microbleeds, lacunes, SVD score)",
        }],
        "SourceDatasets": [{"URL": "bids::"}],
    }


def ensure_dataset_description(derivatives_dir: Path, version: str) -> None:
    """Write ``dataset_description.json`` unless the same content is there already."""
    import json

    path = Path(derivatives_dir) / "dataset_description.json"
    content = dataset_description(version)
    if path.is_file():
        try:
            if json.loads(path.read_text()) == content:
                return
        except ValueError:
            pass
    atomic_write_json(path, content)


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def measures_tsv(subject: str, session: str, icac: Mapping[str, Any],
                 svd: Mapping[str, Any]) -> str:
    """Flatten measures to a long TSV: ``level, artery, side, measure, value, unit``."""
    rows = ["level\tartery\tside\tmeasure\tvalue\tunit"]
    for art in icac.get("arteries") or []:
        for m, unit in ARTERY_MEASURES.items():
            rows.append(f"artery\t{art['artery']}\t{art['side']}\t{m}\t{_fmt(art.get(m))}\t{unit}")
    for m, unit in ICAC_SESSION_MEASURES.items():
        rows.append(f"session\tn/a\tn/a\t{m}\t{_fmt(icac.get(m))}\t{unit}")
    for m, unit in SVD_MEASURES.items():
        rows.append(f"session\tn/a\tn/a\t{m}\t{_fmt(svd.get(m))}\t{unit}")
    # quality control (issue 20): statuses, review reasons, CT and MRI QC metrics
    for side, block in (("icac", icac), ("svd", svd)):
        for m in ("status", "reason"):
            text = str(block.get(m) or "n/a").replace("\t", " ").replace("\n", " ")
            rows.append(f"qc\tn/a\tn/a\t{side}_{m}\t{text}\tn/a")
    for m, unit in ICAC_QC_MEASURES.items():
        rows.append(f"qc\tn/a\tn/a\t{m}\t{_fmt(icac.get(m))}\t{unit}")
    svd_qc = svd.get("qc") if isinstance(svd.get("qc"), Mapping) else {}
    for m, unit in SVD_QC.items():
        rows.append(f"qc\tn/a\tn/a\tsvd_qc_{m}\t{_fmt(svd_qc.get(m))}\t{unit}")
    return "\n".join(rows) + "\n"


def write_session_derivatives(
    derivatives_dir: Path,
    session: Session,
    *,
    icac: Mapping[str, Any],
    svd: Mapping[str, Any],
    pipeline: Mapping[str, Any],
    images: Mapping[str, str | Path | None],
    reportlets: Mapping[str, str | Path],
) -> Path:
    """Write masks, figures, QC page and measures of one session; return the measures path.

    ``images`` maps workflow output names (``DERIVATIVE_NAMES``) to files; ``reportlets``
    maps a short description (``icac``, ``wmh``...) to a PNG.
    """
    from tasks.qc.report import render_session_qc

    derivatives_dir = Path(derivatives_dir)
    final = derivatives_dir / f"sub-{session.subject}" / f"ses-{session.session}"
    final.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{final.name}.staging-", dir=final.parent))
    try:
        (staged / "anat").mkdir()
        for key, src in images.items():
            if src and key in DERIVATIVE_NAMES and Path(src).is_file():
                shutil.copyfile(src, staged / "anat" / f"{session.label}_{DERIVATIVE_NAMES[key]}")
        figures: dict[str, str] = {}
        if reportlets:
            (staged / "figures").mkdir()
            for desc, src in reportlets.items():
                if src and Path(src).is_file():
                    name = f"{session.label}_desc-{desc}_qc{Path(src).suffix}"
                    shutil.copyfile(src, staged / "figures" / name)
                    figures[desc] = f"figures/{name}"
        doc = {"subject": session.subject, "session": session.session,
               "pipeline": dict(pipeline), "icac": dict(icac), "svd": dict(svd)}
        atomic_write_text(staged / f"{session.label}_qc.html",
                          render_session_qc(doc, figures))
        atomic_write_text(staged / f"{session.label}_measures.tsv",
                          measures_tsv(session.subject, session.session, icac, svd))
        atomic_write_json(staged / f"{session.label}_measures.json", doc)
        staged.chmod(0o755)
        swap_dir_into_place(staged, final)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    return final / f"{session.label}_measures.json"
