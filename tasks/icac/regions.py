"""Artery regions in CT space: tubes around the atlas centrelines mapped by the registration.

Each centreline of :data:`tasks.icac.atlas.CENTRELINES` (MNI RAS mm) is sampled every
``STEP_MM`` and mapped to CT RAS mm with the inverse of the CT->template affine. A voxel belongs
to the region of the nearest mapped centreline point when that point is at most ``radius_mm``
away (default ``REGION_RADIUS_MM`` = 11 mm: the lumen radius of up to 2.4 mm, plus 8 mm, the
upper end of the 3-8 mm by which real arteries lie off an atlas line in elderly heads (issue
17; tortuosity, ectasia and registration error), plus about 0.6 mm of wall). The regions only
say *which artery* a deposit belongs to and bound the search; bone is told from calcium by its
shape, not by the distance to these lines (:mod:`tasks.icac.calcium`). Overlaps (the internal
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
        """JSON-friendly form (lists of floats, unrounded: the measures read back from it equal
        those computed in memory)."""
        return {"artery": self.artery, "side": self.side, "label": self.label,
                "radius_mm": self.radius_mm, "points": np.asarray(self.points, float).tolist()}

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
    """Label map (0 = none, 1..7 = ARTERIES) of voxels within ``radius_mm`` of a centreline.

    The centreline points are rasterised to the voxels holding them and the distance is a
    Euclidean distance transform (in mm) to those voxel centres, with the label of the nearest
    one: exact to half a voxel diagonal (0.9 mm at 1 mm voxels), negligible against the 11 mm
    radius, and about ten times faster than a nearest-point query per voxel.
    """
    from scipy import ndimage

    from tasks.imaging.space import world_to_voxel

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
    ijk = np.rint(vox).astype(int) - lo
    ok = np.all((ijk >= 0) & (ijk < hi - lo), axis=1)
    if not ok.any():
        return out
    seeds = np.zeros(tuple(hi - lo), np.uint8)
    seeds[tuple(ijk[ok].T)] = labs[ok]
    dist, ind = ndimage.distance_transform_edt(seeds == 0, sampling=spacing,
                                               return_indices=True)
    lab = seeds[tuple(ind)]
    out[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = np.where(dist <= radius_mm, lab, 0)
    return out
