"""Independent world-geometry check of a converted series against its DICOM headers.

dcm2niix's output is not trusted blindly (its gantry-tilt correction can give a volume whose
world geometry is wrong). For every converted DICOM series:

* **orientation**: the NIfTI's first two voxel axes (sform columns, RAS) must be parallel to
  the DICOM row and column directions (ImageOrientationPatient, LPS -> RAS) within
  :data:`MAX_ANGLE_DEG`;
* **slice positions**: every ImagePositionPatient (the centre of the first pixel of each
  slice) mapped through the inverse sform must land on a corner voxel of one slice: the same
  in-plane corner for every slice (within :data:`MAX_VOXEL_ERROR` voxel), and slice indices
  0..n-1, each once. This compares the affine's slice positions along the slice normal with
  the DICOM's, and the in-plane origin too.

A gantry-tilted series (slice positions stepping off the slice normal by more than
:data:`TILT_MIN_DEG`) cannot be a plain voxel grid: its uncorrected stack is checked with the
in-plane shear allowed, its true sheared affine is built from the DICOM positions, and it is
resampled here to an orthogonal grid laid through the acquired slices (an in-plane spline
shift per slice, :func:`resample_sheared`); the sidecar says so and records the tilt as
``GantryDetectorTilt`` (degrees) when dcm2niix did not.

Tolerances: 0.5 degree and 0.1 voxel are well below anything a measurement would notice
(1 mm CT slices: 0.1 mm) and well above the float32 rounding of a NIfTI sform.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

MAX_ANGLE_DEG = 0.5
MAX_VOXEL_ERROR = 0.1
TILT_MIN_DEG = 0.1
#: ``GeometryCheck`` of a tilted series whose geometry calcisvd rebuilt from the DICOM slice
#: positions and resampled itself (read by the CT QC: such a tilt needs no review)
SHEARED_CHECK_PASSED = "passed as a sheared stack"
_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


@dataclass(frozen=True)
class DicomGeometry:
    """ImageOrientationPatient, the slice positions (sorted along the normal), pixel spacing."""

    orientation: tuple[float, ...]
    positions: tuple[tuple[float, ...], ...]
    rows: int
    columns: int

    @property
    def row_col_normal(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row, column and normal unit vectors in RAS."""
        o = np.asarray(self.orientation, dtype=float)
        r, c = _LPS_TO_RAS @ o[:3], _LPS_TO_RAS @ o[3:]
        r, c = r / np.linalg.norm(r), c / np.linalg.norm(c)
        n = np.cross(r, c)
        return r, c, n / np.linalg.norm(n)

    def ras_positions(self) -> np.ndarray:
        """Slice positions in RAS (mm), ordered along the normal."""
        p = np.asarray(self.positions, dtype=float) @ _LPS_TO_RAS.T
        _, _, n = self.row_col_normal
        return p[np.argsort(p @ n)]

    def tilt_deg(self) -> float:
        """Angle between the slice normal and the direction the slices step in (degrees)."""
        p = self.ras_positions()
        if len(p) < 2:
            return 0.0
        step = p[-1] - p[0]
        _, _, n = self.row_col_normal
        cos = abs(float(step @ n)) / max(float(np.linalg.norm(step)), 1e-9)
        return float(np.degrees(np.arccos(min(1.0, cos))))


def from_instances(insts) -> DicomGeometry | None:
    """The geometry of one stack of images, or ``None`` when it cannot be checked (one file,
    multi-frame, missing positions or several stacks such as echoes)."""
    if len(insts) < 2 or any(len(i.orientation) != 6 or len(i.position) != 3 for i in insts):
        return None
    if len({(i.echo, i.image_type) for i in insts}) > 1:
        return None
    return DicomGeometry(tuple(insts[0].orientation), tuple(tuple(i.position) for i in insts),
                         int(insts[0].rows or 0), int(insts[0].columns or 0))


def read_nifti_geometry(path) -> tuple[np.ndarray, tuple[int, int, int]]:
    """(sform 4x4, (nx, ny, nz)) of an uncompressed NIfTI-1 file, from its header bytes."""
    with open(path, "rb") as fh:
        hdr = fh.read(348)
    dims = struct.unpack("<8h", hdr[40:56])
    srow = struct.unpack("<12f", hdr[280:328])
    aff = np.eye(4)
    aff[:3, :] = np.asarray(srow, dtype=float).reshape(3, 4)
    return aff, (dims[1], dims[2], dims[3])


