"""Artery regions in CT space: tubes around the atlas centrelines mapped by the registration.

Each centreline of :data:`tasks.icac.atlas.CENTRELINES` (MNI RAS mm) is sampled every
``STEP_MM`` and mapped to CT RAS mm with the inverse of the CT->template affine. A voxel belongs
to the region of the nearest mapped centreline point when that point is at most ``radius_mm``
away (default ``REGION_RADIUS_MM`` = 6 mm: the lumen radius of 1.5-2.4 mm plus a wall and room
for anatomical variation and registration error of a few millimetres). Overlaps (the internal
carotid terminus and the M1 origin, the vertebrobasilar junction) therefore go to the nearest
centreline. Labels are 1..7 in the order of :data:`calcisvd.measures.ARTERIES`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from calcisvd.measures import ARTERIES
from tasks.icac.atlas import centreline

REGION_RADIUS_MM = 11.0
STEP_MM = 0.5


@dataclass(frozen=True)
class MappedCentreline:
    """One artery centreline in CT RAS mm, with the lumen radius scaled by the registration."""

    artery: str
    side: str
    label: int  #: 1-based index in ARTERIES
    points: NDArray  #: N x 3, CT RAS mm
    radius_mm: float

    def to_json(self) -> dict:
        """JSON-friendly form (lists of floats)."""
        return {"artery": self.artery, "side": self.side, "label": self.label,
                "radius_mm": self.radius_mm, "points": np.round(self.points, 3).tolist()}

    @classmethod
    def from_json(cls, d: dict) -> MappedCentreline:
        """Inverse of :meth:`to_json`."""
        return cls(d["artery"], d["side"], int(d["label"]), np.asarray(d["points"], float),
                   float(d["radius_mm"]))


def map_centrelines(ct_to_template: NDArray, step_mm: float = STEP_MM) -> list[MappedCentreline]:
    """Atlas centrelines in CT RAS mm (ARTERIES order) given a 4x4 CT->template RAS matrix.

    The lumen radius is scaled by the cube root of the determinant of the template->CT map.
    """
    from tasks.icac.registration import map_template_points

    inv = np.linalg.inv(np.asarray(ct_to_template, float))
    scale = float(abs(np.linalg.det(inv[:3, :3])) ** (1.0 / 3.0))
    out = []
    for label, (artery, side) in enumerate(ARTERIES, start=1):
        c = centreline(artery, side)
        pts = map_template_points(c.sample(step_mm), ct_to_template)
        out.append(MappedCentreline(artery, side, label, pts, c.radius_mm * scale))
    return out


def artery_regions(shape: tuple[int, ...], affine: NDArray, lines: list[MappedCentreline],
                   radius_mm: float = REGION_RADIUS_MM) -> NDArray[np.uint8]:
    """Label map (0 = none, 1..7 = ARTERIES) of voxels within ``radius_mm`` of a centreline."""
    from scipy.spatial import cKDTree

    from tasks.icac.ctio import world_to_voxel

    out = np.zeros(shape, np.uint8)
    pts = np.concatenate([c.points for c in lines])
    labs = np.concatenate([np.full(len(c.points), c.label, np.uint8) for c in lines])
    vox = world_to_voxel(affine, pts)
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    pad = np.ceil(radius_mm / spacing) + 1
    lo = np.maximum(np.floor(vox.min(0) - pad), 0).astype(int)
    hi = np.minimum(np.ceil(vox.max(0) + pad) + 1, np.asarray(shape)).astype(int)
    if np.any(hi <= lo):
        return out
    grids = np.meshgrid(*[np.arange(a, b, dtype=np.float32) for a, b in zip(lo, hi,
                                                                             strict=True)],
                        indexing="ij")
    ijk = np.stack(grids, -1).reshape(-1, 3)
    xyz = ijk @ affine[:3, :3].T.astype(np.float32) + affine[:3, 3].astype(np.float32)
    dist, nn = cKDTree(pts).query(xyz, distance_upper_bound=radius_mm)
    lab = np.where(np.isfinite(dist), labs[np.minimum(nn, len(labs) - 1)], 0)
    out[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = lab.reshape(hi - lo)
    return out
