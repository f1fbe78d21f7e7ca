"""The contract between quantification, the warehouse and analytics: marker names and units.

Quantification writes, per session, ``<derivatives>/sub-X/ses-Y/sub-X_ses-Y_measures.json``
with this shape (``null`` where a marker could not be computed; ``reason`` says why)::

    {
      "subject": "ab12cd34ef", "session": "M00",
      "pipeline": {"name": "calcisvd", "version": "0.1.0", "code_revision": "<git sha>",
                    "inputs_hash": "<sha256 over input NIfTI bytes + settings>",
                    "created": "<UTC ISO time>"},
      "icac": {"status": "ok" | "review" | "missing" | "failed", "reason": null | "...",
               "arteries": [ {"artery": "ICA", "side": "L", <ARTERY_MEASURES>...,
                              <ICAC_ARTERY_LOCATION>...}, ... ],
               <ICAC_SESSION_MEASURES>..., <ICAC_QC_MEASURES>...},
      "svd":  {"status": "ok" | "review" | "missing" | "failed", "reason": null | "...",
               <SVD_MEASURES>..., "qc": {<SVD_QC>...} | null}
    }

and the same numbers flattened to ``sub-X_ses-Y_measures.tsv`` (one row per artery plus a
``session`` row). The warehouse loader reads only these files.
"""

from __future__ import annotations

from typing import Final

#: artery, side. ``M`` is midline (basilar artery).
ARTERIES: Final[tuple[tuple[str, str], ...]] = (
    ("ICA", "L"), ("ICA", "R"),
    ("MCA", "L"), ("MCA", "R"),
    ("BA", "M"),
    ("VA", "L"), ("VA", "R"),
)
ARTERY_NAMES: Final[tuple[str, ...]] = ("ICA", "MCA", "BA", "VA")

#: per artery and side: name -> unit
ARTERY_MEASURES: Final[dict[str, str]] = {
    "calcium_volume_mm3": "mm^3",  # voxels >= 130 HU in the artery region x voxel volume
    "agatston": "score",  # per-slice area x density weight, slice-thickness corrected
    "mass_mg": "mg",  # volume x mean HU x calibration factor
    "n_plaques": "count",  # 3-D connected components of calcified voxels
    "max_hu": "HU",
    "circumferential_extent_deg": "degree",  # largest arc of the wall covered by calcium
}

#: per session ICAC summary: name -> unit
ICAC_SESSION_MEASURES: Final[dict[str, str]] = {
    "total_calcium_volume_mm3": "mm^3",
    "total_agatston": "score",
    "total_mass_mg": "mg",
    "total_plaques": "count",
    "n_segments_involved": "count",  # artery+side segments with at least one plaque
    "max_circumferential_extent_deg": "degree",
    "severity_group": "none_mild|moderate|severe",
    "dominant_location": "ICA|MCA|BA|VA|null",
}

#: per artery and side: where along the vessel course the calcium lies (additive to
#: ARTERY_MEASURES; ``null`` without calcium). Segments by artery: ICA petrous|cavernous|
#: supraclinoid, MCA M1, BA basilar, VA V4 (see tasks/icac/atlas.py SEGMENTS).
ICAC_ARTERY_LOCATION: Final[dict[str, str]] = {
    "location_segment": "petrous|cavernous|supraclinoid|M1|basilar|V4|null",  # most volume
    "location_arc": "0-1",  # volume-weighted position along the vessel, 0 = proximal end
    "bone_touching_volume_mm3": "mm^3",  # calcium in plaques that touch the skull
}

