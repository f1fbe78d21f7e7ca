"""Sanity checks of a head CT, and its skull and intracranial masks (numpy/scipy).

Rules (absolute HU, no fitting to any data set):

* **bone**: voxels >= ``BONE_HU`` (300 HU; cortical bone is 700-3000 HU, trabecular bone and
  the partial-volume rim of the skull 300-700 HU). The **skull** is the union of bone connected
  components of at least ``SKULL_MIN_CM3`` (5 cm^3): the calvaria and skull base form one large
  component, while arterial calcifications are well below 1 cm^3.
* **intracranial space**: in each axial slice, the area enclosed by the (closed) skull ring,
  minus the skull itself and air (< -100 HU), restricted to its largest 3-D connected component.
  Because it excludes all skull voxels it excludes the skull base; the petrous and cavernous
  internal carotid, which run in bone canals, are handled by the artery regions instead
  (see :mod:`tasks.icac.calcium`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

BONE_HU = 300.0
SKULL_MIN_CM3 = 5.0
AIR_HU = -100.0
MIN_INTRACRANIAL_CM3 = 50.0
MIN_EXTENT_MM = 40.0
MIN_VOXELS_PER_AXIS = 8


class DegenerateImageError(ValueError):
    """The image cannot be a head CT in HU; the message says why."""


def check_ct(hu: NDArray, spacing: tuple[float, ...]) -> None:
    """Raise :class:`DegenerateImageError` unless ``hu`` looks like a head CT in HU.

    Checks: 3-D; at least ``MIN_VOXELS_PER_AXIS`` voxels and ``MIN_EXTENT_MM`` mm per axis;
    finite values; not constant; HU-like (some air below -500 HU and some bone above 300 HU,
    the 1st percentile below 0 HU).
    """
    if hu.ndim != 3:
        raise DegenerateImageError(f"expected a 3-D image, got {hu.ndim} dimensions")
    if min(hu.shape) < MIN_VOXELS_PER_AXIS:
        raise DegenerateImageError(f"image too small: shape {tuple(hu.shape)}")
    extent = [n * float(s) for n, s in zip(hu.shape, spacing, strict=False)]
    if min(extent) < MIN_EXTENT_MM:
        raise DegenerateImageError(
            f"field of view too small: {', '.join(f'{e:.0f}' for e in extent)} mm")
    if not np.isfinite(hu).all():
        raise DegenerateImageError("image contains NaN or infinite values")
    lo, hi = float(hu.min()), float(hu.max())
    if hi - lo <= 1e-6 * max(1.0, abs(hi)):
        raise DegenerateImageError(f"constant image (all values {lo:g})")
    sub = hu[::2, ::2, ::2]
    p1 = float(np.percentile(sub, 1))
    if p1 >= 0.0 or lo > -500.0:
        raise DegenerateImageError(
            f"not HU-like: no air (minimum {lo:.0f}, 1st percentile {p1:.0f}; expected < -500)")
    if hi < BONE_HU:
        raise DegenerateImageError(f"not HU-like: no bone (maximum {hi:.0f} < {BONE_HU:.0f} HU)")


def _ball(radius_mm: float, spacing: tuple[float, ...]) -> NDArray[np.bool_]:
    r = [max(1, int(round(radius_mm / float(s)))) for s in spacing[:3]]
    g = np.ogrid[-r[0]:r[0] + 1, -r[1]:r[1] + 1, -r[2]:r[2] + 1]
    d2 = sum((gi * float(s)) ** 2 for gi, s in zip(g, spacing, strict=False))
    ball = d2 <= radius_mm ** 2 + 1e-6
    # always connect the 6 face neighbours
    ball[r[0], r[1], :] |= np.abs(np.arange(-r[2], r[2] + 1)) <= 1
    return ball


def _coarse_closing(mask: NDArray[np.bool_], spacing: tuple[float, ...],
                    radius_mm: float, coarse_mm: float = 2.0) -> NDArray[np.bool_]:
    """Binary closing with a ball of ``radius_mm``, done on a grid of about ``coarse_mm``.

    The mask is reduced by "any" over blocks, closed, and expanded back (nearest), which is
    slightly generous but an order of magnitude faster than closing at 0.5-1 mm.
    """
    from scipy import ndimage

    f = [max(1, int(coarse_mm // float(s))) for s in spacing[:3]]
    shape = [-(-n // k) for n, k in zip(mask.shape, f, strict=True)]
    padded = np.zeros([n * k for n, k in zip(shape, f, strict=True)], bool)
    padded[:mask.shape[0], :mask.shape[1], :mask.shape[2]] = mask
    coarse = padded.reshape(shape[0], f[0], shape[1], f[1], shape[2], f[2]).any((1, 3, 5))
    csp = tuple(float(s) * k for s, k in zip(spacing, f, strict=False))
    ball = _ball(radius_mm, csp)
    pad = max(ball.shape)
    closed = ndimage.binary_closing(np.pad(coarse, pad), structure=ball)[
        pad:-pad, pad:-pad, pad:-pad]
    for ax, k in enumerate(f):
        closed = np.repeat(closed, k, axis=ax)
    return closed[:mask.shape[0], :mask.shape[1], :mask.shape[2]]


def skull_mask(hu: NDArray, spacing: tuple[float, ...], bone_hu: float = BONE_HU,
               min_cm3: float = SKULL_MIN_CM3) -> NDArray[np.bool_]:
    """Bone (>= ``bone_hu``) components of at least ``min_cm3`` cm^3 (26-connectivity)."""
    from scipy import ndimage

    bone = hu >= bone_hu
    labels, n = ndimage.label(bone, structure=np.ones((3, 3, 3), bool))
    if n == 0:
        return bone
    sizes = np.bincount(labels.ravel())[1:] * float(np.prod(spacing)) / 1000.0
    keep = np.zeros(n + 1, bool)
    keep[1:] = sizes >= min_cm3
    return keep[labels]


def intracranial_mask(hu: NDArray, spacing: tuple[float, ...],
                      skull: NDArray[np.bool_] | None = None,
                      close_mm: float = 3.0) -> NDArray[np.bool_]:
    """Intracranial space: inside the closed skull ring of each axial slice (see module doc).

    Raises :class:`DegenerateImageError` when no intracranial space of at least
    ``MIN_INTRACRANIAL_CM3`` is found (no skull ring: not a head CT or a broken image).
    """
    from scipy import ndimage

    if skull is None:
        skull = skull_mask(hu, spacing)
    out = np.zeros(hu.shape, bool)
    if skull.any():
        # work inside the skull's bounding box (plus the closing margin)
        sl = ndimage.find_objects(skull.astype(np.uint8))[0]
        pad = [int(np.ceil(close_mm / float(s))) + 2 for s in spacing[:3]]
        sl = tuple(slice(max(0, s.start - p), min(n, s.stop + p))
                   for s, p, n in zip(sl, pad, hu.shape, strict=True))
        sk = skull[sl]
        closed = _coarse_closing(sk, spacing, close_mm) | sk
        filled = np.zeros_like(closed)
        for k in range(closed.shape[2]):
            if closed[:, :, k].any():
                filled[:, :, k] = ndimage.binary_fill_holes(closed[:, :, k])
        inside = filled & ~closed & (hu[sl] > AIR_HU)
        labels, n = ndimage.label(inside)
        if n:
            sizes = np.bincount(labels.ravel())
            sizes[0] = 0
            out[sl] = labels == int(np.argmax(sizes))
    vol_cm3 = out.sum() * float(np.prod(spacing)) / 1000.0
    if vol_cm3 < MIN_INTRACRANIAL_CM3:
        raise DegenerateImageError(
            f"no intracranial space found ({vol_cm3:.1f} cm^3 inside a skull ring; "
            f"expected >= {MIN_INTRACRANIAL_CM3:.0f} cm^3)")
    return out
