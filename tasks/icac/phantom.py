"""A synthetic head CT with known calcifications, for tests and quick benchmarks.

Not the project's simulator (``simulator``): a small, fast stand-in built from the same
MNI152 intracranial mask and artery atlas. Anatomy (HU): air -1000, scalp 40, skull 1000 (a
7 mm shell around the intracranial space, which also forms the skull base), brain 30, arterial
lumen 50, CSF 8 (two ellipsoidal lateral ventricles), and a 2.5 mm soft-tissue canal around
each artery where it runs through bone. Plaques
are wall deposits (an arc of the circumference, over a length of the vessel) rendered with
partial volume (3x3x3 sub-samples per voxel); Gaussian noise is added last.

The truth label map holds, for each voxel, the (1-based, ``calcisvd.measures.ARTERIES`` order)
label of the artery whose plaque makes the noise-free voxel reach >= 130 HU.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from calcisvd.measures import ARTERIES
from tasks.icac.atlas import CENTRELINES, Centreline

HU = {"air": -1000.0, "scalp": 40.0, "bone": 1000.0, "brain": 30.0, "blood": 50.0,
      "canal": 40.0, "csf": 8.0}
#: lateral ventricles: ellipsoids (centre, semi-axes; template RAS mm), about 32 mL of CSF
VENTRICLES = (((-12.0, -5.0, 15.0), (9.0, 30.0, 14.0)), ((12.0, -5.0, 15.0), (9.0, 30.0, 14.0)))


@dataclass(frozen=True)
class Plaque:
    """A wall deposit: where along the artery (0-1), length (mm), arc and centre angle (deg)."""

    artery: str
    side: str
    position: float
    length_mm: float
    arc_deg: float
    angle_deg: float = 0.0
    thickness_mm: float = 1.0
    hu: float = 600.0


@dataclass
class PhantomCT:
    """Rendered phantom: HU array, RAS affine, truth labels and the CT->MNI RAS matrix."""

    hu: NDArray[np.float32]
    affine: NDArray
    truth_labels: NDArray[np.uint8]
    ct_to_mni: NDArray
    plaques: list[Plaque] = field(default_factory=list)


def _frames(c: Centreline, step: float) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    pts = c.sample(step)
    t = np.gradient(pts, axis=0)
    t /= np.linalg.norm(t, axis=1, keepdims=True)
    ref = np.where(np.abs(t[:, 2:3]) > 0.9, np.array([[1.0, 0, 0]]), np.array([[0, 0, 1.0]]))
    u = np.cross(t, ref)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    v = np.cross(t, u)
    return pts, t, u, v


def render_phantom(plaques: list[Plaque] | tuple[Plaque, ...] = (),
                   spacing: tuple[float, float, float] = (2.0, 2.0, 2.0),
                   ct_to_mni: NDArray | None = None, noise_sd: float = 5.0,
                   z_range_mm: tuple[float, float] = (-90.0, 95.0), seed: int = 0,
                   supersample: int = 3) -> PhantomCT:
    """Render a head CT (see module doc). ``ct_to_mni`` maps CT RAS mm to template RAS mm."""
    from scipy import ndimage
    from scipy.spatial import cKDTree

    from tasks.icac.registration import template_intracranial

    rng = np.random.default_rng(seed)
    m = np.eye(4) if ct_to_mni is None else np.asarray(ct_to_mni, float)
    minv = np.linalg.inv(m)
    # grid covering the template head box in CT space
    box = np.array([[x, y, z] for x in (-85, 85) for y in (-120, 90) for z in z_range_mm], float)
    ct_box = box @ minv[:3, :3].T + minv[:3, 3]
    lo, hi = ct_box.min(0), ct_box.max(0)
    sp = np.asarray(spacing, float)
    shape = tuple(int(n) for n in np.ceil((hi - lo) / sp) + 1)
    affine = np.eye(4)
    affine[:3, :3] = np.diag(sp)
    affine[:3, 3] = lo

    tmask, taff = template_intracranial(2.0)
    tsp = float(taff[0, 0])
    d_out = ndimage.distance_transform_edt(~tmask, sampling=tsp)
    d_in = ndimage.distance_transform_edt(tmask, sampling=tsp)
    signed = np.where(tmask, -d_in, d_out).astype(np.float32)  # mm outside the ICV

    ii, jj, kk = np.meshgrid(*[np.arange(n, dtype=np.float32) for n in shape], indexing="ij")
    ct_xyz = np.stack([ii, jj, kk], -1).reshape(-1, 3) @ affine[:3, :3].T + affine[:3, 3]
    mni = ct_xyz @ m[:3, :3].T + m[:3, 3]
    tinv = np.linalg.inv(taff)
    tvox = mni @ tinv[:3, :3].T + tinv[:3, 3]
    dist = ndimage.map_coordinates(signed, tvox.T, order=1, cval=100.0).reshape(shape)
    hu = np.full(shape, HU["air"], np.float32)
    hu[dist <= 12.0] = HU["scalp"]
    hu[dist <= 7.0] = HU["bone"]
    hu[dist <= 0.0] = HU["brain"]
    for centre, axes in VENTRICLES:
        r2 = (((mni - np.asarray(centre)) / np.asarray(axes)) ** 2).sum(1).reshape(shape)
        hu[(r2 <= 1.0) & (dist <= -5.0)] = HU["csf"]
    inside_z = (mni[:, 2] >= z_range_mm[0]) & (mni[:, 2] <= z_range_mm[1])
    hu.reshape(-1)[~inside_z] = HU["air"]

    truth = np.zeros(shape, np.uint8)
    labels = {a: i + 1 for i, a in enumerate(ARTERIES)}
    n_sub = supersample
    offs = (np.arange(n_sub) + 0.5) / n_sub - 0.5
    sub = np.stack(np.meshgrid(offs, offs, offs, indexing="ij"), -1).reshape(-1, 3)
    sub_mm = sub * sp  # CT mm offsets (axis aligned grid)
    for c in CENTRELINES:
        pts, _t, u, v = _frames(c, 0.25)
        tree = cKDTree(pts)
        reach = c.radius_mm + 4.0
        near = tree.query_ball_point(mni, r=reach + float(sp.max()), return_length=True) > 0
        idx = np.flatnonzero(near)
        if idx.size == 0:
            continue
        sub_ct = ct_xyz[idx][:, None, :] + sub_mm[None]
        sub_mni = sub_ct @ m[:3, :3].T + m[:3, 3]
        d, nn = tree.query(sub_mni.reshape(-1, 3))
        d = d.reshape(len(idx), -1)
        nn = nn.reshape(len(idx), -1)
        rel = sub_mni - pts[nn]
        ang = np.degrees(np.arctan2(np.einsum("nsk,nsk->ns", rel, v[nn]),
                                    np.einsum("nsk,nsk->ns", rel, u[nn])))
        base = hu.reshape(-1)[idx].copy()
        canal = (d <= c.radius_mm + 2.5) & (base[:, None] >= HU["bone"])
        vals = np.where(canal, HU["canal"], base[:, None])
        vals = np.where(d <= c.radius_mm, HU["blood"], vals)
        calc = np.zeros_like(d, bool)
        s_along = nn * 0.25
        total = len(pts) * 0.25
        for p in plaques:
            if (p.artery, p.side) != (c.artery, c.side):
                continue
            s0 = p.position * total
            da = (ang - p.angle_deg + 180.0) % 360.0 - 180.0
            sel = ((np.abs(s_along - s0) <= p.length_mm / 2) & (np.abs(da) <= p.arc_deg / 2)
                   & (d >= c.radius_mm - 0.3) & (d <= c.radius_mm + p.thickness_mm))
            vals = np.where(sel, p.hu, vals)
            calc |= sel
        mean = vals.mean(axis=1)
        touched = (vals != base[:, None]).any(axis=1)
        flat = hu.reshape(-1)
        flat[idx[touched]] = mean[touched]
        is_calc = calc.any(axis=1) & (mean >= 130.0)
        truth.reshape(-1)[idx[is_calc]] = labels[(c.artery, c.side)]
    hu = hu + rng.normal(0.0, noise_sd, shape).astype(np.float32)
    return PhantomCT(hu=hu.astype(np.float32), affine=affine, truth_labels=truth,
                     ct_to_mni=m, plaques=list(plaques))


def random_affine(seed: int, max_rot_deg: float = 8.0, max_scale: float = 0.06,
                  max_shift_mm: float = 10.0) -> NDArray:
    """A random CT->MNI RAS matrix: small rotations, scales and shifts (for test subjects)."""
    rng = np.random.default_rng(seed)
    ax, ay, az = np.radians(rng.uniform(-max_rot_deg, max_rot_deg, 3))
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    s = np.diag(1.0 + rng.uniform(-max_scale, max_scale, 3))
    out = np.eye(4)
    out[:3, :3] = rz @ ry @ rx @ s
    out[:3, 3] = rng.uniform(-max_shift_mm, max_shift_mm, 3)
    return out
