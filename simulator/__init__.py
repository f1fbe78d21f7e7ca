"""Simulated ICAC/SVD cohort: calibrated sampling, CT/MRI phantoms, DICOM export, ground truth.

Programmatic API (for tests of quantification; nothing is written unless asked)::

    from simulator import render_session, write_session_nifti

    s = render_session(seed=1, group="severe", location="BA", resolution_mm=2.0,
                       visit="baseline")          # or visit="followup"
    hu, affine = s.images["ct"]                   # float32 HU, 4x4 RAS affine (mm)
    flair, aff = s.images["FLAIR"]                # also "T1w", "T2w", "T2starw"
    s.truth["icac"]["total_agatston"]             # names of calcisvd/measures.py
    s.truth["svd"]["fazekas_total"]; s.truth["microbleeds"][0]["centre_ras"]
    labels, ct_aff = s.masks["calcium_labels"]    # plaque labels on the CT grid
    wmh, fl_aff = s.masks["wmh_mask"]             # also microbleeds, lacunes, pvs, ventricles
    write_session_nifti("out/", s)                # <name>.nii.gz + truth.json

Modules: :mod:`.cohort` (sampling), :mod:`.anatomy`, :mod:`.lesions`, :mod:`.vessels`,
:mod:`.render`, :mod:`.truth`, :mod:`.dicom` (DICOM writing), :mod:`.export` (the cohort
export behind ``calcisvd simulate``). Heavy imports happen on first use.
"""

from __future__ import annotations

from typing import Any

__all__ = ["render_session", "write_session_nifti", "sample_cohort", "simulate_cohort",
           "PatientRenderer"]


def __getattr__(name: str) -> Any:
    if name in {"render_session", "PatientRenderer", "Session"}:
        from simulator import render

        return getattr(render, name)
    if name == "write_session_nifti":
        from simulator.nifti import write_session_nifti

        return write_session_nifti
    if name == "sample_cohort":
        from simulator.cohort import sample_cohort

        return sample_cohort
    if name == "simulate_cohort":
        from simulator.export import simulate_cohort

        return simulate_cohort
    raise AttributeError(name)
