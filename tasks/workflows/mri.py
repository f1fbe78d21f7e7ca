"""Nipype workflow of the MRI small-vessel-disease markers for one session."""

from __future__ import annotations

from nipype.interfaces.utility import IdentityInterface
from nipype.pipeline import engine as pe

from calcisvd.measures import MR_CONTRASTS

MODALITIES = tuple(c.lower() for c in MR_CONTRASTS)
OUTPUT_FIELDS = ("measures", "wmh_mask", "microbleed_mask", "lacune_mask", "pvs_mask",
                 "ventricle_mask", "brain_mask", "reportlets", "reference", "lesions",
                 "svg_reportlets")


def init_mri_svd_wf(*, has_t1w: bool, has_t2w: bool, has_flair: bool, has_t2starw: bool,
                    name: str = "mri_svd_wf", omp_nthreads: int = 1) -> pe.Workflow:
    """Build the MRI SVD workflow for the contrasts a session has.

    Steps: rigid coregistration to FLAIR (else T2w) -> brain mask (MNI152 registration), bias
    correction, tissue classes, ventricles -> WMH on FLAIR (if any), microbleeds on T2*w (else
    T2w, flagged), lacunes and PVS (T1w/T2w/FLAIR) -> measures dict -> QC reportlets; MRIQC-style
    image-quality metrics per contrast (``measures['iqms']``).
    A missing contrast leaves its markers ``None`` with a reason and its masks undefined; so
    do slices too thick to tell lacunes from PVS (lacune and PVS masks undefined). Every node
    calls one function of :mod:`tasks.svd.steps`, the same the in-memory chain runs.

    Inputs (``inputnode``): ``t1w, t2w, flair, t2starw`` (NIfTI paths; connect only those
    present). Outputs (``outputnode``): ``measures`` (dict: ``SVD_MEASURES`` + status +
    reason), ``wmh_mask, microbleed_mask, lacune_mask, pvs_mask, ventricle_mask, brain_mask``
    (NIfTI in the reference space), ``reportlets`` (PNG paths), ``svg_reportlets`` (SVG paths:
    brain mask, lesions, registration; :mod:`tasks.interfaces.reportlets`), ``reference``
    (contrast name),
    ``lesions`` (JSON paths with lesion records).

    .. workflow::

        from tasks.workflows.mri import init_mri_svd_wf
        wf = init_mri_svd_wf(has_t1w=True, has_t2w=True, has_flair=True, has_t2starw=False)
    """
    from tasks.interfaces.svd import (
        LacuneDetection,
        MicrobleedDetection,
        MRIAnatomy,
        MRICoregister,
        SVDMeasures,
        SVDReportlets,
        WMHSegmentation,
    )
    from tasks.svd.register import choose_reference

    has = {"t1w": has_t1w, "t2w": has_t2w, "flair": has_flair, "t2starw": has_t2starw}
    if not any(has.values()):
        raise ValueError("init_mri_svd_wf: at least one MR contrast is needed")
    present = [m for m in MODALITIES if has[m]]
    wf = pe.Workflow(name=name)
    inputnode = pe.Node(IdentityInterface(fields=list(MODALITIES)), name="inputnode")
    outputnode = pe.Node(IdentityInterface(fields=list(OUTPUT_FIELDS)), name="outputnode")
    coreg = pe.Node(MRICoregister(num_threads=omp_nthreads), name="coregister",
                    n_procs=omp_nthreads)
    anat = pe.Node(MRIAnatomy(num_threads=omp_nthreads), name="anatomy", n_procs=omp_nthreads)
    measures = pe.Node(SVDMeasures(), name="measures")
    report = pe.Node(SVDReportlets(), name="reportlets")
    from tasks.interfaces.qc import MRIQualityMetrics
    from tasks.interfaces.reportlets import MRIReportletsSVG

    svg = pe.Node(MRIReportletsSVG(), name="svg_reportlets")

    iqm = pe.Node(MRIQualityMetrics(num_threads=omp_nthreads), name="iqms",
                  n_procs=omp_nthreads)
    masks = ("brain_mask", "tissue_dseg", "ventricle_mask")
    wf.connect([(inputnode, coreg, [(m, m) for m in present]),
                (coreg, anat, [(m, m) for m in present]),
                (coreg, report, [(m, m) for m in present]),
                (coreg, iqm, [(m, m) for m in present]),
                (anat, iqm, [("brain_mask", "brain_mask"), ("tissue_dseg", "tissue_dseg")]),
                (iqm, measures, [("iqms_json", "iqms_json")]),
                (coreg, outputnode, [("reference", "reference")]),
                (anat, measures, [("notes", "notes"), ("qc_json", "qc_json")]),
                (anat, report, [("brain_mask", "brain_mask"),
                                ("ventricle_mask", "ventricle_mask")]),
                (anat, outputnode, [("brain_mask", "brain_mask"),
                                    ("ventricle_mask", "ventricle_mask")]),
                (measures, report, [("measures", "measures")]),
                (measures, outputnode, [("measures", "measures")]),
                (report, outputnode, [("reportlets", "reportlets")]),
                (coreg, svg, [(m, m) for m in present]),
                (anat, svg, [("brain_mask", "brain_mask"), ("ventricle_mask", "ventricle_mask"),
                             ("template_transform", "template_transform")]),
                (svg, outputnode, [("out_reports", "svg_reportlets")])])
    lesion_merge = []
    wmh = None
    if has_flair:
        wmh = pe.Node(WMHSegmentation(), name="wmh")
        wf.connect([(anat, wmh, [(m, m) for m in masks] + [("flair_z", "flair_z")]),
                    (wmh, measures, [("wmh_json", "wmh_json")]),
                    (wmh, report, [("wmh_mask", "wmh_mask")]),
                    (wmh, svg, [("wmh_mask", "wmh_mask")]),
                    (wmh, outputnode, [("wmh_mask", "wmh_mask")])])
        if has_t1w:
            wf.connect(anat, "t1w_z", wmh, "t1w_z")
        wf.connect(anat, "wm_prior", wmh, "wm_prior")
        wf.connect(anat, "flair_global_z", wmh, "flair_global_z")
    if has_t2starw or has_t2w:
        contrast = "T2starw" if has_t2starw else "T2w"
        mb = pe.Node(MicrobleedDetection(contrast=contrast), name="microbleeds")
        wf.connect([(anat, mb, [(m, m) for m in masks]
                     + [("t2starw_z" if has_t2starw else "t2w_z", "image_z")]),
                    (mb, measures, [("lesions_json", "microbleeds_json")]),
                    (mb, report, [("mask", "microbleed_mask")]),
                    (mb, svg, [("mask", "microbleed_mask")]),
                    (mb, outputnode, [("mask", "microbleed_mask")])])
        wf.connect(coreg, "t2starw" if has_t2starw else "t2w", mb, "image")
        ref = choose_reference([c for c in MR_CONTRASTS if has[c.lower()]]).lower()
        wf.connect(coreg, ref, mb, "reference_image")
        lesion_merge.append((mb, "lesions_json"))
    if has_t1w or has_t2w or has_flair:
        lac = pe.Node(LacuneDetection(), name="lacunes")
        wf.connect([(anat, lac, [(m, m) for m in masks]
                     + [(f"{m}_z", f"{m}_z") for m in ("t1w", "t2w", "flair") if has[m]]),
                    (lac, measures, [("lesions_json", "lacunes_json")]),
                    (lac, report, [("lacune_mask", "lacune_mask"), ("pvs_mask", "pvs_mask")]),
                    (lac, svg, [("lacune_mask", "lacune_mask"), ("pvs_mask", "pvs_mask")]),
                    (lac, outputnode, [("lacune_mask", "lacune_mask"),
                                       ("pvs_mask", "pvs_mask")])])
        lesion_merge.append((lac, "lesions_json"))
        if has_flair:
            wf.connect([(lac, wmh, [("lacune_mask", "lacune_mask"),
                                    ("cavity_mask", "cavity_mask")])])
    if lesion_merge:
        from nipype.interfaces.utility import Merge

        merge = pe.Node(Merge(len(lesion_merge)), name="lesion_files")
        for i, (node, field) in enumerate(lesion_merge, start=1):
            wf.connect(node, field, merge, f"in{i}")
        wf.connect(merge, "out", outputnode, "lesions")
    return wf
