"""ICAC severity group and dominant location: documented rules after the reference study.

The study's radiologists graded three groups (see ``../shared/paper/README.md``):

* **none/mild**: no visible calcified spots in the intracranial arteries, or only a few;
* **moderate**: several calcified spots, widely distributed;
* **severe**: extensive calcification with luminal narrowing (stenosis).

calcisvd turns these words into a rule on measured plaques, in the spirit of the Kockelkoren
ICAC grading (circumferential extent as the sign of luminal narrowing):

1. *severe* if any plaque covers at least ``SEVERE_ARC_DEG`` (180 degrees) of the vessel wall
   circumference (a half-circumferential or circumferential deposit narrows the lumen);
2. otherwise *moderate* if there are at least ``MODERATE_MIN_PLAQUES`` (3) plaques spread over at
   least ``MODERATE_MIN_SEGMENTS`` (2) artery segments (artery + side) - "several, widely
   distributed";
3. otherwise *none/mild* (0-2 spots, or spots confined to one segment).

The study defines *severe* by luminal narrowing and gives no volume or score cut-off (its
README and tables.yaml hold none), so calcium volume does not make a session severe: an earlier
``SEVERE_VOLUME_MM3 = 400`` had no source and was removed (issue 17). The arc of 180 degrees is
the midpoint of the 90-270 degree circularity grade of Kockelkoren's CT score (Kockelkoren R et
al., PLoS One 2017;12:e0168360; circumferential grading of carotid siphon calcification also in
Babiarz LS et al., AJNR 2005;26:1505-11); it is calcisvd's operational reading of "luminal
narrowing", not the study's. ``severity_group`` still accepts the total volume so callers keep
one signature, and ignores it.

The dominant location is the artery (ICA, MCA, BA, VA; sides pooled) holding the largest
calcium volume; ``None`` when no calcium was found.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

SEVERE_ARC_DEG = 180.0
MODERATE_MIN_PLAQUES = 3
MODERATE_MIN_SEGMENTS = 2


def severity_group(
    n_plaques: int,
    n_segments_involved: int,
    max_circumferential_extent_deg: float,
    total_calcium_volume_mm3: float | None = None,
) -> str:
    """Severity group (``none_mild``, ``moderate``, ``severe``) by the rule in the module doc.

    ``total_calcium_volume_mm3`` is accepted and not used (the study has no volume rule).
    """
    del total_calcium_volume_mm3
    if max_circumferential_extent_deg >= SEVERE_ARC_DEG:
        return "severe"
    if n_plaques >= MODERATE_MIN_PLAQUES and n_segments_involved >= MODERATE_MIN_SEGMENTS:
        return "moderate"
    return "none_mild"


def dominant_location(volume_by_segment: Mapping[tuple[str, str], float] | Iterable) -> str | None:
    """Artery with the largest calcium volume, sides pooled; ``None`` without calcium.

    ``volume_by_segment`` maps ``(artery, side)`` to calcium volume in mm^3.
    """
    totals: dict[str, float] = {}
    items = (volume_by_segment.items() if isinstance(volume_by_segment, Mapping)
             else volume_by_segment)
    for (artery, _side), vol in items:
        totals[artery] = totals.get(artery, 0.0) + float(vol)
    if not totals or max(totals.values()) <= 0.0:
        return None
    # ties broken by a fixed anatomical order so the result is deterministic
    order = {"MCA": 0, "BA": 1, "ICA": 2, "VA": 3}
    return max(totals, key=lambda a: (totals[a], -order.get(a, 9)))
