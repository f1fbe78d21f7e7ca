"""CT workflow: intracranial artery calcification (ICAC) of one session."""

from __future__ import annotations

from nipype.interfaces import utility as niu
from nipype.pipeline import engine as pe

from tasks.interfaces.icac import (
    ArteryRegions,
    CTMasks,
    ICACReportlet,
    MeasureICAC,
    RegisterCTToTemplate,
    SegmentCalcium,
)


def init_ct_icac_wf(*, name: str = "ct_icac_wf", omp_nthreads: int = 1,
                    region_radius_mm: float = 6.0, seed: int = 1) -> pe.Workflow:
    """Measure intracranial artery calcification on a head CT in Hounsfield units.

    Steps: skull and intracranial masks -> affine registration to MNI152 -> artery regions
    (tubes of ``region_radius_mm`` around the atlas centrelines) -> calcified voxels
    (>= 130 HU, bone excluded) -> measures, and a QC reportlet. Every step is a cached Nipype
    node: rerunning on an unchanged CT in the same ``base_dir`` reuses the results.

    .. workflow::

        from tasks.workflows.ct import init_ct_icac_wf
        wf = init_ct_icac_wf()

    Inputs
    ------
    ct_file
        head CT NIfTI (HU).

    Outputs
    -------
    measures
        dict ``{"status": "ok" | "review", "reason": ..., "arteries": [...],
        <ICAC_SESSION_MEASURES>, <ICAC_QC_MEASURES>}``; the CT's JSON sidecar (next to
        ``ct_file``) gives kVp, slice thickness and gantry tilt to the QC.
    calcium_dseg
        calcified voxels labelled 1..7 in :data:`calcisvd.measures.ARTERIES` order.
    artery_regions
        artery region label map (same labels).
    intracranial_mask
        intracranial space (uint8).
    reportlet
        QC PNG.
    svg_reportlets
        SVG reportlets: calcium and intracranial contour, registration before/after.
    transform
        JSON with the 4x4 CT -> MNI152 RAS matrix.
    """
    wf = pe.Workflow(name=name)
    inputnode = pe.Node(niu.IdentityInterface(fields=["ct_file"]), name="inputnode")
    outputnode = pe.Node(niu.IdentityInterface(fields=[
        "measures", "calcium_dseg", "artery_regions", "intracranial_mask", "reportlet",
        "transform", "svg_reportlets"]), name="outputnode")

    masks = pe.Node(CTMasks(), name="masks")
    register = pe.Node(RegisterCTToTemplate(seed=seed, num_threads=omp_nthreads),
                       name="register", n_procs=omp_nthreads)
    regions = pe.Node(ArteryRegions(radius_mm=region_radius_mm), name="regions")
    segment = pe.Node(SegmentCalcium(), name="segment")
    measure = pe.Node(MeasureICAC(), name="measure")
    from tasks.interfaces.qc import CTQualityMetrics

    iqm = pe.Node(CTQualityMetrics(), name="iqms")
    report = pe.Node(ICACReportlet(title="Intracranial artery calcification"), name="report")
    from tasks.interfaces.reportlets import CTReportletsSVG

    svg = pe.Node(CTReportletsSVG(), name="svg_reportlets")

    wf.connect([
        (inputnode, masks, [("ct_file", "ct_file")]),
        (inputnode, register, [("ct_file", "ct_file")]),
        (masks, register, [("intracranial_mask", "intracranial_mask")]),
        (inputnode, regions, [("ct_file", "ct_file")]),
        (register, regions, [("transform", "transform")]),
        (inputnode, segment, [("ct_file", "ct_file")]),
        (masks, segment, [("skull_mask", "skull_mask")]),
        (regions, segment, [("artery_regions", "artery_regions"),
                            ("centrelines", "centrelines")]),
        (inputnode, measure, [("ct_file", "ct_file")]),
        (segment, measure, [("calcium_dseg", "calcium_dseg")]),
        (regions, measure, [("centrelines", "centrelines")]),
        (masks, measure, [("skull_mask", "skull_mask"),
                          ("intracranial_mask", "intracranial_mask")]),
        (register, measure, [("transform", "transform")]),
        (inputnode, iqm, [("ct_file", "ct_file")]),
        (masks, iqm, [("intracranial_mask", "intracranial_mask")]),
        (iqm, measure, [("iqms_json", "iqms_json")]),
        (inputnode, report, [("ct_file", "ct_file")]),
        (segment, report, [("calcium_dseg", "calcium_dseg")]),
        (regions, report, [("artery_regions", "artery_regions")]),
        (measure, outputnode, [("measures", "measures")]),
        (segment, outputnode, [("calcium_dseg", "calcium_dseg")]),
        (regions, outputnode, [("artery_regions", "artery_regions")]),
        (masks, outputnode, [("intracranial_mask", "intracranial_mask")]),
        (report, outputnode, [("out_report", "reportlet")]),
        (register, outputnode, [("transform", "transform")]),
        (inputnode, svg, [("ct_file", "ct_file")]),
        (masks, svg, [("intracranial_mask", "intracranial_mask")]),
        (segment, svg, [("calcium_dseg", "calcium_dseg")]),
        (register, svg, [("transform", "transform")]),
        (svg, outputnode, [("out_reports", "svg_reportlets")]),
    ])
    return wf
