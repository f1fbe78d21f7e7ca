"""Nipype interfaces of the MRI small-vessel-disease steps (thin adapters over ``tasks.svd``).

Each interface reads NIfTI files, calls one core function and writes NIfTI/JSON outputs into
its working directory. Intermediate images are uncompressed ``.nii`` (fast); the masks the
workflow exposes are ``.nii.gz``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from nipype.interfaces.base import (
    BaseInterfaceInputSpec,
    File,
    InputMultiObject,
    SimpleInterface,
    TraitedSpec,
    isdefined,
    traits,
)

from calcisvd.measures import MR_CONTRASTS
from tasks.imaging.io import load_nifti, save_nifti

#: Nipype input names (lower case) of the MR contrasts, and back to the contrast names
_KEY = {c.lower(): c for c in MR_CONTRASTS}
MODALITIES = tuple(_KEY)


def _opt(value):
    return value if isdefined(value) and value else None


def _opt_mask(value, box: tuple[slice, ...]):
    """An optional mask input, cropped to ``box``, as booleans (None when not given)."""
    import numpy as np

    path = _opt(value)
    return None if path is None else np.asarray(load_nifti(path)[0])[box] > 0


def _limit_threads(n: int) -> None:
    """Cap SimpleITK's threads: sessions run side by side, one core each by default."""
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(max(1, int(n)))


# --------------------------------------------------------------------------------------------
class _CoregisterInputSpec(BaseInterfaceInputSpec):
    t1w = File(exists=True, desc="T1-weighted image")
    t2w = File(exists=True, desc="T2-weighted image")
    flair = File(exists=True, desc="FLAIR image (reference when present)")
    t2starw = File(exists=True, desc="T2*-weighted / SWI magnitude image")
    register = traits.Bool(True, usedefault=True, desc="rigid MI registration (else world)")
    num_threads = traits.Int(1, usedefault=True, desc="SimpleITK threads")


class _CoregisterOutputSpec(TraitedSpec):
    reference = traits.Str(desc="name of the reference contrast")
    t1w = File(desc="T1w on the reference grid")
    t2w = File(desc="T2w on the reference grid")
    flair = File(desc="FLAIR on the reference grid")
    t2starw = File(desc="T2*w on the reference grid")


class MRICoregister(SimpleInterface):
    """Rigid registration of every MR contrast to the FLAIR (else T2w) grid."""

    input_spec = _CoregisterInputSpec
    output_spec = _CoregisterOutputSpec

    def _run_interface(self, runtime):
        from tasks.svd.register import coregister

        _limit_threads(self.inputs.num_threads)
        images = {_KEY[m]: load_nifti(p) for m in MODALITIES
                  if (p := _opt(getattr(self.inputs, m))) is not None}
        if not images:
            raise ValueError("MRICoregister: no MR image given")
        ref, affine, arrs = coregister(images, register=self.inputs.register)
        self._results["reference"] = ref
        for m in MODALITIES:
            if _KEY[m] in arrs:
                self._results[m] = save_nifti(arrs[_KEY[m]], affine,
                                         os.path.join(runtime.cwd, f"{m}_ref.nii"), "float32")
        return runtime


# --------------------------------------------------------------------------------------------
class _AnatomyInputSpec(BaseInterfaceInputSpec):
    t1w = File(exists=True)
    t2w = File(exists=True)
    flair = File(exists=True)
    t2starw = File(exists=True)
    num_threads = traits.Int(1, usedefault=True, desc="SimpleITK threads")


