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

from dataclasses import dataclass
from typing import Any, Final

#: artery, side. ``M`` is midline (basilar artery).
ARTERIES: Final[tuple[tuple[str, str], ...]] = (
    ("ICA", "L"), ("ICA", "R"),
    ("MCA", "L"), ("MCA", "R"),
    ("BA", "M"),
    ("VA", "L"), ("VA", "R"),
)
ARTERY_NAMES: Final[tuple[str, ...]] = ("ICA", "MCA", "BA", "VA")

SEVERITY_GROUPS: Final[tuple[str, ...]] = ("none_mild", "moderate", "severe")
LOCATIONS: Final[tuple[str, ...]] = ("MCA", "BA", "ICA", "VA")


@dataclass(frozen=True)
class MarkerSpec:
    """One marker: the single declaration every other place is generated from or checked
    against (docs/markers.md, "How to add a marker").

    ``unit`` is the unit written in the measures files; ``dtype`` the warehouse type (``float``,
    ``int``, ``str``); ``low``/``high`` the physically possible range (``None``: open) and
    ``values`` the allowed values of a grade or category, both checked by the table's
    Great Expectations suite; ``kind`` the analysis model (``continuous``, ``count``,
    ``ordinal``; ``None``: not analysed as an outcome) and ``primary`` whether the paper's
    Tables 2-4 report it; ``views`` the analyst views (``warehouse/views``) that carry it.
    """

    name: str
    table: str
    unit: str
    dtype: str
    label: str
    low: float | None = None
    high: float | None = None
    values: tuple[Any, ...] | None = None
    kind: str | None = None
    primary: bool = False
    views: tuple[str, ...] = ()


_SESSION_VIEWS = ("v_session_measures_live", "v_baseline_cohort_live")
_CHANGE = ("v_session_measures_live", "v_baseline_cohort_live", "v_one_year_change_live")
_GRADE3 = (0, 1, 2, 3)


def _svd(name, unit, dtype, label, **kw) -> MarkerSpec:
    kw.setdefault("views", _CHANGE if dtype != "str" else _SESSION_VIEWS)
    return MarkerSpec(name, "svd_measures", unit, dtype, label, **kw)


def _icac(name, unit, dtype, label, **kw) -> MarkerSpec:
    kw.setdefault("views", ("v_session_measures_live",))
    return MarkerSpec(name, "icac_session_measures", unit, dtype, label, **kw)


def _artery(name, unit, dtype, label, **kw) -> MarkerSpec:
    kw.setdefault("views", ("v_icac_by_artery_live",))
    return MarkerSpec(name, "icac_artery_measures", unit, dtype, label, **kw)