#: per session ICAC quality control (a CT whose checks fail gets status ``review``; the
#: plausible ranges and their sources are in tasks/icac/ctqc.py)
ICAC_QC_MEASURES: Final[dict[str, str]] = {
    "qc_intracranial_volume_ml": "mL",  # intracranial space inside the field of view
    "qc_intracranial_coverage": "0-1",  # fraction of the template's intracranial space in FOV
    "qc_air_hu": "HU",  # median of the air around the head
    "qc_csf_hu": "HU",  # CSF estimate (low decile of smoothed intracranial soft tissue)
    "qc_brain_hu": "HU",  # median intracranial soft tissue
    "qc_registration_dice": "0-1",  # CT vs registered template intracranial masks
    "qc_slice_thickness_mm": "mm",
    "qc_gantry_tilt_deg": "degree",  # sidecar GantryDetectorTilt, else the affine's shear
    "qc_kvp": "kV",  # tube voltage from the sidecar (KVP)
}

#: per session SVD markers: name -> unit
SVD_MEASURES: Final[dict[str, str]] = {
    "wmh_volume_cm3": "cm^3",
    "wmh_pv_volume_cm3": "cm^3",  # within 10 mm of the ventricle wall
    "wmh_deep_volume_cm3": "cm^3",
    "fazekas_pv": "0-3",
    "fazekas_deep": "0-3",
    "fazekas_total": "0-6",
    "microbleed_count": "count",
    "microbleed_volume_mm3": "mm^3",
    "microbleed_contrast": "T2starw|T2w",  # T2w means no T2*/SWI was available (flagged)
    "lacune_count": "count",
    "pvs_count": "count",  # enlarged perivascular spaces (not lacunes)
    "pv_punctate_grade": "0-3",  # periventricular punctate lesions grade (docs/markers.md)
    "svd_score": "0-4",
}

#: per session MRI quality-control metrics (``svd.qc``; tasks/svd/review.py): name -> unit.
#: ``status`` is ``review`` (with the reasons in ``reason``) when one lies outside the plausible
#: human range of ``tasks.svd.review.PLAUSIBLE``. Loaded as ``svd_measures.qc_<name>``
#: (warehouse migration 003).
SVD_QC: Final[dict[str, str]] = {
    "brain_volume_ml": "mL",
    "mask_vertex_offset_mm": "mm",  # head top - mask centroid - template top-to-centroid
    "mask_lateral_offset_mm": "mm",  # |brain-mask centroid - head centroid| left-right
    "registration_scale": "ratio",  # subject/template volume of the affine
    "mask_fov_fraction": "fraction",  # template brain mask inside the field of view
    "registration_nmi": "ratio",  # normalised mutual information, template T1 vs image
    "mask_foreground_fraction": "fraction",  # brain-mask voxels that are head foreground
    "nawm_median": "scanner units",  # reference contrast, bias-corrected
    "nawm_sd": "scanner units",  # robust (MAD) SD
    "nawm_cov": "ratio",
    "wmh_contrast_sd": "SD",  # median FLAIR z of the WMH voxels
    "slice_thickness_mm": "mm",
    "inplane_mm": "mm",
}

SEVERITY_GROUPS: Final[tuple[str, ...]] = ("none_mild", "moderate", "severe")
LOCATIONS: Final[tuple[str, ...]] = ("MCA", "BA", "ICA", "VA")
BIDS_SUFFIXES: Final[dict[str, str]] = {
    # modality key -> BIDS filename tail inside anat/
    "T1w": "T1w", "T2w": "T2w", "FLAIR": "FLAIR", "T2starw": "acq-swi_T2starw", "ct": "ct",
}

#: image-quality metric (tasks/qc/iqm.py) -> unit; warehouse ``session_iqms.unit`` (issue 20)
IQM_UNITS: Final[dict[str, str]] = {
    "snr_wm": "ratio", "snr_gm": "ratio", "snrd_wm": "ratio", "cnr": "ratio", "cjv": "ratio",
    "efc": "fraction", "fber": "ratio", "inu_range": "ratio", "inu_med": "ratio",
    "noise_air_sd": "HU", "noise_brain_sd": "HU", "csf_hu": "HU", "brain_hu": "HU",
}
