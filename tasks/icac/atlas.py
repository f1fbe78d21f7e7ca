"""Intracranial artery centrelines in MNI152 (2009, RAS mm) space.

A coarse vascular atlas: control points along the intracranial internal carotid (petrous,
cavernous siphon, supraclinoid), the M1 segment of the middle cerebral artery, the basilar artery
and the intracranial vertebral arteries, with typical lumen radii. Coordinates are approximate
anatomical positions (the template's anterior commissure is near (0, 2, -4)); they are used in
two places:

* the simulator draws vessels (with per-subject deformation) along them;
* quantification turns them, after registering a CT to the template, into generous artery
  regions (tubes of several millimetres around each centreline) in which calcium is assigned
  to an artery. The regions are wide on purpose: real anatomy varies more than this atlas.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Centreline:
    """One artery segment: name, side, control points (N x 3, RAS mm) and lumen radius."""

    artery: str  # ICA | MCA | BA | VA
    side: str  # L | R | M
    points: tuple[tuple[float, float, float], ...]
    radius_mm: float

    def sample(self, step_mm: float = 0.5) -> np.ndarray:
        """Points every ``step_mm`` along a piecewise-linear path through the control points."""
        pts = np.asarray(self.points, dtype=float)
        out = [pts[0]]
        for a, b in zip(pts[:-1], pts[1:], strict=True):
            n = max(1, int(np.ceil(np.linalg.norm(b - a) / step_mm)))
            t = np.linspace(0.0, 1.0, n + 1)[1:, None]
            out.extend(a + t * (b - a))
        return np.asarray(out)


Points = tuple[tuple[float, float, float], ...]


def _mirror(points: Points) -> Points:
    return tuple((-x, y, z) for x, y, z in points)


# right-side control points (RAS: +x is the subject's right)
_ICA_R = (
    (24.0, -14.0, -44.0),  # petrous entry (carotid canal)
    (21.0, -6.0, -40.0),
    (18.0, -1.0, -36.0),  # petrous apex / foramen lacerum
    (17.0, 2.0, -31.0),  # cavernous (posterior bend)
    (17.0, 9.0, -29.0),  # cavernous horizontal
    (16.0, 13.0, -24.0),  # anterior knee of the siphon
    (15.0, 9.0, -18.0),  # supraclinoid
    (14.0, 4.0, -15.0),  # terminus (ICA bifurcation)
)
_MCA_R = (
    (14.0, 4.0, -15.0),
    (22.0, 5.0, -14.0),
    (30.0, 6.0, -12.0),
    (38.0, 5.0, -9.0),  # M1 end, limen insulae
)
_VA_R = (
    (12.0, -42.0, -66.0),  # foramen magnum
    (9.0, -37.0, -60.0),
    (4.0, -33.0, -53.0),
    (0.0, -31.0, -49.0),  # vertebrobasilar junction
)
BA_POINTS = (
    (0.0, -31.0, -49.0),
    (0.0, -27.0, -40.0),
    (0.0, -22.0, -30.0),
    (0.0, -18.0, -21.0),  # basilar tip
)

CENTRELINES: tuple[Centreline, ...] = (
    Centreline("ICA", "R", _ICA_R, 2.4),
    Centreline("ICA", "L", _mirror(_ICA_R), 2.4),
    Centreline("MCA", "R", _MCA_R, 1.5),
    Centreline("MCA", "L", _mirror(_MCA_R), 1.5),
    Centreline("BA", "M", BA_POINTS, 1.6),
    Centreline("VA", "R", _VA_R, 1.7),
    Centreline("VA", "L", _mirror(_VA_R), 1.7),
)


def centreline(artery: str, side: str) -> Centreline:
    """Look up one segment by artery name and side."""
    for c in CENTRELINES:
        if c.artery == artery and c.side == side:
            return c
    raise KeyError(f"no centreline for {artery} {side}")


#: named segments per artery: (name, first control point, last control point). ICA after the
#: Bouthillier classification (Neurosurgery 1996;38:425-33) collapsed to the three intracranial
#: parts read on CT: petrous (C2, carotid canal to the foramen lacerum), cavernous (C3-C4, up to
#: the anterior knee of the siphon), supraclinoid (C5-C7, to the terminus). The other arteries
#: are one segment each: MCA M1, the basilar trunk and the intradural vertebral artery (V4).
SEGMENTS: dict[str, tuple[tuple[str, int, int], ...]] = {
    "ICA": (("petrous", 0, 2), ("cavernous", 2, 5), ("supraclinoid", 5, 7)),
    "MCA": (("M1", 0, 3),),
    "BA": (("basilar", 0, 3),),
    "VA": (("V4", 0, 3),),
}


def control_point_indices(c: Centreline, step_mm: float = 0.5) -> np.ndarray:
    """Index of each control point in ``c.sample(step_mm)`` (same sampling rule)."""
    pts = np.asarray(c.points, dtype=float)
    idx = [0]
    for a, b in zip(pts[:-1], pts[1:], strict=True):
        idx.append(idx[-1] + max(1, int(np.ceil(np.linalg.norm(b - a) / step_mm))))
    return np.asarray(idx)


def segment_names(c: Centreline, step_mm: float = 0.5) -> list[str]:
    """Segment name of every point of ``c.sample(step_mm)`` (see :data:`SEGMENTS`)."""
    cp = control_point_indices(c, step_mm)
    names = [""] * (int(cp[-1]) + 1)
    for name, first, last in SEGMENTS[c.artery]:
        for i in range(int(cp[first]), int(cp[last]) + 1):
            names[i] = name
    return names