class _AnatomyOutputSpec(TraitedSpec):
    brain_mask = File(desc="brain mask (uint8)")
    tissue_dseg = File(desc="0 background, 1 CSF, 2 GM, 3 WM")
    ventricle_mask = File(desc="lateral/third ventricles")
    t1w_z = File(desc="bias-corrected NAWM-referenced z-score")
    t2w_z = File()
    flair_z = File()
    t2starw_z = File()
    flair_global_z = File(desc="FLAIR z against the global NAWM reference, when flair_z is "
                          "the local one (the WMH step's check)")
    notes = traits.List(traits.Str, desc="remarks for the measures' reason")
    wm_prior = File(desc="registered MNI152 WM probability (float32), if registered")
    qc_json = File(desc="QC metrics of the session (tasks.svd.review.qc_metrics)")
    template_transform = File(desc="JSON: subject RAS -> MNI152 RAS 4x4, if registered")


class MRIAnatomy(SimpleInterface):
    """Brain mask (MNI152 registration), bias correction, tissue classes, ventricles."""

    input_spec = _AnatomyInputSpec
    output_spec = _AnatomyOutputSpec

    def _run_interface(self, runtime):
        import numpy as np

        from tasks.svd.anatomy import uncrop
        from tasks.svd.steps import anatomy_step

        _limit_threads(self.inputs.num_threads)
        loaded = {_KEY[m]: load_nifti(p) for m in MODALITIES
                  if (p := _opt(getattr(self.inputs, m))) is not None}
        affine = next(iter(loaded.values()))[1]
        step = anatomy_step({k: np.asarray(v[0], np.float32) for k, v in loaded.items()},
                            affine)
        anat, box, shape, cwd = step.anat, step.box, step.shape, runtime.cwd
        self._results["brain_mask"] = save_nifti(uncrop(anat.brain, box, shape), affine,
                                                 os.path.join(cwd, "brain_mask.nii.gz"))
        self._results["tissue_dseg"] = save_nifti(uncrop(anat.tissue, box, shape), affine,
                                                  os.path.join(cwd, "tissue_dseg.nii.gz"))
        self._results["ventricle_mask"] = save_nifti(
            uncrop(anat.ventricles, box, shape), affine,
            os.path.join(cwd, "ventricle_mask.nii.gz"))
        for m in MODALITIES:
            if _KEY[m] in step.zimg:
                self._results[f"{m}_z"] = save_nifti(
                    uncrop(step.zimg[_KEY[m]], box, shape), affine,
                    os.path.join(cwd, f"{m}_z.nii"), "float32")
        if "FLAIR" in step.zglobal:
            self._results["flair_global_z"] = save_nifti(
                uncrop(step.zglobal["FLAIR"], box, shape), affine,
                os.path.join(cwd, "flair_global_z.nii"), "float32")
        self._results["notes"] = step.notes
        path = Path(cwd, "qc.json")
        path.write_text(json.dumps(step.qc, indent=2))
        self._results["qc_json"] = str(path)
        if (info := step.reg_info) is not None:
            self._results["wm_prior"] = save_nifti(info["wm_prior"], affine,
                                                   os.path.join(cwd, "wm_prior.nii"), "float32")
            tx = Path(cwd, "template_transform.json")
            tx.write_text(json.dumps({"from": "subject RAS mm", "to": "MNI152 2009 RAS mm",
                                      "subject_to_template":
                                          np.asarray(info["subject_to_template"]).tolist()}))
            self._results["template_transform"] = str(tx)
        return runtime


def _anatomy(brain_file: str, tissue_file: str, ventricle_file: str):
    """Load the anatomy, cropped to the brain's bounding box: (anat, box, affine, shape)."""
    import numpy as np

    from tasks.imaging.space import spacing_from_affine
    from tasks.svd.anatomy import bounding_box, crop_affine
    from tasks.svd.steps import anatomy_from_masks

    brain, affine = load_nifti(brain_file)
    brain = np.asarray(brain) > 0
    box = bounding_box(brain)
    tissue = np.asarray(load_nifti(tissue_file)[0])[box]
    vent = np.asarray(load_nifti(ventricle_file)[0])[box]
    spacing = spacing_from_affine(affine)
    anat = anatomy_from_masks(brain[box], tissue, vent, spacing)
    return anat, box, affine, crop_affine(affine, box), brain.shape, spacing


