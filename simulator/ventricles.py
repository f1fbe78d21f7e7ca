"""The simulator's own ventricles: a parametric lateral/third ventricle shape, varied per subject.

Not derived from any template segmentation (the measurer builds its ventricle prior from the
MNI template's CSF; the simulator does not). Each lateral ventricle is swept along a C-shaped
path (frontal horn -> body -> atrium -> occipital horn, with the temporal horn branching down
and forward from the atrium); its cross-section is an axis-aligned ellipse whose half-width
and half-height are given per control point. The third ventricle is a thin midline slab.
Dimensions follow adult anatomy in MNI-like head coordinates: positions and widths were
read off the extent of the dark central CSF of the MNI152 2009 T1 template per 6 mm coronal
slab (frontal horn tips near y = +27 mm, bodies 4-14 mm from the midline at z ~ 22 mm, atria
near y = -40 mm), widths then set by hand; the temporal horns, which a central-box recipe
misses, are added. Total ~16 cm^3 at scale 1 before the atrophy dilation (Matsumae M et al.,
J Neurosurg 1996 report 20-40 cm^3 at 65-75 years, reached with atrophy and the scale).

Per subject: a size factor (``scale``, ~1 +- 0.12; "enlarged ventricles" 1.4-1.8 drawn by the
caller), left/right asymmetry (+-10%), and a smooth 1-2 mm shift of the path.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage as ndi

#: right lateral ventricle path: (x, y, z, half-width, half-height) in head mm
_LATERAL_R = ((10.0, 27.0, 5.0, 3.0, 4.0), (7.0, 20.0, 9.0, 3.5, 6.0),
              (6.5, 12.0, 11.0, 4.0, 8.0), (7.5, 2.0, 16.0, 4.0, 7.0),
              (9.0, -8.0, 22.0, 4.5, 5.0), (11.0, -18.0, 23.0, 4.5, 4.5),
              (13.0, -30.0, 17.0, 5.0, 7.0), (17.0, -40.0, 8.0, 5.5, 7.0),
              (19.0, -48.0, 5.0, 4.5, 5.0), (18.0, -56.0, 4.0, 3.0, 3.0))
_TEMPORAL_R = ((17.0, -40.0, 8.0, 4.0, 4.0), (26.0, -32.0, -4.0, 3.0, 3.0),
               (29.0, -22.0, -14.0, 2.5, 2.2), (27.0, -12.0, -20.0, 1.8, 1.8))
_THIRD = ((0.0, -2.0, 6.0, 1.6, 5.0), (0.0, -10.0, 2.0, 1.8, 6.0), (0.0, -20.0, -1.0, 1.6, 4.5))
#: distance reported beyond the crop around the ventricles (mm; lesion placement needs > 10)
FAR_MM = 60.0
MARGIN_MM = 32.0


def _path(ctrl: NDArray, step: float) -> NDArray:
    """Linear interpolation of rows (x, y, z, w, h) every ``step`` mm along the path."""
    out = [ctrl[:1]]
    for a, b in zip(ctrl[:-1], ctrl[1:], strict=True):
        n = max(1, int(np.ceil(np.linalg.norm(b[:3] - a[:3]) / step)))
        t = np.linspace(0, 1, n + 1)[1:, None]
        out.append(a + t * (b - a))
    return np.vstack(out)


def sample_paths(rng: np.random.Generator, scale: float) -> list[NDArray]:
    """Control rows of one subject's ventricles (shifted, sized, asymmetric)."""
    paths = []
    shift = rng.normal(0, 1.0, 3)
    for side in (1.0, -1.0):
        asym = float(np.clip(rng.normal(1.0, 0.05), 0.9, 1.1))
        for base in (_LATERAL_R, _TEMPORAL_R):
            c = np.asarray(base, float).copy()
            c[:, 0] *= side
            c[:, :3] += shift + rng.normal(0, 0.8, (len(c), 3))
            c[:, 3:] *= scale * asym
            # larger ventricles also spread laterally a little (the body's lateral wall moves)
            c[:, 0] += side * (scale * asym - 1.0) * c[:, 3] * 0.5
            paths.append(c)
    third = np.asarray(_THIRD, float).copy()
    third[:, :3] += shift
    third[:, 3] *= scale
    paths.append(third)
    return paths


def ventricle_mask(world: NDArray, spacing: float, paths: list[NDArray]) -> NDArray:
    """Boolean ventricle mask on a grid given its world coordinates (3, *shape)."""
    shape = world.shape[1:]
    lo = world[:, 0, 0, 0]
    mask = np.zeros(shape, bool)
    for c in paths:
        for x, y, z, w, h in _path(c, spacing / 2):
            rr = np.array([w, max(w, h), h])
            i0 = np.maximum(np.floor((np.array([x, y, z]) - rr - lo) / spacing).astype(int), 0)
            i1 = np.minimum(np.ceil((np.array([x, y, z]) + rr - lo) / spacing).astype(int) + 1,
                            shape)
            if np.any(i1 <= i0):
                continue
            sl = tuple(slice(int(a), int(b)) for a, b in zip(i0, i1, strict=True))
            q = ((world[0][sl] - x) / rr[0]) ** 2 + ((world[1][sl] - y) / rr[1]) ** 2 \
                + ((world[2][sl] - z) / rr[2]) ** 2
            mask[sl] |= q <= 1.0
    return mask


def ventricle_signed_distance(world: NDArray, spacing: float, rng: np.random.Generator,
                              scale: float = 1.0) -> NDArray:
    """Signed distance (mm, < 0 inside) to one subject's ventricle wall on a grid.

    Computed exactly within ``MARGIN_MM`` of the ventricles; ``FAR_MM`` beyond.
    """
    paths = sample_paths(rng, scale)
    mask = ventricle_mask(world, spacing, paths)
    out = np.full(mask.shape, FAR_MM, np.float32)
    idx = np.argwhere(mask)
    if not len(idx):
        return out
    m = int(np.ceil(MARGIN_MM / spacing))
    i0 = np.maximum(idx.min(0) - m, 0)
    i1 = np.minimum(idx.max(0) + m + 1, mask.shape)
    sl = tuple(slice(int(a), int(b)) for a, b in zip(i0, i1, strict=True))
    sub = mask[sl]
    d_out = ndi.distance_transform_edt(~sub) * spacing
    d_in = ndi.distance_transform_edt(sub) * spacing
    out[sl] = np.minimum(np.where(sub, -d_in, d_out), FAR_MM).astype(np.float32)
    return out
