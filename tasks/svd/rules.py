"""Visual-rating rules of small-vessel disease computed from measured lesions: pure functions.

These turn lesion measurements into the ordinal scores radiologists give. The simulator's
ground truth is graded apart, from the same published definitions (``bench/truth_grades.py``),
so the benchmark does not run this code on both sides.

Fazekas (Fazekas F et al., AJR 1987) from WMH split at 10 mm from the ventricle wall:

* periventricular (PV): 0 absent; 1 caps or pencil-thin lining; 2 smooth halo; 3 irregular PV
  signal extending into the deep white matter. Automated proxy by PV WMH volume:
  <1 cm^3 -> 0, 1-5 -> 1, 5-12 -> 2, >=12 -> 3.
* deep: 0 absent; 1 punctate foci; 2 beginning confluence; 3 large confluent areas. Automated
  proxy by the equivalent diameter of the largest deep lesion: no deep WMH (<0.05 cm^3) -> 0,
  <10 mm -> 1, 10-20 mm -> 2, >=20 mm -> 3.

Periventricular punctate lesion grade (this platform's definition, after the reference study's
grades 0-1 / 2 / 3): count the small, separate WMH foci (volume <= 65 mm^3, a sphere of ~5 mm)
lying within 10 mm of the ventricle wall and not touching it: 0 foci -> 0, 1-2 -> 1, 3-5 -> 2,
>=6 -> 3.

Total SVD score (Staals J et al., Neurology 2014), 0-4: one point each for >=1 lacune, >=1
microbleed, moderate-severe basal-ganglia perivascular spaces (>10 enlarged PVS in the basal
ganglia), PV Fazekas 3 or deep Fazekas >=2.
"""

from __future__ import annotations

import math

PV_THRESHOLDS_CM3 = (1.0, 5.0, 12.0)
DEEP_PRESENT_CM3 = 0.05
DEEP_DIAMETER_THRESHOLDS_MM = (10.0, 20.0)
PUNCTATE_MAX_MM3 = 65.0
PUNCTATE_THRESHOLDS = (1, 3, 6)
BG_PVS_MODERATE = 11


def _grade(value: float, thresholds: tuple[float, ...]) -> int:
    return sum(value >= t for t in thresholds)


def fazekas_pv(pv_volume_cm3: float) -> int:
    """Periventricular Fazekas grade (0-3) from periventricular WMH volume in cm^3."""
    return _grade(pv_volume_cm3, PV_THRESHOLDS_CM3)


def equivalent_diameter_mm(volume_mm3: float) -> float:
    """Diameter of the sphere with the given volume."""
    return (6.0 * max(volume_mm3, 0.0) / math.pi) ** (1.0 / 3.0)


def fazekas_deep(deep_volume_cm3: float, largest_deep_lesion_mm3: float) -> int:
    """Deep Fazekas grade (0-3) from deep WMH volume and its largest lesion's volume."""
    if deep_volume_cm3 < DEEP_PRESENT_CM3:
        return 0
    return 1 + _grade(equivalent_diameter_mm(largest_deep_lesion_mm3), DEEP_DIAMETER_THRESHOLDS_MM)


def pv_punctate_grade(n_punctate_foci: int) -> int:
    """Periventricular punctate lesion grade (0-3) from the number of punctate PV foci."""
    return _grade(n_punctate_foci, PUNCTATE_THRESHOLDS)


def svd_score(lacune_count: int, microbleed_count: int, fazekas_pv_grade: int,
              fazekas_deep_grade: int, bg_pvs_count: int | None) -> int:
    """Total SVD score (0-4); an unknown PVS count contributes no point."""
    score = int(lacune_count >= 1) + int(microbleed_count >= 1)
    score += int(bg_pvs_count is not None and bg_pvs_count >= BG_PVS_MODERATE)
    score += int(fazekas_pv_grade >= 3 or fazekas_deep_grade >= 2)
    return score