class _AnatomyMasksInputSpec(BaseInterfaceInputSpec):
    brain_mask = File(exists=True, mandatory=True)
    tissue_dseg = File(exists=True, mandatory=True)
    ventricle_mask = File(exists=True, mandatory=True)


# --------------------------------------------------------------------------------------------
class _WMHInputSpec(_AnatomyMasksInputSpec):
    flair_z = File(exists=True, mandatory=True)
    flair_global_z = File(exists=True, desc="FLAIR z against the global NAWM reference")
    t1w_z = File(exists=True)
    lacune_mask = File(exists=True, desc="lacunes: their FLAIR rim is not WMH")
    cavity_mask = File(exists=True, desc="PVS candidates, or on thick slices every small "
                       "cavity: a rim is not WMH (LacuneDetection)")
    wm_prior = File(exists=True, desc="registered template WM probability (WM territory)")


class _WMHOutputSpec(TraitedSpec):
    wmh_mask = File(desc="WMH mask on the reference grid")
    wmh_json = File(desc="WMH measures (volumes, Fazekas, punctate)")


class WMHSegmentation(SimpleInterface):
    """WMH on FLAIR, PV/deep split at 10 mm, Fazekas proxies and punctate grade."""

    input_spec = _WMHInputSpec
    output_spec = _WMHOutputSpec

    def _run_interface(self, runtime):
        import numpy as np

        from tasks.svd.anatomy import uncrop
        from tasks.svd.steps import wmh_step

        anat, box, affine, _, shape, spacing = _anatomy(
            self.inputs.brain_mask, self.inputs.tissue_dseg, self.inputs.ventricle_mask)
        flair = np.asarray(load_nifti(self.inputs.flair_z)[0], np.float32)[box]
        t1 = _opt(self.inputs.t1w_z)
        mask, res, contrast_sd = wmh_step(
            flair, anat, spacing,
            t1_z=None if t1 is None else np.asarray(load_nifti(t1)[0], np.float32)[box],
            lacune_mask=_opt_mask(self.inputs.lacune_mask, box),
            cavity_mask=_opt_mask(self.inputs.cavity_mask, box),
            wm_prior=None if (w := _opt(self.inputs.wm_prior)) is None
            else np.asarray(load_nifti(w)[0], np.float32)[box],
            flair_global_z=None if (g := _opt(self.inputs.flair_global_z)) is None
            else np.asarray(load_nifti(g)[0], np.float32)[box])
        self._results["wmh_mask"] = save_nifti(uncrop(mask, box, shape), affine,
                                          os.path.join(runtime.cwd, "wmh_mask.nii.gz"))
        out = {k: v for k, v in res.__dict__.items() if not hasattr(v, "shape")}
        out["lesion_contrast_sd"] = contrast_sd
        path = Path(runtime.cwd, "wmh.json")
        path.write_text(json.dumps(out, indent=2))
        self._results["wmh_json"] = str(path)
        return runtime


# --------------------------------------------------------------------------------------------
class _MicrobleedInputSpec(_AnatomyMasksInputSpec):
    image_z = File(exists=True, mandatory=True, desc="T2*w (or T2w) z-score image")
    contrast = traits.Enum("T2starw", "T2w", mandatory=True, desc="contrast of image_z")
    image = File(exists=True, desc="that contrast on the reference grid (its 0 voxels have no "
                                   "signal: tasks.svd.lesions.detect_microbleeds no_signal)")
    reference_image = File(exists=True, desc="the reference contrast (its 0 voxels too)")


class _LesionOutputSpec(TraitedSpec):
    mask = File(desc="lesion mask")
    lesions_json = File(desc="lesion records (centre_ras, volume, shape)")


