"""The documented severity rule and dominant location."""

from __future__ import annotations

import pytest

from tasks.icac import severity
from tasks.icac.calcium import session_summary


@pytest.mark.parametrize(("args", "group"), [
    ((0, 0, 0.0, 0.0), "none_mild"),
    ((2, 2, 90.0, 30.0), "none_mild"),  # only a few spots
    ((5, 1, 90.0, 30.0), "none_mild"),  # several but in one segment
    ((3, 2, 90.0, 30.0), "moderate"),
    ((3, 2, 180.0, 30.0), "severe"),  # half-circumferential: narrowing
    ((1, 1, 10.0, 5000.0), "none_mild"),  # volume alone is no narrowing (no source, issue 17)
    ((1, 1, 179.0, None), "none_mild"),
])
def test_severity_group(args, group):
    assert severity.severity_group(*args) == group


def test_dominant_location_pools_sides():
    vols = {("ICA", "L"): 10.0, ("ICA", "R"): 10.0, ("MCA", "L"): 15.0, ("BA", "M"): 0.0}
    assert severity.dominant_location(vols) == "ICA"
    assert severity.dominant_location({("MCA", "L"): 0.0}) is None


def test_session_summary_counts():
    def art(a, s, vol, n, ext):
        return {"artery": a, "side": s, "calcium_volume_mm3": vol, "agatston": vol / 2,
                "mass_mg": vol / 10, "n_plaques": n, "max_hu": 500.0,
                "circumferential_extent_deg": ext}

    out = session_summary([art("ICA", "L", 20.0, 2, 100.0), art("BA", "M", 5.0, 1, 200.0),
                           art("VA", "R", 0.0, 0, 0.0)])
    assert out["total_calcium_volume_mm3"] == 25.0
    assert out["total_agatston"] == 12.5
    assert out["total_plaques"] == 3
    assert out["n_segments_involved"] == 2
    assert out["max_circumferential_extent_deg"] == 200.0
    assert out["severity_group"] == "severe"
    assert out["dominant_location"] == "ICA"
