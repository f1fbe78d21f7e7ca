"""Rigid coregistration and QC reportlets."""

from __future__ import annotations

import numpy as np

from tasks.svd.qc import svd_reportlets
from tasks.svd.register import choose_reference, coregister


def test_reference_choice():
    assert choose_reference(["T1w", "T2w", "FLAIR"]) == "FLAIR"
    assert choose_reference(["T1w", "T2w"]) == "T2w"
    assert choose_reference(["T2starw", "T1w"]) == "T1w"


def test_rigid_registration_recovers_a_shift(phantom2):
    flair, aff = phantom2.images["FLAIR"]
    t2, _ = phantom2.images["T2w"]
    moved_aff = aff.copy()
    moved_aff[:3, 3] += [5.0, -3.0, 4.0]  # header says the T2w sits 5/-3/4 mm away
    _, _, world = coregister({"FLAIR": (flair, aff), "T2w": (t2, moved_aff)}, register=False)
    _, _, reg = coregister({"FLAIR": (flair, aff), "T2w": (t2, moved_aff)}, register=True)
    brain = phantom2.truth["brain"]

    def err(a):
        return float(np.abs(a[brain] - t2[brain]).mean())

    assert err(reg["T2w"]) < 0.5 * err(world["T2w"])


def test_reportlets_written(tmp_path, sim_session, sim_result):
    files = svd_reportlets(sim_result.images, sim_result.affine, sim_result.masks, tmp_path,
                           sim_result.measures)
    assert len(files) == 3
    for f in files:
        with open(f, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
