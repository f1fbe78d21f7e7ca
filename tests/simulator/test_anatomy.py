"""The simulator's anatomy: a head that continues into a neck (no air under the skull base)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def anatomy():
    from simulator.anatomy import build_anatomy

    return build_anatomy(2.0, 1.0, np.random.default_rng(3))


def _at(anat, x: float, y: float, z: float) -> tuple[int, int, int]:
    a = anat.affine
    return tuple(int(round((v - a[i, 3]) / a[i, i])) for i, v in enumerate((x, y, z)))


def test_neck_is_soft_tissue_around_the_cord(anatomy):
    from simulator.anatomy import CORD_Y_MM, NECK_HALF_MM

    a = anatomy
    total = a.gm + a.wm + a.csf + a.bone_table + a.bone_diploe + a.scalp
    assert total.max() <= 1.0 + 1e-5
    k = _at(a, 0, 0, -86.0)[2]  # below the template brain (it ends at z = -72)
    soft = a.scalp[:, :, k] > 0.5
    area_cm2 = soft.sum() * a.spacing**2 / 100.0
    ellipse_cm2 = np.pi * NECK_HALF_MM[0] * NECK_HALF_MM[1] / 100.0
    assert 0.9 * ellipse_cm2 < area_cm2 < 1.05 * ellipse_cm2
    assert a.gm[_at(a, 0, CORD_Y_MM, -86.0)] == 1.0  # the cord
    assert a.csf[_at(a, 6.0, CORD_Y_MM, -86.0)] == 1.0  # in its CSF
    # straight down from the medulla to the grid's end: never air
    i, j, _ = _at(a, 0, CORD_Y_MM, 0.0)
    assert (total[i, j, :_at(a, 0, 0, -70.0)[2]] > 0.99).all()
    assert not a.deep_gm[:, :, :k].any()


def test_rendered_ct_is_not_cut_at_the_bottom():
    """The measurer's cut check walks from the posterior fossa down through soft tissue; on a
    head without a neck it reached air and called such a CT "cut off at the bottom" (this
    seed did at 2 mm)."""
    from simulator import render_session
    from tasks.icac.ctqc import cut_ends
    from tasks.icac.headmask import intracranial_mask, skull_mask

    s = render_session(seed=9001, group="moderate", location="MCA", resolution_mm=2.0)
    hu, aff = s.images["ct"]
    sp = tuple(float(v) for v in np.linalg.norm(aff[:3, :3], axis=0))
    ic = intracranial_mask(hu, sp, skull_mask(hu, sp))
    assert "bottom" not in cut_ends(ic, aff, hu)
    assert (hu[:, :, 0] > 0).sum() * sp[0] * sp[1] / 100.0 > 60  # the first slice: neck
