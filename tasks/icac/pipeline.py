"""The whole CT calcification chain on arrays, for benchmarks and tests.

The Nipype workflow (:func:`tasks.workflows.ct.init_ct_icac_wf`) runs the same steps one
interface at a time; this function chains them in memory:
check -> skull and intracranial masks -> registration to MNI152 -> artery regions ->
calcified voxels (named by region, then by course) -> measures -> QC metrics
(:mod:`tasks.icac.ctqc`; status ``review`` with the reasons when a check fails).
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
                region_radius_mm: float = REGION_RADIUS_MM,
                sidecar: dict | None = None) -> ICACResult:
    """Run the calcification chain on a canonical HU array (see module doc).

    ``sidecar`` is the CT's BIDS JSON (``KVP``, ``SliceThickness``, ``GantryDetectorTilt``,
    ``GeometryCheck``); without it the kVp is unknown and the result is ``review``.

    Raises :class:`tasks.icac.headmask.DegenerateImageError` for images that are not a head CT.
    """
    from tasks.icac.calcium import measure_icac, segment_calcium
    from tasks.icac.ctqc import apply_qc, cut_ends, qc_metrics, tilt_verified
    from tasks.icac.headmask import check_ct, intracranial_mask, skull_mask
    from tasks.icac.regions import artery_regions, map_centrelines
    from tasks.icac.registration import register_to_template
    from tasks.icac.wall import reassign_by_course
    from tasks.imaging.space import transform_to_matrix

    check_ct(hu, spacing)
    skull = skull_mask(hu, spacing)
    ic = intracranial_mask(hu, spacing, skull)
    m = transform_to_matrix(register_to_template(ic, affine, hu=hu))
    lines = map_centrelines(m)
    regions = artery_regions(hu.shape, affine, lines, region_radius_mm)
    calcium = reassign_by_course(segment_calcium(hu, spacing, regions, skull), affine, lines)
    measures = measure_icac(hu, spacing, affine, calcium, lines, skull=skull)
    measures = apply_qc(measures, qc_metrics(hu, spacing, affine, ic, m, sidecar),
                        cut_ends(ic, affine, hu), tilt_verified(sidecar))
    return ICACResult(measures, calcium, regions, ic, skull, m, lines)
