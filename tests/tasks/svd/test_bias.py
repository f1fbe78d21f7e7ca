"""Bias correction rules in mm: N4's working grid."""

from __future__ import annotations

from tasks.svd.bias import N4_SHRINK_MM, n4_shrink_factors


def test_n4_shrinks_to_millimetres_not_voxels():
    """1 mm keeps the factor 4 the method was built with; thick slices are not shrunk along
    the slice axis (a 7 mm slice shrunk 4x left the field 5-6 samples in z)."""
    assert N4_SHRINK_MM == 4.0
    assert n4_shrink_factors((1.0, 1.0, 1.0)) == [4, 4, 4]
    assert n4_shrink_factors((0.57, 0.57, 7.0)) == [7, 7, 1]
    assert n4_shrink_factors((8.0, 0.9, 0.9)) == [1, 4, 4]