#: every marker of the platform, in the column order of its warehouse table
MARKER_REGISTRY: Final[tuple[MarkerSpec, ...]] = (
    # per session SVD markers (``svd`` block of the measures file; table svd_measures)
    _svd("wmh_volume_cm3", "cm^3", "float", "WMH volume", low=0, high=300,
         kind="continuous", primary=True),
    _svd("wmh_pv_volume_cm3", "cm^3", "float", "Periventricular WMH volume", low=0, high=300,
         kind="continuous"),  # within 10 mm of the ventricle wall
    _svd("wmh_deep_volume_cm3", "cm^3", "float", "Deep WMH volume", low=0, high=300,
         kind="continuous"),
    _svd("fazekas_pv", "0-3", "int", "Fazekas periventricular", values=_GRADE3,
         kind="ordinal"),
    _svd("fazekas_deep", "0-3", "int", "Fazekas deep", values=_GRADE3, kind="ordinal"),
    _svd("fazekas_total", "0-6", "int", "Fazekas score (PV + deep)",
         values=tuple(range(7)), kind="ordinal", primary=True),
    _svd("microbleed_count", "count", "int", "Microbleeds", low=0, kind="count",
         primary=True),
    _svd("microbleed_volume_mm3", "mm^3", "float", "Microbleed volume", low=0,
         kind="continuous", primary=True),
    # T2w means no T2*/SWI was available (flagged)
    _svd("microbleed_contrast", "T2starw|T2w", "str", "Microbleed contrast",
         values=("T2starw", "T2w")),
    _svd("lacune_count", "count", "int", "Lacunes", low=0, kind="count", primary=True),
    # enlarged perivascular spaces (not lacunes)
    _svd("pvs_count", "count", "int", "Enlarged perivascular spaces", low=0, kind="count"),
    # periventricular punctate lesions grade (docs/markers.md)
    _svd("pv_punctate_grade", "0-3", "int", "Periventricular punctate grade",
         values=_GRADE3, kind="ordinal", primary=True),
    _svd("svd_score", "0-4", "int", "Total SVD score", values=tuple(range(5)),
         kind="ordinal"),
    # per session ICAC summary (table icac_session_measures)
    _icac("total_calcium_volume_mm3", "mm^3", "float", "ICAC volume", low=0,
          views=("v_session_measures_live", "v_baseline_cohort_live")),
    _icac("total_agatston", "score", "float", "ICAC Agatston score", low=0,
          views=("v_session_measures_live", "v_baseline_cohort_live")),
    _icac("total_mass_mg", "mg", "float", "ICAC mass", low=0,
          views=("v_session_measures_live", "v_baseline_cohort_live")),
    _icac("total_plaques", "count", "int", "Calcified plaques", low=0),
    # artery+side segments with at least one plaque
    _icac("n_segments_involved", "count", "int", "Segments involved", low=0, high=7),
    _icac("max_circumferential_extent_deg", "degree", "float",
          "Largest circumferential extent", low=0, high=360),
    _icac("severity_group", "none_mild|moderate|severe", "str", "ICAC severity group",
          values=SEVERITY_GROUPS,
          views=("v_session_measures_live", "v_baseline_cohort_live",
                 "v_one_year_change_live")),
    _icac("dominant_location", "ICA|MCA|BA|VA|null", "str", "Dominant ICAC location",
          values=LOCATIONS,
          views=("v_session_measures_live", "v_baseline_cohort_live",
                 "v_one_year_change_live")),
    # per artery and side (table icac_artery_measures)
    # voxels >= 130 HU in the artery region x voxel volume
    _artery("calcium_volume_mm3", "mm^3", "float", "Calcium volume", low=0),
    # per-slice area x density weight, slice-thickness corrected
    _artery("agatston", "score", "float", "Agatston score", low=0),
    _artery("mass_mg", "mg", "float", "Calcium mass", low=0),  # volume x mean HU x factor
    # 3-D connected components of calcified voxels
    _artery("n_plaques", "count", "int", "Plaques", low=0),
    _artery("max_hu", "HU", "float", "Peak attenuation", low=-1024, high=4000),
    # largest arc of the wall covered by calcium
    _artery("circumferential_extent_deg", "degree", "float", "Circumferential extent",
            low=0, high=360),
    # where along the vessel course the calcium lies (``null`` without calcium); segments
    # by artery: ICA petrous|cavernous|supraclinoid, MCA M1, BA basilar, VA V4
    # (tasks/icac/atlas.py SEGMENTS); volume-weighted position, 0 = proximal end
    _artery("location_segment", "petrous|cavernous|supraclinoid|M1|basilar|V4|null", "str",
            "Segment with most calcium",
            values=("petrous", "cavernous", "supraclinoid", "M1", "basilar", "V4"), views=()),
    _artery("location_arc", "0-1", "float", "Position along the vessel", low=0, high=1,
            views=()),
    _artery("bone_touching_volume_mm3", "mm^3", "float",
            "Calcium in plaques touching the skull", low=0, views=()),
)


def markers_of(table: str) -> tuple[MarkerSpec, ...]:
    """The registered markers of one warehouse table, in column order."""
    return tuple(m for m in MARKER_REGISTRY if m.table == table)


def marker_spec(name: str, table: str | None = None) -> MarkerSpec:
    """The :class:`MarkerSpec` called ``name`` (in ``table`` when given)."""
    for m in MARKER_REGISTRY:
        if m.name == name and (table is None or m.table == table):
            return m
    raise KeyError(name)


_LOCATION = ("location_segment", "location_arc", "bone_touching_volume_mm3")
#: per artery and side: name -> unit
ARTERY_MEASURES: Final[dict[str, str]] = {
    m.name: m.unit for m in markers_of("icac_artery_measures") if m.name not in _LOCATION}
#: per session ICAC summary: name -> unit
ICAC_SESSION_MEASURES: Final[dict[str, str]] = {
    m.name: m.unit for m in markers_of("icac_session_measures")}
#: per artery and side: where along the vessel course the calcium lies (additive to
#: ARTERY_MEASURES; ``null`` without calcium)
ICAC_ARTERY_LOCATION: Final[dict[str, str]] = {
    m.name: m.unit for m in markers_of("icac_artery_measures") if m.name in _LOCATION}

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
SVD_MEASURES: Final[dict[str, str]] = {m.name: m.unit for m in markers_of("svd_measures")}

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
    "flair_local_sd_ratio": "ratio",  # FLAIR NAWM SD, local reference / global (WM class)
    "wmh_global_reference_cm3": "cm^3",  # WMH first pass against the global NAWM reference
    # (the smaller of two: WM intensity class; mode of the WM territory, dark-side SD)
    "slice_thickness_mm": "mm",
    "inplane_mm": "mm",
}

#: the MR contrasts of a session, in BIDS suffix spelling (the modality keys of MR images)
MR_CONTRASTS: Final[tuple[str, ...]] = ("T1w", "T2w", "FLAIR", "T2starw")

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