def check(affine: np.ndarray, shape: tuple[int, int, int], geom: DicomGeometry,
          allow_shear: bool = False) -> str | None:
    """Plain-words problem of ``affine`` against ``geom``, or ``None`` when it agrees."""
    r, c, n = geom.row_col_normal
    axes = affine[:3, :3]
    units = axes / np.linalg.norm(axes, axis=0)
    cos_min = np.cos(np.radians(MAX_ANGLE_DEG))
    for label, d in (("row", r), ("column", c)):
        if max(abs(units[:, 0] @ d), abs(units[:, 1] @ d)) < cos_min:
            return (f"orientation differs from ImageOrientationPatient: no in-plane image axis "
                    f"within {MAX_ANGLE_DEG} degree of the DICOM {label} direction")
    pos = geom.ras_positions()
    if len(pos) != shape[2]:
        return f"{len(pos)} DICOM slices but {shape[2]} slices in the image"
    inv = np.linalg.inv(affine)
    vox = (inv @ np.c_[pos, np.ones(len(pos))].T).T[:, :3]
    k = vox[:, 2]
    if allow_shear:  # the stack's slice axis is rebuilt from the DICOM: order matters only
        steps = np.diff(np.sort(k))
        if abs(np.sort(k)[0]) > 0.5 or (steps < 0.5).any() or (steps > 1.5).any():
            return "slice order of the stack differs from ImagePositionPatient"
        return None
    if np.abs(np.sort(k) - np.arange(shape[2])).max() > MAX_VOXEL_ERROR:
        return ("slice positions along the normal differ from ImagePositionPatient (largest "
                f"error {np.abs(np.sort(k) - np.arange(shape[2])).max():.2f} slice)")
    for axis in (0, 1):
        ends = np.array([0.0, shape[axis] - 1.0])
        end = ends[np.argmin(np.abs(ends - vox[0, axis]))]
        err = np.abs(vox[:, axis] - end).max()
        if err > MAX_VOXEL_ERROR:
            return (f"in-plane position differs from ImagePositionPatient by up to {err:.2f} "
                    "voxel (a sheared or shifted stack, e.g. gantry tilt)")
    return None


def sheared_affine(affine: np.ndarray, shape: tuple[int, int, int],
                   geom: DicomGeometry) -> np.ndarray:
    """The true voxel -> world affine of an uncorrected stack that passed
    ``check(..., allow_shear=True)``: slice axis and origin taken from the DICOM positions."""
    pos = geom.ras_positions()
    inv = np.linalg.inv(affine)
    vox = (inv @ np.c_[pos, np.ones(len(pos))].T).T[:, :3]
    order = np.argsort(vox[:, 2])
    pos, vox = pos[order], vox[order]
    out = affine.copy()
    out[:3, 2] = (pos[-1] - pos[0]) / max(shape[2] - 1, 1)
    # the in-plane voxel of each slice's first pixel is the same corner: keep it at the
    # DICOM position of slice 0
    corner = np.round(vox[0, :2])
    out[:3, 3] = pos[0] - out[:3, 0] * corner[0] - out[:3, 1] * corner[1]
    return out


#: spline order of the in-plane shift that undoes the shear (3: cubic B-spline). Linear
#: interpolation of a sub-voxel shift averages neighbouring voxels: a one-voxel calcium
#: deposit at a half-voxel shift loses half its HU and spreads over two voxels.
SHEAR_SPLINE_ORDER = 3


def sheared_check_note(tilt_deg: float) -> str:
    """The sidecar's ``GeometryCheck`` for a tilted stack rebuilt and resampled here."""
    return f"{SHEARED_CHECK_PASSED} (gantry tilt {tilt_deg:.2f} degrees)"


def resample_sheared(data: np.ndarray, sheared: np.ndarray, fill: float,
                     order: int = SHEAR_SPLINE_ORDER) -> tuple[np.ndarray, np.ndarray]:
    """Resample a sheared stack to an orthogonal grid covering it: (data, affine).

    The grid keeps the in-plane axes and spacing; its third axis is the slice normal with the
    spacing of the slices along it. Every acquired slice is a plane perpendicular to that
    normal, so the grid is laid through the slices themselves (its slice k *is* acquired slice
    k, and its in-plane lattice is slice 0's): undoing the shear is a sub-voxel in-plane shift
    of each slice, by a spline of ``order`` (``SHEAR_SPLINE_ORDER``), with no interpolation
    between slices (a thick slice is not averaged with its neighbours), clipped to the input's
    range (a spline rings at sharp edges). Voxels outside the acquired slab get ``fill`` (e.g.
    air, the image minimum).
    """
    from scipy.ndimage import affine_transform

    a0, a1 = sheared[:3, 0], sheared[:3, 1]
    n = np.cross(a0, a1)
    n /= np.linalg.norm(n)
    step = sheared[:3, 2]
    if step @ n < 0:
        n = -n
    dz = float(step @ n)
    nx, ny, nz = data.shape[:3]
    corners = np.array([[i, j, k, 1.0] for i in (0, nx - 1) for j in (0, ny - 1)
                        for k in (0, nz - 1)]) @ sheared.T
    target = np.eye(4)
    target[:3, 0], target[:3, 1], target[:3, 2] = a0, a1, n * dz
    target[:3, 3] = sheared[:3, 3]  # lattice through the first voxel: slices fall on k
    tv = (np.linalg.inv(target) @ corners.T).T[:, :3]
    lo, hi = np.floor(tv.min(axis=0) + 1e-6), np.ceil(tv.max(axis=0) - 1e-6)
    target[:3, 3] = target[:3, :3] @ lo + target[:3, 3]
    out_shape = tuple(int(v) for v in (hi - lo + 1))
    # target (i, j, k) -> source (i + u0 + k su, j + v0 + k sv, k + w0), w0 a whole number
    mapping = np.linalg.inv(sheared) @ target
    out = np.full(out_shape, float(fill), np.float32)
    for k in range(out_shape[2]):
        # rounded to 1e-6 voxel: a whole-voxel shift stays whole (float error would put the
        # first column a hair outside the slice, where it takes the fill)
        src = np.round(mapping[:3, :3] @ np.array([0.0, 0.0, k]) + mapping[:3, 3], 6)
        w = int(round(src[2]))
        if not 0 <= w < nz:
            continue
        out[:, :, k] = affine_transform(
            np.asarray(data[:, :, w], np.float32), mapping[:2, :2], offset=src[:2],
            output_shape=out_shape[:2], order=order, mode="constant", cval=float(fill))
    # a spline rings at sharp edges (bone next to air): nothing outside the input's range
    lo_v, hi_v = float(np.min(data)), float(np.max(data))
    np.clip(out, min(lo_v, float(fill)), max(hi_v, float(fill)), out=out)
    return out, target


