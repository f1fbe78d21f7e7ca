"""Acquisition protocols: how a rendered head is turned into what a scanner exports.

``paper`` (the default) is today's behaviour: isotropic voxels at the requested resolution,
all four MR contrasts, 120 kVp CT with a soft kernel. Other protocols post-process the
isotropic rendering (see docs/simulator.md for the sources of every range):

MRI
* ``clinical2d``: 2-D thick slices: in-plane 0.4-1.0 mm, slice thickness 4-8 mm with a gap of
  0-30 % of it (routine clinical FLAIR/T1 SE; Wardlaw JM et al., Lancet Neurol 2013, STRIVE,
  recommend <= 5 mm, clinical practice reaches 6-8 mm); FLAIR + T1w only; graded lesions;
  a 5 mm gantry-tilted CT.
* ``clinical2d_flair_stripped``: as ``clinical2d``, FLAIR only, skull-stripped export.
* ``stripped3d``: 3-D 1 mm, T1w + T2w + FLAIR, skull-stripped (0 outside each contrast's own
  brain mask), graded lesions: a research export such as the public MS lesion sets;
  ``stripped3d_flair``: the same, FLAIR only.
* ``paper_graded``: the paper's 3-D 1 mm geometry with the realistic lesion contrast below.
  Graded protocols: WMH 2.5-8 SD of normal-appearing white matter above it (a smooth field
  over the lesion), borders blurred over 1-1.5 mm, weak GM/WM FLAIR contrast (GM 1.04-1.12 x
  WM), vendor intensity scaling (x 0.3-4, offset 0) and a stronger bias field (+-25 %).
CT
* ``ct_2.5mm``, ``ct_5mm``: slice thickness 2.5 / 5 mm (slab average, noise / sqrt(slab));
  ``ct_bone``: bone (sharp) kernel, noise 3x; ``ct_100kvp``, ``ct_140kvp``: calcium and bone
  HU scaled x 1.15 / x 0.90 relative to 120 kVp; ``ct_tilt``: gantry tilt 12-25 deg
  (orbitomeatal-line scanning to spare the lenses); ``ct_clinical``: 5 mm slices with a tilt.
  Every CT protocol except ``paper`` adds beam-hardening streaks between the petrous bones.

Gantry tilt geometry (as scanners write it): the slice plane is tilted about the left-right
axis (``ImageOrientationPatient`` column direction ``(0, cos t, -sin t)`` in LPS, down towards
posterior), successive ``ImagePositionPatient`` advance along the table (z) only, by
``thickness / cos t``, so the volume is sheared; ``GantryDetectorTilt`` = t. A tilted
protocol covers the whole head, skull base to vertex, along the tilted slice normal (a routine
head CT is planned on the scout from below the skull base to above the vertex), and its first
and last slices are the first and last that cut the head, plus one slice of air
(:func:`trim_to_head`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage as ndi


@dataclass(frozen=True)
class Protocol:
    """One acquisition protocol (``None`` = as rendered)."""

    name: str
    mr_in_plane_mm: tuple[float, float] | None = None  # drawn per session
    mr_slice_mm: tuple[float, float] | None = None
    mr_gap_frac: tuple[float, float] = (0.0, 0.0)
    contrasts: tuple[str, ...] = ("T1w", "T2w", "FLAIR", "T2starw")
    skull_stripped: bool = False
    graded_lesions: bool = False
    ct_slice_mm: float | None = None
    ct_kernel: str = "soft"
    kvp: float = 120.0
    beam_hardening: bool = False
    ct_tilt_deg: tuple[float, float] | None = None  # gantry tilt drawn per session
    #: CT from the skull base to the vertex (clinical head CT) rather than the paper's
    #: orbital-roof-to-foramen-magnum slab (``render.CT_Z_RANGE_MM``)
    ct_whole_head: bool = False


PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (
    Protocol("paper"),
    Protocol("paper_graded", graded_lesions=True),
    Protocol("clinical2d", mr_in_plane_mm=(0.4, 1.0), mr_slice_mm=(4.0, 8.0),
             mr_gap_frac=(0.0, 0.3), contrasts=("T1w", "FLAIR"), graded_lesions=True,
             ct_slice_mm=5.0, beam_hardening=True, ct_tilt_deg=(12.0, 25.0), ct_whole_head=True),
    Protocol("clinical2d_flair_stripped", mr_in_plane_mm=(0.4, 1.0), mr_slice_mm=(4.0, 8.0),
             mr_gap_frac=(0.0, 0.3), contrasts=("FLAIR",), skull_stripped=True,
             graded_lesions=True, ct_slice_mm=5.0, beam_hardening=True),
    # research exports such as public MS lesion sets: 3-D 1 mm, skull-stripped, realistic
    # lesion contrast, with T1w/T2w or FLAIR alone (the real cases in ../shared/realdata)
    Protocol("stripped3d", contrasts=("T1w", "T2w", "FLAIR"), skull_stripped=True,
             graded_lesions=True),
    Protocol("stripped3d_flair", contrasts=("FLAIR",), skull_stripped=True,
             graded_lesions=True),
    Protocol("ct_2.5mm", ct_slice_mm=2.5, beam_hardening=True),
    Protocol("ct_5mm", ct_slice_mm=5.0, beam_hardening=True),
    Protocol("ct_bone", ct_kernel="bone", beam_hardening=True),
    Protocol("ct_100kvp", kvp=100.0, beam_hardening=True),
    Protocol("ct_140kvp", kvp=140.0, beam_hardening=True),
    Protocol("ct_tilt", ct_tilt_deg=(12.0, 25.0), beam_hardening=True, ct_whole_head=True),
    Protocol("ct_clinical", ct_slice_mm=5.0, beam_hardening=True, ct_tilt_deg=(12.0, 25.0),
             ct_whole_head=True),
)}

#: calcium/bone HU relative to 120 kVp (hydroxyapatite attenuation rises at low kVp; the
#: ~15 % per 20 kV is an approximate figure for head CT, see docs/simulator.md)
KVP_FACTOR = {100.0: 1.15, 120.0: 1.0, 140.0: 0.90}
#: CT noise (HU SD) per kernel at the rendered slice; sharpness as a Gaussian PSF (mm)
KERNEL = {"soft": (4.0, 0.6), "bone": (12.0, 0.0)}


def get(name: str) -> Protocol:
    """A protocol by name; a clear error listing the known ones."""
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ValueError(f"unknown protocol {name!r}; known: {', '.join(PROTOCOLS)}") from None


def kvp_factor(kvp: float) -> float:
    """HU scale of calcium and bone at ``kvp`` relative to 120 kVp (linear between points)."""
    k = sorted(KVP_FACTOR)
    return float(np.interp(kvp, k, [KVP_FACTOR[v] for v in k]))


def thick_slices(arr: NDArray, affine: NDArray, slice_mm: float, gap_mm: float,
                 in_plane_mm: float | None = None, order: int = 1,
                 reduce: str = "mean") -> tuple[NDArray, NDArray]:
    """Axial thick slices of an isotropic volume: slab average (or max) over ``slice_mm``,
    one slab every ``slice_mm + gap_mm``, resampled in plane to ``in_plane_mm``.

    Returns the array and its affine (voxel k = slab centre)."""
    sp = float(affine[2, 2])
    n = max(1, int(round(slice_mm / sp)))
    step = (slice_mm + gap_mm) / sp
    starts = np.arange(0, arr.shape[2] - n + 1e-9, step).astype(int)
    f = np.max if reduce == "max" else np.mean
    out = np.stack([f(arr[:, :, s:s + n], axis=2) for s in starts], axis=2)
    aff = affine.copy()
    aff[2, 2] = step * sp
    aff[2, 3] = affine[2, 3] + (n - 1) / 2 * sp
    if in_plane_mm is not None and abs(in_plane_mm - affine[0, 0]) > 1e-3:
        z = affine[0, 0] / in_plane_mm
        shape = (int(round(out.shape[0] * z)), int(round(out.shape[1] * z)))
        out = ndi.zoom(out, (shape[0] / out.shape[0], shape[1] / out.shape[1], 1),
                       order=order, grid_mode=True, mode="nearest")
        aff[0, 0] = aff[1, 1] = in_plane_mm
        # grid_mode zoom keeps the image extent: move the first centre by half a voxel change
        aff[0, 3] += (in_plane_mm - affine[0, 0]) / 2
        aff[1, 3] += (in_plane_mm - affine[1, 1]) / 2
    return out.astype(arr.dtype), aff


def beam_hardening(shape: tuple[int, ...], affine: NDArray, left: NDArray, right: NDArray,
                   rng: np.random.Generator) -> NDArray:
    """Additive HU of dark streaks between the petrous bones (world points ``left``/``right``).

    A band (Gaussian profile, 2-4 mm half-width) along the line joining the two petrous
    apices, -20 to -50 HU at its centre, fading over +-10 mm in z: the classic "Hounsfield
    bar" artefact of head CT (Barrett JF, Keat N, RadioGraphics 2004)."""
    idx = np.indices(shape, dtype=np.float32)
    pts = [affine[i, i] * idx[i] + affine[i, 3] for i in range(3)]
    a, b = np.asarray(left, float), np.asarray(right, float)
    d = b - a
    d[2] = 0.0
    L = np.linalg.norm(d) + 1e-6
    u = d / L
    rel = [pts[i] - a[i] for i in range(3)]
    along = rel[0] * u[0] + rel[1] * u[1]
    perp = np.sqrt(np.maximum(rel[0] ** 2 + rel[1] ** 2 - along ** 2, 0))
    zc = (a[2] + b[2]) / 2
    w = float(rng.uniform(2.0, 4.0))
    depth = float(rng.uniform(20.0, 50.0))
    inside = np.clip(np.minimum(along, L - along) / 5.0, 0, 1)
    out = -depth * np.exp(-0.5 * (perp / w) ** 2) * np.exp(-0.5 * ((pts[2] - zc) / 10.0) ** 2)
    return (out * inside).astype(np.float32)


