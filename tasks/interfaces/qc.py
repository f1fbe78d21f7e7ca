"""Nipype interfaces of the image-quality metrics (thin adapters over :mod:`tasks.qc.iqm`)."""

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

from tasks.imaging.io import load_nifti
from tasks.interfaces.svd import _KEY, MODALITIES, _limit_threads, _opt


class _MRIQMInputSpec(BaseInterfaceInputSpec):
    t1w = File(exists=True, desc="coregistered T1w (reference grid)")
    t2w = File(exists=True)
    flair = File(exists=True)
    t2starw = File(exists=True)
    brain_mask = File(exists=True, mandatory=True)
    tissue_dseg = File(exists=True, mandatory=True, desc="0 background, 1 CSF, 2 GM, 3 WM")
    bias_field = traits.Bool(True, usedefault=True, desc="fit an N4 field per contrast")
    num_threads = traits.Int(1, usedefault=True, desc="SimpleITK threads")


class _IQMOutputSpec(TraitedSpec):
    iqms_json = File(exists=True, desc="JSON of the image-quality metrics")


class MRIQualityMetrics(SimpleInterface):
    """MRIQC-style IQMs of every MR contrast (:func:`tasks.qc.iqm.mr_session_iqms`)."""

    input_spec = _MRIQMInputSpec
    output_spec = _IQMOutputSpec

    def _run_interface(self, runtime):
        import numpy as np

        from tasks.imaging.space import spacing_from_affine
        from tasks.qc.iqm import mr_session_iqms

        _limit_threads(self.inputs.num_threads)
        brain, affine = load_nifti(self.inputs.brain_mask)
        brain = np.asarray(brain) > 0
        tissue = np.asarray(load_nifti(self.inputs.tissue_dseg)[0])
        images = {_KEY[m]: np.asarray(load_nifti(p)[0], np.float32) for m in MODALITIES
                  if (p := _opt(getattr(self.inputs, m))) is not None}
        fields = None
        if self.inputs.bias_field and brain.any():
            from tasks.svd.bias import bias_correct

            spacing = spacing_from_affine(affine)
            fields = {}
            for name, img in images.items():
                corrected = bias_correct(np.maximum(img, 0), brain, spacing)
                fields[name] = np.where(brain, img / np.maximum(corrected, 1e-3), 1.0)
        out = Path(runtime.cwd, "iqms.json")
        out.write_text(json.dumps(mr_session_iqms(images, brain, tissue, fields), indent=1))
        self._results["iqms_json"] = str(out)
        return runtime


class _CTIQMInputSpec(BaseInterfaceInputSpec):
    ct_file = File(exists=True, mandatory=True, desc="head CT NIfTI in HU")
    intracranial_mask = File(exists=True, mandatory=True, desc="intracranial mask of the CT")


class CTQualityMetrics(SimpleInterface):
    """CT noise and HU calibration (:func:`tasks.qc.iqm.ct_session_iqms`)."""

    input_spec = _CTIQMInputSpec
    output_spec = _IQMOutputSpec

    def _run_interface(self, runtime):
        from tasks.icac.ctio import load_ct
        from tasks.imaging.io import load_canonical
        from tasks.qc.iqm import ct_session_iqms

        ct = load_ct(self.inputs.ct_file)
        iqms = ct_session_iqms(ct.hu, load_canonical(self.inputs.intracranial_mask)[0] > 0,
                               ct.spacing)
        out = os.path.join(runtime.cwd, "iqms.json")
        Path(out).write_text(json.dumps({"ct": iqms}, indent=1))
        self._results["iqms_json"] = out
        return runtime