def _resampled_dtype(res: np.ndarray, scaled: np.ndarray) -> np.ndarray:
    """The resampled stack in a type that keeps the source's *scaled* values: int16 when the
    source values are whole numbers within int16 (CT in HU), float32 otherwise.

    The on-disk type of dcm2niix's output is not enough: an unsigned CT stored with
    RescaleIntercept -1024 comes as uint16 plus ``scl_inter`` -1024, and casting HU back to
    uint16 without that scaling clipped all air and water to 0 ("not HU-like: no air")."""
    if np.issubdtype(scaled.dtype, np.integer) or np.array_equal(scaled, np.rint(scaled)):
        r = np.rint(res)
        i16 = np.iinfo(np.int16)
        if r.size == 0 or (r.min() >= i16.min and r.max() <= i16.max):
            return r.astype(np.int16)
    return res.astype(np.float32)


def _tilt_field(sidecar: dict, tilt_deg: float) -> dict:
    """``GantryDetectorTilt`` (degrees, as DICOM 0018,1120) for the sidecar: dcm2niix's value
    when it wrote one, else the tilt computed from ImageOrientationPatient and the slice
    positions (:meth:`DicomGeometry.tilt_deg`), so the CT QC sees the tilt of a stack that
    was resampled to an orthogonal grid (its affine no longer shows the shear)."""
    if sidecar.get("GantryDetectorTilt") is not None:
        return {}
    return {"GantryDetectorTilt": round(float(tilt_deg), 2)}


def verify_converted(geom: DicomGeometry | None, out, work) -> object:
    """``out`` (a :class:`tasks.ingest.convert.Converted`) checked against ``geom``: the same,
    the uncorrected output, a resampled copy (tilt) -- each with ``GeometryCheck`` (and
    ``ResampledBy``) in its sidecar -- or a plain-words reason to quarantine the series."""
    from pathlib import Path

    from tasks.ingest.convert import Converted

    if geom is None:
        return Converted(out.nifti, {**out.sidecar, "GeometryCheck": "not checked (one "
                                     "multi-frame file or several stacks)"}, out.plain)
    tilt = geom.tilt_deg()
    candidates = [out.nifti] + ([out.plain] if out.plain and out.plain != out.nifti else [])
    if tilt <= TILT_MIN_DEG:
        problems = []
        for path in candidates:
            aff, shape = read_nifti_geometry(path)
            problem = check(aff, shape, geom)
            if problem is None:
                return Converted(path, {**out.sidecar, **_tilt_field(out.sidecar, tilt),
                                        "GeometryCheck": "passed"}, out.plain)
            problems.append(problem)
        return f"geometry check failed: {problems[0]}"
    plain = candidates[-1]  # dcm2niix's uncorrected stack (its tilt correction not trusted)
    aff, shape = read_nifti_geometry(plain)
    problem = check(aff, shape, geom, allow_shear=True)
    if problem:
        return f"geometry check failed (gantry tilt {tilt:.1f} degrees): {problem}"
    import nibabel as nib

    img = nib.load(str(plain))
    data = np.asanyarray(img.dataobj)  # scaled values (HU: dcm2niix's scl_slope/scl_inter applied)
    sheared = sheared_affine(aff, shape, geom)
    res, target = resample_sheared(data, sheared, float(data.min()))
    res = _resampled_dtype(res, data)
    new = nib.Nifti1Image(res, target)
    new.set_sform(target, code=1)
    new.set_qform(target, code=1)
    dest = Path(work) / "geometry" / Path(plain).name
    dest.parent.mkdir(parents=True, exist_ok=True)
    nib.save(new, str(dest))
    return Converted(dest, {
        **out.sidecar, **_tilt_field(out.sidecar, tilt),
        "GeometryCheck": sheared_check_note(tilt),
        "ResampledBy": "calcisvd: sheared slices (from ImagePositionPatient) resampled to an "
                       "orthogonal grid along the slice normal through the acquired slices "
                       f"(in-plane spline shift of order {SHEAR_SPLINE_ORDER}, no "
                       "interpolation between slices)"}, out.plain)
