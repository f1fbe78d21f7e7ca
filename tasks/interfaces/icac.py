"""Nipype interfaces for intracranial artery calcification on CT: one per step, thin adapters.

Each interface reads NIfTI/JSON files, calls one function of :mod:`tasks.icac` and writes its
result in the node's working directory. Masks and label maps are written on the exact grid and
voxel order of the input CT (:func:`tasks.imaging.io.save_like`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from nipype.interfaces.base import (
    BaseInterfaceInputSpec,
    File,
    SimpleInterface,
    TraitedSpec,
    traits,
)


def _out(name: str) -> str:
    return str(Path(os.getcwd()) / name)


class _CTMasksInputSpec(BaseInterfaceInputSpec):
    ct_file = File(exists=True, mandatory=True, desc="head CT NIfTI in Hounsfield units")


class _CTMasksOutputSpec(TraitedSpec):
    skull_mask = File(exists=True, desc="skull (>= 300 HU components >= 5 cm^3), uint8")
    intracranial_mask = File(exists=True, desc="intracranial space, uint8")


class CTMasks(SimpleInterface):
    """Check the CT and compute its skull and intracranial masks (:mod:`tasks.icac.headmask`).

    Raises :class:`tasks.icac.headmask.DegenerateImageError` (with the reason) for an image
    that is not a head CT in HU.
    """

    input_spec = _CTMasksInputSpec
    output_spec = _CTMasksOutputSpec

    def _run_interface(self, runtime):
        from tasks.icac.ctio import load_ct
        from tasks.icac.headmask import check_ct, intracranial_mask, skull_mask
        from tasks.imaging.io import save_like

        ct = load_ct(self.inputs.ct_file)
        check_ct(ct.hu, ct.spacing)
        skull = skull_mask(ct.hu, ct.spacing)
        ic = intracranial_mask(ct.hu, ct.spacing, skull)
        self._results["skull_mask"] = str(save_like(skull, self.inputs.ct_file,
                                                    _out("skull_mask.nii.gz")))
        self._results["intracranial_mask"] = str(save_like(ic, self.inputs.ct_file,
                                                           _out("intracranial_mask.nii.gz")))
        return runtime


class _RegisterInputSpec(BaseInterfaceInputSpec):
    ct_file = File(exists=True, mandatory=True, desc="head CT NIfTI in HU")
    intracranial_mask = File(exists=True, mandatory=True, desc="intracranial mask of the CT")
    seed = traits.Int(1, usedefault=True, desc="metric sampling seed (reproducibility)")
    num_threads = traits.Int(1, usedefault=True, desc="SimpleITK threads")


class _RegisterOutputSpec(TraitedSpec):
    transform = File(exists=True, desc="JSON: 4x4 CT RAS mm -> MNI152 RAS mm matrix")


class RegisterCTToTemplate(SimpleInterface):
    """Affine registration of the CT to MNI152 (:mod:`tasks.icac.registration`)."""

    input_spec = _RegisterInputSpec
    output_spec = _RegisterOutputSpec

    def _run_interface(self, runtime):
        import SimpleITK as sitk

        from tasks.icac.ctio import load_ct
        from tasks.icac.registration import register_to_template
        from tasks.imaging.io import load_canonical
        from tasks.imaging.space import transform_to_matrix

        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(max(1, self.inputs.num_threads))
        ct = load_ct(self.inputs.ct_file)
        ic = load_canonical(self.inputs.intracranial_mask)[0] > 0
        tx = register_to_template(ic, ct.affine, hu=ct.hu, seed=self.inputs.seed)
        out = _out("ct_to_mni152.json")
        Path(out).write_text(json.dumps({
            "from": "CT RAS mm", "to": "MNI152NLin2009aSym RAS mm",
            "ct_to_template": transform_to_matrix(tx).tolist()}, indent=1))
        self._results["transform"] = out
        return runtime


class _ArteryRegionsInputSpec(BaseInterfaceInputSpec):
    ct_file = File(exists=True, mandatory=True, desc="head CT NIfTI (defines the grid)")
    transform = File(exists=True, mandatory=True, desc="JSON from RegisterCTToTemplate")
    radius_mm = traits.Float(6.0, usedefault=True, desc="tube radius around each centreline")


class _ArteryRegionsOutputSpec(TraitedSpec):
    artery_regions = File(exists=True, desc="label map 1..7 in calcisvd.measures.ARTERIES order")
    centrelines = File(exists=True, desc="JSON: centrelines mapped to CT RAS mm")


class ArteryRegions(SimpleInterface):
    """Map the atlas centrelines to the CT and build artery regions (:mod:`tasks.icac.regions`)."""

    input_spec = _ArteryRegionsInputSpec
    output_spec = _ArteryRegionsOutputSpec

    def _run_interface(self, runtime):
        import numpy as np

        from tasks.icac.ctio import load_ct
        from tasks.icac.regions import artery_regions, map_centrelines
        from tasks.imaging.io import save_like

        ct = load_ct(self.inputs.ct_file)
        m = np.asarray(json.loads(Path(self.inputs.transform).read_text())["ct_to_template"])
        lines = map_centrelines(m)
        regions = artery_regions(ct.hu.shape, ct.affine, lines, self.inputs.radius_mm)
        self._results["artery_regions"] = str(save_like(
            regions, self.inputs.ct_file, _out("artery_regions.nii.gz")))
        out = _out("centrelines_ct.json")
        Path(out).write_text(json.dumps([c.to_json() for c in lines]))
        self._results["centrelines"] = out
        return runtime


class _SegmentCalciumInputSpec(BaseInterfaceInputSpec):
    ct_file = File(exists=True, mandatory=True, desc="head CT NIfTI in HU")
    artery_regions = File(exists=True, mandatory=True, desc="artery region label map")
    skull_mask = File(exists=True, mandatory=True, desc="skull mask")
    centrelines = File(exists=True, desc="centrelines JSON (CT RAS mm): deposits are then "
                       "named by the course they fit (wall.reassign_by_course)")


class _SegmentCalciumOutputSpec(TraitedSpec):
    calcium_dseg = File(exists=True, desc="calcified voxels labelled 1..7 (ARTERIES order)")


def _lines(path: str):
    from tasks.icac.regions import MappedCentreline

    return [MappedCentreline.from_json(d) for d in json.loads(Path(path).read_text())]


class SegmentCalcium(SimpleInterface):
    """Calcified voxels (>= 130 HU) in the artery regions, bone excluded, each deposit named
    after the artery it lies on (:mod:`.calcium`)."""

    input_spec = _SegmentCalciumInputSpec
    output_spec = _SegmentCalciumOutputSpec

    def _run_interface(self, runtime):
        from nipype.interfaces.base import isdefined

        from tasks.icac.calcium import segment_calcium
        from tasks.icac.ctio import load_ct
        from tasks.icac.wall import reassign_by_course
        from tasks.imaging.io import load_canonical, save_like

        ct = load_ct(self.inputs.ct_file)
        cal = segment_calcium(ct.hu, ct.spacing, load_canonical(self.inputs.artery_regions)[0],
                              load_canonical(self.inputs.skull_mask)[0] > 0)
        if isdefined(self.inputs.centrelines):
            cal = reassign_by_course(cal, ct.affine, _lines(self.inputs.centrelines))
        self._results["calcium_dseg"] = str(save_like(cal, self.inputs.ct_file,
                                                      _out("calcium_dseg.nii.gz")))
        return runtime


class _MeasureICACInputSpec(BaseInterfaceInputSpec):
    ct_file = File(exists=True, mandatory=True, desc="head CT NIfTI in HU")
    calcium_dseg = File(exists=True, mandatory=True, desc="calcium label map")
    centrelines = File(exists=True, mandatory=True, desc="centrelines JSON (CT RAS mm)")
    skull_mask = File(exists=True, desc="skull mask (for the bone-touching volume)")
    intracranial_mask = File(exists=True, desc="intracranial mask (QC metrics)")
    transform = File(exists=True, desc="JSON from RegisterCTToTemplate (QC metrics)")
    iqms_json = File(exists=True, desc="image-quality metrics (tasks.interfaces.qc)")


class _MeasureICACOutputSpec(TraitedSpec):
    measures = traits.Dict(desc="ICAC block of the measures file (calcisvd.measures names)")
    measures_file = File(exists=True, desc="the same as JSON")


class MeasureICAC(SimpleInterface):
    """Per-artery and session ICAC measures (:func:`tasks.icac.calcium.measure_icac`).

    With ``intracranial_mask`` and ``transform`` the QC metrics of :mod:`tasks.icac.ctqc` are
    added (the CT's JSON sidecar, next to ``ct_file``, gives kVp, slice thickness and tilt) and
    the status becomes ``review`` with the reasons when a check fails.
    """

    input_spec = _MeasureICACInputSpec
    output_spec = _MeasureICACOutputSpec

    def _run_interface(self, runtime):
        import numpy as np
        from nipype.interfaces.base import isdefined

        from tasks.icac.calcium import measure_icac
        from tasks.icac.ctio import load_ct, load_sidecar
        from tasks.icac.ctqc import apply_qc, cut_ends, qc_metrics, tilt_verified
        from tasks.imaging.io import load_canonical

        ct = load_ct(self.inputs.ct_file)
        skull = (load_canonical(self.inputs.skull_mask)[0] > 0
                 if isdefined(self.inputs.skull_mask) else None)
        m = measure_icac(ct.hu, ct.spacing, ct.affine, load_canonical(self.inputs.calcium_dseg)[0],
                         _lines(self.inputs.centrelines), skull=skull)
        if isdefined(self.inputs.intracranial_mask) and isdefined(self.inputs.transform):
            mat = np.asarray(json.loads(Path(self.inputs.transform).read_text())
                             ["ct_to_template"])
            ic = load_canonical(self.inputs.intracranial_mask)[0] > 0
            sidecar = load_sidecar(self.inputs.ct_file)
            qc = qc_metrics(ct.hu, ct.spacing, ct.affine, ic, mat, sidecar)
            m = apply_qc(m, qc, cut_ends(ic, ct.affine, ct.hu), tilt_verified(sidecar))
        if isdefined(self.inputs.iqms_json):
            m["iqms"] = json.loads(Path(self.inputs.iqms_json).read_text())
        out = _out("icac_measures.json")
        Path(out).write_text(json.dumps(m, indent=1))
        self._results["measures"] = m
        self._results["measures_file"] = out
        return runtime


class _ICACReportletInputSpec(BaseInterfaceInputSpec):
    ct_file = File(exists=True, mandatory=True, desc="head CT NIfTI in HU")
    calcium_dseg = File(exists=True, mandatory=True, desc="calcium label map")
    artery_regions = File(exists=True, mandatory=True, desc="artery region label map")
    title = traits.Str("", usedefault=True, desc="figure title")


class _ICACReportletOutputSpec(TraitedSpec):
    out_report = File(exists=True, desc="PNG reportlet")


class ICACReportlet(SimpleInterface):
    """QC PNG: calcium coloured by artery over projections (:mod:`tasks.icac.qc`)."""

    input_spec = _ICACReportletInputSpec
    output_spec = _ICACReportletOutputSpec

    def _run_interface(self, runtime):
        from tasks.icac.ctio import load_ct
        from tasks.icac.qc import plot_reportlet
        from tasks.imaging.io import load_canonical

        ct = load_ct(self.inputs.ct_file)
        self._results["out_report"] = str(plot_reportlet(
            ct.hu, ct.spacing, load_canonical(self.inputs.calcium_dseg)[0],
            load_canonical(self.inputs.artery_regions)[0], _out("icac_reportlet.png"),
            title=self.inputs.title))
        return runtime