class MicrobleedDetection(SimpleInterface):
    """Small round hypointense foci on T2*w (or T2w, flagged)."""

    input_spec = _MicrobleedInputSpec
    output_spec = _LesionOutputSpec

    def _run_interface(self, runtime):
        import numpy as np

        from tasks.svd.anatomy import uncrop
        from tasks.svd.lesions import detect_microbleeds, no_signal

        anat, box, affine, caff, shape, spacing = _anatomy(
            self.inputs.brain_mask, self.inputs.tissue_dseg, self.inputs.ventricle_mask)
        z = np.asarray(load_nifti(self.inputs.image_z)[0], np.float32)[box]
        silent = no_signal(*(np.asarray(load_nifti(f)[0])[box]
                             for f in (self.inputs.image, self.inputs.reference_image)
                             if isdefined(f)))
        mask, lesions = detect_microbleeds(z, anat, spacing, caff, no_signal=silent)
        self._results["mask"] = save_nifti(uncrop(mask, box, shape), affine,
                                      os.path.join(runtime.cwd, "microbleed_mask.nii.gz"))
        path = Path(runtime.cwd, "microbleeds.json")
        path.write_text(json.dumps({"contrast": self.inputs.contrast,
                                    "lesions": [x.as_dict() for x in lesions]}, indent=2))
        self._results["lesions_json"] = str(path)
        return runtime


# --------------------------------------------------------------------------------------------
class _LacuneInputSpec(_AnatomyMasksInputSpec):
    t1w_z = File(exists=True)
    t2w_z = File(exists=True)
    flair_z = File(exists=True)


class _LacuneOutputSpec(TraitedSpec):
    lacune_mask = File(desc="lacunes (not set on slices too thick to tell them from PVS)")
    pvs_mask = File(desc="enlarged PVS (not set on thick slices)")
    cavity_mask = File(desc="what WMH must not include: PVS, or every small cavity on thick "
                            "slices")
    lesions_json = File(desc="lacunes, PVS and the basal-ganglia PVS count (null: not "
                             "measurable)")


class LacuneDetection(SimpleInterface):
    """Lacunes (3-15 mm CSF-like cavities with a FLAIR rim) and enlarged PVS
    (:func:`tasks.svd.steps.cavity_step`)."""

    input_spec = _LacuneInputSpec
    output_spec = _LacuneOutputSpec

    def _run_interface(self, runtime):
        import numpy as np

        from tasks.svd.anatomy import uncrop
        from tasks.svd.steps import cavity_step

        anat, box, affine, caff, shape, spacing = _anatomy(
            self.inputs.brain_mask, self.inputs.tissue_dseg, self.inputs.ventricle_mask)
        zimg = {_KEY[m]: np.asarray(load_nifti(p)[0], np.float32)[box]
                for m in ("t1w", "t2w", "flair")
                if (p := _opt(getattr(self.inputs, f"{m}_z"))) is not None}
        step = cavity_step(zimg, anat, spacing, caff)
        if step is None:
            raise ValueError("LacuneDetection: no T1w, T2w or FLAIR z-score image given")
        cwd = runtime.cwd
        for name, mask in (("lacune_mask", step.lacune_mask), ("pvs_mask", step.pvs_mask),
                           ("cavity_mask", step.cavity_mask)):
            if mask is not None:
                self._results[name] = save_nifti(uncrop(mask, box, shape), affine,
                                                 os.path.join(cwd, f"{name}.nii.gz"))
        path = Path(cwd, "lacunes.json")
        path.write_text(json.dumps({
            "lacunes": None if step.lacunes is None else [x.as_dict() for x in step.lacunes],
            "pvs": None if step.pvs is None else [x.as_dict() for x in step.pvs],
            "bg_pvs_count": step.bg_pvs_count}, indent=2))
        self._results["lesions_json"] = str(path)
        return runtime


