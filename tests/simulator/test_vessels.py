"""Plaque sampling agrees with the published group definitions (bench/truth_grades.py)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.truth_grades import dominant_location, severity_group
from simulator.arteries import sample_vessels
from simulator.cohort import patient_rng, sample_cohort
from simulator.vessels import Plaque, grow, sample_plaques


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_every_patient_is_in_its_group_and_location(seed):
    for s in sample_cohort(126, seed):
        vessels = sample_vessels(patient_rng(seed, s.index, "vessels"), s.age)
        plaques = sample_plaques(s.group, s.location, patient_rng(seed, s.index, "plaques"),
                                 vessels)
        for visit in ("baseline", "followup"):
            ps = plaques if visit == "baseline" else grow(plaques,
                                                          s.targets[visit].calcium_growth)
            vols = [p.volume_mm3(s.head_scale) for p in ps]
            by_seg: dict[tuple[str, str], float] = {}
            for p, v in zip(ps, vols, strict=True):
                by_seg[(p.artery, p.side)] = by_seg.get((p.artery, p.side), 0.0) + v
            arcs = [p.arc_deg for p in ps]
            icac = {"total_plaques": len(ps), "n_segments_involved": len(by_seg),
                    "max_circumferential_extent_deg": max(arcs),
                    "arteries": [{"artery": a, "side": sd, "calcium_volume_mm3": v}
                                 for (a, sd), v in by_seg.items()]}
            assert severity_group(icac) == s.group
            assert dominant_location(icac) == s.location
            if s.group == "none_mild":
                assert 1 <= len(ps) <= 2 and max(arcs) <= 90
            elif s.group == "moderate":
                assert 3 <= len(ps) <= 10 and max(arcs) <= 120 and sum(vols) < 250
            else:
                assert 200 <= max(arcs) <= 330


def test_deposit_volume_formula():
    r = 1.5  # local lumen radius
    p = Plaque("MCA", "L", 5.0, 4.0, 90.0, 0.0, 1.0, 0.0, 500.0, radius_mm=r)
    expected = 0.25 * np.pi * ((r + 1.0) ** 2 - r**2) * 4.0
    assert p.volume_mm3() == pytest.approx(expected)
    assert p.volume_mm3(1.1) == pytest.approx(expected * 1.331)