def tilted_grid(affine: NDArray, shape: tuple[int, ...], tilt_deg: float
                ) -> tuple[NDArray, tuple[int, int, int]]:
    """A sheared grid covering an axis-aligned one: in-plane rows tilted by ``tilt_deg``
    about x (down towards posterior), slices stacked along z every ``dz / cos t``."""
    t = np.radians(tilt_deg)
    dx, dy, dz = (float(affine[i, i]) for i in range(3))
    lo = affine[:3, 3]
    ext = np.array([(n - 1) * d for n, d in zip(shape, (dx, dy, dz), strict=True)])
    ny = int(np.ceil(ext[1] / (dy * np.cos(t)))) + 1
    # RAS: rows run anterior -> posterior is -y; a row step goes -y and -z (down posteriorly)
    a = np.eye(4)
    a[:3, 0] = (dx, 0, 0)
    a[:3, 1] = (0, dy * np.cos(t), dy * np.sin(t))
    step = dz / np.cos(t)
    a[:3, 2] = (0, 0, step)
    rise = (ny - 1) * dy * np.sin(t)
    a[:3, 3] = (lo[0], lo[1], lo[2] - rise)
    nz = int(np.ceil((ext[2] + rise) / step)) + 1
    return a, (shape[0], ny, nz)


def trim_to_head(arr: NDArray, affine: NDArray, head: NDArray[np.bool_], margin: int = 1
                 ) -> tuple[slice, NDArray]:
    """The slices (last axis) from the first to the last that cut ``head``, plus ``margin``
    slices either side, and the affine of the first kept slice: a scan planned to the head."""
    ks = np.flatnonzero(head.any(axis=(0, 1)))
    if not len(ks):
        return slice(0, arr.shape[2]), affine
    lo, hi = max(0, int(ks[0]) - margin), min(arr.shape[2], int(ks[-1]) + 1 + margin)
    aff = affine.copy()
    aff[:3, 3] = affine[:3, :3] @ np.array([0.0, 0.0, lo]) + affine[:3, 3]
    return slice(lo, hi), aff
