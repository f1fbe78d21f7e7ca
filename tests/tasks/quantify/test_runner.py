"""The runner: outputs collected through Nipype's public API; omp_nthreads and the plugin's
n_procs reach the nodes and do not change the measures."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest


def _double(x):
    return 2 * x


def test_run_workflow_returns_what_reached_the_outputnode(tmp_path: Path) -> None:
    from nipype.interfaces.utility import Function, IdentityInterface
    from nipype.pipeline import engine as pe

    from tasks.quantify.runner import run_workflow

    wf = pe.Workflow(name="tiny", base_dir=str(tmp_path))
    inputnode = pe.Node(IdentityInterface(fields=["x"]), name="inputnode")
    double = pe.Node(Function(input_names=["x"], output_names=["y"], function=_double),
                     name="double")
    outputnode = pe.Node(IdentityInterface(fields=["y", "never_set"]), name="outputnode")
    wf.connect([(inputnode, double, [("x", "x")]), (double, outputnode, [("y", "y")])])
    wf.inputs.inputnode.x = 21
    assert run_workflow(wf, "Linear", None) == {"y": 42}  # "never_set" is left out
    assert run_workflow(wf, "Linear", None) == {"y": 42}  # again (cached), same answer


@pytest.mark.slow
def test_threads_and_processes_reach_the_nodes_and_change_nothing(tmp_path: Path) -> None:
    from nipype.utils.filemanip import loadpkl

    from simulator import render_session
    from tasks.quantify.runner import measure_mri
    from tasks.quantify.sessions import Session

    s = render_session(seed=7, group="severe", location="MCA", resolution_mm=3.0)
    files = {}
    for key in ("T1w", "FLAIR", "T2starw"):
        arr, aff = s.images[key]
        files[key] = tmp_path / f"{key}.nii.gz"
        nib.save(nib.Nifti1Image(np.asarray(arr, np.float32), aff), files[key])
    ses = Session(subject="a", session="M00", files=files)
    runs = {}
    for name, plugin, args, threads in (("linear", "Linear", None, 1),
                                        ("multiproc", "MultiProc", {"n_procs": 2}, 2)):
        base = tmp_path / name
        svd, images, _ = measure_mri(ses, base, plugin, args, tmp_path / f"work_{name}",
                                     omp_nthreads=threads)
        anatomy = loadpkl(base / "mri_svd_wf" / "anatomy" / "result_anatomy.pklz")
        assert anatomy.inputs["num_threads"] == threads, name
        runs[name] = (svd, {k: np.asarray(nib.load(v).dataobj) for k, v in images.items()
                            if v})
    (a, ma), (b, mb) = runs["linear"], runs["multiproc"]
    assert a["status"] in ("ok", "review") and a["wmh_volume_cm3"] > 0
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert ma.keys() == mb.keys() and all(np.array_equal(ma[k], mb[k]) for k in ma)
