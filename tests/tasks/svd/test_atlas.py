"""tasks.svd.atlas: the head drawn round the brain-only template, and what it is for: a
thick-slice head with its skull registers at the head's scale, not the scalp's."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from tasks.imaging.templates import mni152
from tasks.svd.atlas import HEAD_SHELL_MIN_Z_MM, SCALP_MM, SKULL_MM, head_template


def test_head_template_draws_skull_and_scalp_above_the_skull_base():
    tpl, tmask, taff = mni152(2)
    head = head_template(2)
    brain = tmask > 0.5
    out = ndimage.distance_transform_edt(~brain, sampling=[2.0] * 3)
    z = (np.arange(tpl.shape[2]) * taff[2, 2] + taff[2, 3])[None, None, :] + np.zeros(tpl.shape)
    deep = ndimage.distance_transform_edt(brain, sampling=[2.0] * 3) > 4.0
    bright = np.percentile(tpl[brain], 90)
    # the brain is the template's (up to the 1 mm smoothing)
    assert abs(float(head[deep].mean()) - float(tpl[deep].mean())) < 0.02 * bright
    above = z >= HEAD_SHELL_MIN_Z_MM + 4
    skull = (out > 1.0) & (out < SKULL_MM - 1.5) & above
    scalp = (out > SKULL_MM + 1.5) & (out < SCALP_MM - 1.5) & above
    assert float(head[skull].mean()) < 0.1 * bright  # dark
    assert float(head[scalp].mean()) > 0.7 * bright  # bright as fat
    assert float(head[(out > 4.0) & (z < HEAD_SHELL_MIN_Z_MM - 4)].max()) < 0.1 * bright
    assert float(head[out > SCALP_MM + 3.0].max()) < 0.1 * bright


def test_thick_slice_head_with_skull_registers_at_the_head_scale():
    """Simulator seed 2101, clinical 2-D protocol (FLAIR + T1w, 8.4 mm slices, skull on,
    rendered at 1 mm): the brain-only template was fitted to the head's outer edge, volume
    scale 1.13 for a true 0.74 and a 2.0 L brain mask; with the head round it 0.69 and
    1.2 L."""
    from simulator import render_session
    from tasks.svd.anatomy import brain_mask
    from tasks.svd.register import coregister
    from tasks.svd.steps import spacing_from_affine

    s = render_session(seed=2101, group="moderate", location="MCA", resolution_mm=1.0,
                       protocol="clinical2d")
    ref, aff, full = coregister({k: s.images[k] for k in ("T1w", "FLAIR")})
    true_scale = abs(np.linalg.det(np.asarray(s.truth["world_from_mni"][ref])[:3, :3]))
    sp = spacing_from_affine(aff)
    assert max(sp) > 4.0  # thick slices
    brain, _, info = brain_mask(full, sp, affine=aff)
    assert info is not None
    assert abs(info["scale"] / true_scale - 1.0) < 0.2, (info["scale"], true_scale)
    assert brain.sum() * float(np.prod(sp)) / 1000.0 < 1500.0
