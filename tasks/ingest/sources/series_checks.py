"""Checks of one DICOM series before conversion: repeated, missing or unevenly spaced slices,
stacks that are not one volume, incomplete series, geometry dcm2niix would get wrong, series
without pixel data. Each returns a plain reason (quarantined with the series) or None.
"""

from __future__ import annotations

from tasks.ingest.dicom import DicomInstance


def slice_problem(insts: list[DicomInstance]) -> str | None:
    """Repeated, missing or unevenly spaced slices along the slice normal, or None.

    Each slice's distance along the normal n = row x column (ImageOrientationPatient) is
    d = ImagePositionPatient . n (mm). Sorted distances must step by one spacing: a step of
    less than 0.01 mm is a repeated position, and a step differing from the median step by
    more than max(0.01 mm, 1 % of it) is a gap (missing slice) or uneven spacing. Images of
    one series that legitimately share positions (echoes, magnitude/phase: different
    EchoNumbers or ImageType) are checked as separate stacks. Series without full geometry,
    or of one file (multi-frame), are not checked here.
    """
    stacks: dict[tuple, list[DicomInstance]] = {}
    for inst in insts:
        stacks.setdefault((inst.image_type, inst.echo), []).append(inst)
    for stack in stacks.values():
        problem = stack_problem(stack)
        if problem:
            return problem
    return None


def _slice_steps(insts: list[DicomInstance]):
    """Distances (mm) between neighbouring slice positions along the slice normal of one
    stack, sorted by position; None without full, finite geometry."""
    import numpy as np

    if len(insts) < 2 or any(len(i.orientation) != 6 or len(i.position) != 3 for i in insts):
        return None
    ori = np.asarray(insts[0].orientation, dtype=float)
    normal = np.cross(ori[:3], ori[3:])
    if not np.isfinite(normal).all() or np.linalg.norm(normal) < 1e-6:
        return None
    normal /= np.linalg.norm(normal)
    steps = np.diff(np.sort(np.asarray([i.position for i in insts], dtype=float) @ normal))
    return steps if np.isfinite(steps).all() else None


def stack_problem(insts: list[DicomInstance]) -> str | None:
    """:func:`slice_problem` for one stack of images (same ImageType and echo)."""
    import numpy as np

    steps = _slice_steps(insts)
    if steps is None:
        return None
    repeated = int((steps < 0.01).sum())
    if repeated:
        return (f"inconsistent geometry: {repeated} repeated slice position(s) in one series "
                "(several images at the same place)")
    step = float(np.median(steps))
    bad = np.abs(steps - step) > max(0.01, 0.01 * step)
    if bad.any():
        return (f"inconsistent geometry: uneven slice spacing ({int(bad.sum())} of "
                f"{len(steps)} steps differ from {step:.3g} mm: missing slices or a gap)")
    return None


def median_step(insts: list[DicomInstance]) -> float | None:
    """Median distance (mm) between neighbouring slice positions along the slice normal of
    one stack, or None without full geometry."""
    import numpy as np

    steps = _slice_steps(insts)
    return None if steps is None else float(np.median(steps))


def incomplete_problem(insts: list[DicomInstance], first: DicomInstance) -> str | None:
    """Why a series looks incomplete by its own header, or None.

    * fewer images than ImagesInAcquisition (0020,1002) announces (GE and others write it);
    * slices k >= 2 times SpacingBetweenSlices (0018,0088) apart (within 1 %): every k-th
      slice only (a held-back or interleaved half).
    A series without these elements cannot be judged here: the quiet period
    (``ingest_quiet_s``) and the spacing check of :func:`slice_problem` guard it.
    """
    expected = first.images_in_acquisition
    if expected and len(insts) < expected:
        return (f"incomplete series: {len(insts)} of the {expected} images its header "
                "announces (ImagesInAcquisition); it is ingested when the rest arrives")
    spacing = first.spacing_between_slices
    if not spacing:
        return None
    stacks: dict[tuple, list[DicomInstance]] = {}
    for inst in insts:
        stacks.setdefault((inst.image_type, inst.echo), []).append(inst)
    for stack in stacks.values():
        step = median_step(stack)
        if step is None:
            continue
        k = round(step / spacing)
        if k >= 2 and abs(step / spacing - k) <= 0.01 * k:
            return (f"incomplete series: slices {step:.4g} mm apart where the header declares "
                    f"{spacing:.4g} mm (SpacingBetweenSlices): {k - 1} of every {k} slices "
                    "are missing; it is ingested when they arrive")
    return None


def geometry_problem(insts: list[DicomInstance]) -> str | None:
    """Plain-words description of inconsistent geometry inside one series, or None."""
    checks = (("matrix size", lambda i: (i.rows, i.columns)),
              ("pixel spacing", lambda i: i.pixel_spacing),
              ("slice orientation", lambda i: i.orientation))
    for label, get in checks:
        values = {get(i) for i in insts}
        if len(values) > 1:
            return f"inconsistent geometry: {len(values)} different {label} values in one series"
    return slice_problem(insts)


def no_pixel_problem(insts: list[DicomInstance]) -> str | None:
    """Plain-words reason when images of an image series carry no PixelData, or None."""
    empty = [i.rel for i in insts if not i.has_pixels]
    if not empty:
        return None
    return (f"image series without pixel data: {len(empty)} of its {len(insts)} images "
            f"(e.g. {empty[0]}) have no PixelData element")