# --------------------------------------------------------------------------------------------
class _MeasuresInputSpec(BaseInterfaceInputSpec):
    wmh_json = File(exists=True)
    microbleeds_json = File(exists=True)
    lacunes_json = File(exists=True)
    notes = InputMultiObject(traits.Str, desc="reasons known after the anatomy step "
                                              "(tasks.svd.steps.session_reasons)")
    qc_json = File(exists=True, desc="QC metrics (MRIAnatomy); implausible ones -> review")
    iqms_json = File(exists=True, desc="image-quality metrics (tasks.interfaces.qc)")


class _MeasuresOutputSpec(TraitedSpec):
    measures = traits.Dict(desc="SVD_MEASURES + status + reason")
    measures_json = File()


class SVDMeasures(SimpleInterface):
    """Assemble the session's SVD measures dict (:func:`tasks.svd.steps.measures_step`)."""

    input_spec = _MeasuresInputSpec
    output_spec = _MeasuresOutputSpec

    def _run_interface(self, runtime):
        from tasks.svd.steps import measures_step

        def read(name):
            p = _opt(getattr(self.inputs, name))
            return None if p is None else json.loads(Path(p).read_text())

        wmh, mb, lac = read("wmh_json"), read("microbleeds_json"), read("lacunes_json")
        m = measures_step(
            wmh=wmh, wmh_contrast_sd=None if wmh is None else wmh.get("lesion_contrast_sd"),
            microbleeds=None if mb is None else mb["lesions"],
            contrast=None if mb is None else mb["contrast"],
            lacunes=None if lac is None else lac["lacunes"],
            pvs=None if lac is None else lac["pvs"],
            bg_pvs_count=None if lac is None else lac["bg_pvs_count"],
            notes=list(_opt(self.inputs.notes) or []), qc=read("qc_json"))
        iqms = read("iqms_json")
        if iqms is not None:
            m["iqms"] = iqms
        self._results["measures"] = m
        path = Path(runtime.cwd, "svd_measures.json")
        path.write_text(json.dumps(m, indent=2))
        self._results["measures_json"] = str(path)
        return runtime


# --------------------------------------------------------------------------------------------
class _ReportletsInputSpec(BaseInterfaceInputSpec):
    t1w = File(exists=True)
    t2w = File(exists=True)
    flair = File(exists=True)
    t2starw = File(exists=True)
    brain_mask = File(exists=True, mandatory=True)
    ventricle_mask = File(exists=True)
    wmh_mask = File(exists=True)
    microbleed_mask = File(exists=True)
    lacune_mask = File(exists=True)
    pvs_mask = File(exists=True)
    measures = traits.Dict()


class _ReportletsOutputSpec(TraitedSpec):
    reportlets = traits.List(File(exists=True), desc="PNG files")


class SVDReportlets(SimpleInterface):
    """QC PNGs: WMH, microbleed and lacune/PVS overlays on axial slices."""

    input_spec = _ReportletsInputSpec
    output_spec = _ReportletsOutputSpec

    def _run_interface(self, runtime):
        import numpy as np

        from tasks.svd.anatomy import bounding_box
        from tasks.svd.qc import svd_reportlets

        brain, affine = load_nifti(self.inputs.brain_mask)
        brain = np.asarray(brain) > 0
        box = bounding_box(brain, 2)
        images = {_KEY[m]: np.asarray(load_nifti(p)[0], np.float32)[box] for m in MODALITIES
                  if (p := _opt(getattr(self.inputs, m))) is not None}
        names = {"ventricles": "ventricle_mask", "wmh": "wmh_mask",
                 "microbleeds": "microbleed_mask", "lacunes": "lacune_mask", "pvs": "pvs_mask"}
        masks = {"brain": brain[box]}
        for key, trait in names.items():
            masks[key] = _opt_mask(getattr(self.inputs, trait), box)
        self._results["reportlets"] = svd_reportlets(
            images, affine, masks, runtime.cwd, _opt(self.inputs.measures))
        return runtime
