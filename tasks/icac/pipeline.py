"""The whole CT calcification chain on arrays, for benchmarks and tests.

The Nipype workflow (:func:`tasks.workflows.ct.init_ct_icac_wf`) runs the same steps one
interface at a time; this function chains them in memory:
check -> skull and intracranial masks -> registration to MNI152 -> artery regions ->
calcified voxels -> measures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tasks.icac.regions import REGION_RADIUS_MM, MappedCentreline


@dataclass
class ICACResult:
    """Everything the chain produces on the CT grid."""

    measures: dict[str, Any]
    calcium: NDArray[np.uint8]
    regions: NDArray[np.uint8]
    intracranial: NDArray[np.bool_]
    skull: NDArray[np.bool_]
    ct_to_template: NDArray
    lines: list[MappedCentreline]


def quantify_ct(hu: NDArray, spacing: tuple[float, ...], affine: NDArray,
                region_radius_mm: float = REGION_RADIUS_MM) -> ICACResult:
    """Run the calcification chain on a canonical HU array (see module doc).

    Raises :class:`tasks.icac.headmask.DegenerateImageError` for images that are not a head CT.
    """
    from tasks.icac.calcium import measure_icac, segment_calcium
    from tasks.icac.headmask import check_ct, intracranial_mask, skull_mask
    from tasks.icac.regions import artery_regions, map_centrelines
    from tasks.icac.registration import register_to_template, transform_to_matrix

    check_ct(hu, spacing)
    skull = skull_mask(hu, spacing)
    ic = intracranial_mask(hu, spacing, skull)
    m = transform_to_matrix(register_to_template(ic, affine, hu=hu))
    lines = map_centrelines(m)
    regions = artery_regions(hu.shape, affine, lines, region_radius_mm)
    calcium = segment_calcium(hu, spacing, affine, regions, skull, lines)
    measures = measure_icac(hu, spacing, affine, calcium, lines)
    return ICACResult(measures, calcium, regions, ic, skull, m, lines)
