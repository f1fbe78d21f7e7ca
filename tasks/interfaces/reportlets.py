"""Nipype interfaces writing the SVG reportlets (thin adapters over :mod:`tasks.qc.reportlets`).

``MRIReportletsSVG``: ``brainmask`` (brain mask and ventricle contours), ``lesions`` (WMH,
microbleed, lacune and PVS fills) and ``registration`` (MNI152 brain outline before/after the
atlas registration). ``CTReportletsSVG``: ``ctcalcium`` (intracranial contour, calcium fills)
and ``ctregistration`` (MNI152 intracranial outline before/after the CT registration). Output
file names are ``desc-<name>_reportlet.svg``; the runner keys them by ``<name>``.
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

from tasks.imaging.io import load_nifti
from tasks.interfaces.svd import _opt

#: mask -> (legend label, colour); lesions as fills, anatomy as contours
CONTOURS = {"brain_mask": ("brain mask", "#ff3030"), "ventricle_mask": ("ventricles", "#3080ff")}
FILLS = {"wmh_mask": ("WMH", "#ffd400"), "microbleed_mask": ("microbleeds", "#ff20ff"),
         "lacune_mask": ("lacunes", "#00e5ff"), "pvs_mask": ("PVS", "#7cff4f")}
#: CT display window, HU (brain, bone and calcium all visible; as tasks/icac/qc.py)
CT_WINDOW_HU = (-50.0, 400.0)


def _write(cwd: str, name: str, svg: str) -> str:
    path = os.path.join(cwd, f"desc-{name}_reportlet.svg")
    Path(path).write_text(svg)
    return os.path.abspath(path)


class _MRIInputSpec(BaseInterfaceInputSpec):
    t1w = File(exists=True, desc="coregistered T1w (reference grid)")
    t2w = File(exists=True)
    flair = File(exists=True)
    t2starw = File(exists=True)
    brain_mask = File(exists=True, mandatory=True)
    ventricle_mask = File(exists=True)
    wmh_mask = File(exists=True)
    microbleed_mask = File(exists=True)
    lacune_mask = File(exists=True)
    pvs_mask = File(exists=True)
    template_transform = File(exists=True, desc="JSON: subject RAS -> MNI152 RAS 4x4")


class _OutputSpec(TraitedSpec):
    out_reports = traits.List(File(exists=True), desc="SVG reportlets")


class MRIReportletsSVG(SimpleInterface):
    """SVG reportlets of the MRI session (see module doc)."""

    input_spec = _MRIInputSpec
    output_spec = _OutputSpec

    def _run_interface(self, runtime):
        import numpy as np

        from tasks.qc.reportlets import mosaic_svg, registration_svg, template_on_grid

        brain, affine = load_nifti(self.inputs.brain_mask)
        brain = np.asarray(brain) > 0
        imgs = {m: np.asarray(load_nifti(p)[0], np.float32)
                for m in ("t1w", "flair", "t2w", "t2starw")
                if (p := _opt(getattr(self.inputs, m))) is not None}
        masks = {k: np.asarray(load_nifti(p)[0]) > 0 for k in (*CONTOURS, *FILLS)
                 if (p := _opt(getattr(self.inputs, k))) is not None}
        anat = next(iter(imgs))  # T1w first: closest to the T1 template
        out = [_write(runtime.cwd, "brainmask", mosaic_svg(
            imgs[anat], affine, frame=brain, title=f"{anat.upper()}: brain mask and ventricles",
            contours={lab: (masks[k], c) for k, (lab, c) in CONTOURS.items() if k in masks}))]
        fills = {lab: (masks[k], c) for k, (lab, c) in FILLS.items() if k in masks}
        if fills:
            base = next(m for m in ("flair", "t2w", "t1w", "t2starw") if m in imgs)
            out.append(_write(runtime.cwd, "lesions", mosaic_svg(
                imgs[base], affine, frame=brain, fills=fills,
                title=f"{base.upper()}: " + ", ".join(fills))))
        if (tx := _opt(self.inputs.template_transform)) is not None:
            from tasks.imaging.templates import mni152

            _, tmask, taff = mni152(2)
            mat = np.asarray(json.loads(Path(tx).read_text())["subject_to_template"])
            before = template_on_grid(tmask, taff, brain.shape, affine)
            after = template_on_grid(tmask, taff, brain.shape, affine, mat)
            # no overlap number: the session's brain mask is this registered template itself
            # (a Dice with it says nothing), and the intensity mask holds scalp on some heads
            out.append(_write(runtime.cwd, "registration", registration_svg(
                imgs[anat], affine, brain, before, after, dice_label=False,
                title=f"MNI152 brain outline on {anat.upper()}: the brain mask is this "
                      "registered outline trimmed by 2 mm")))
        self._results["out_reports"] = out
        return runtime


class _CTInputSpec(BaseInterfaceInputSpec):
    ct_file = File(exists=True, mandatory=True, desc="head CT NIfTI in HU")
    intracranial_mask = File(exists=True, mandatory=True)
    calcium_dseg = File(exists=True, mandatory=True)
    transform = File(exists=True, desc="JSON from RegisterCTToTemplate")


class CTReportletsSVG(SimpleInterface):
    """SVG reportlets of the CT session (see module doc)."""

    input_spec = _CTInputSpec
    output_spec = _OutputSpec

    def _run_interface(self, runtime):
        import numpy as np

        from tasks.icac.ctio import load_ct
        from tasks.imaging.io import load_canonical
        from tasks.qc.reportlets import mosaic_svg, registration_svg, template_on_grid

        ct = load_ct(self.inputs.ct_file)
        ic = load_canonical(self.inputs.intracranial_mask)[0] > 0
        calcium = load_canonical(self.inputs.calcium_dseg)[0] > 0
        out = [_write(runtime.cwd, "ctcalcium", mosaic_svg(
            ct.hu, ct.affine, frame=ic, window=CT_WINDOW_HU,
            contours={"intracranial": (ic, "#ff3030")},
            fills={"calcium": (calcium, "#ffd400")} if calcium.any() else None,
            title=f"CT: calcium ({int(calcium.sum())} voxels) and intracranial space"))]
        if (tx := _opt(self.inputs.transform)) is not None:
            from tasks.icac.registration import template_intracranial

            tmask, taff = template_intracranial(2.0)
            mat = np.asarray(json.loads(Path(tx).read_text())["ct_to_template"])
            before = template_on_grid(tmask.astype(np.float32), taff, ic.shape, ct.affine)
            after = template_on_grid(tmask.astype(np.float32), taff, ic.shape, ct.affine, mat)
            out.append(_write(runtime.cwd, "ctregistration", registration_svg(
                ct.hu, ct.affine, ic, before, after, window=CT_WINDOW_HU,
                title="MNI152 intracranial outline on the CT (Dice with the CT's)")))
        self._results["out_reports"] = out
        return runtime
