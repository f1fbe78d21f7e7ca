"""Rigid within-session registration of MR contrasts to one reference grid (SimpleITK).

The reference is FLAIR (WMH are measured there), else T2w, else T1w, else T2*w. Each other
contrast is aligned with a 6-parameter rigid (Euler) transform maximising Mattes mutual
information (Mattes D et al., IEEE TMI 2003) over a two-level pyramid (shrink 4 then 2), starting
from the scanner's world alignment, then resampled onto the reference grid (linear).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from tasks.imaging.registration import GradientDescent, registration_method, sitk_threads
from tasks.imaging.space import from_sitk, to_sitk, transform_to_matrix
from tasks.svd.image import check_image

REFERENCE_ORDER = ("FLAIR", "T2w", "T1w", "T2starw")


def choose_reference(available: list[str] | set[str] | tuple[str, ...]) -> str:
    """Name of the reference contrast: FLAIR, else T2w, else T1w, else T2starw."""
    for name in REFERENCE_ORDER:
        if name in available:
            return name
    raise ValueError("no MR image given")


def rigid_register(fixed_arr: NDArray, fixed_affine: NDArray, moving_arr: NDArray,
                   moving_affine: NDArray, *, iterations: int = 40,
                   sampling: float = 0.05, seed: int = 1) -> tuple[NDArray, NDArray]:
    """Align ``moving`` to ``fixed`` (rigid, Mattes MI) and resample it onto the fixed grid.

    Returns ``(resampled array on the fixed grid, 4x4 RAS->RAS matrix)`` where the matrix maps a
    point of the fixed image to the corresponding point of the moving image (mm). The metric is
    sampled on a random ``sampling`` fraction of voxels; both images are first averaged 2x2x2
    (bin shrink), then a pyramid with shrink factors 2, 1 and Gaussian smoothing 2, 1 mm.
    If optimisation makes the metric worse than the identity,
    the identity (world alignment) is kept.
    """
    import SimpleITK as sitk

    fixed = sitk.Cast(to_sitk(fixed_arr, fixed_affine), sitk.sitkFloat32)
    moving = sitk.Cast(to_sitk(moving_arr, moving_affine), sitk.sitkFloat32)
    centre = fixed.TransformContinuousIndexToPhysicalPoint(
        [(s - 1) / 2.0 for s in fixed.GetSize()])
    init = sitk.Euler3DTransform()
    init.SetCenter(centre)

    reg = registration_method(
        "mattes", sampling=sampling, seed=seed,
        optimizer=GradientDescent(learning_rate=2.0, min_step=0.01, iterations=iterations,
                                  gradient_tolerance=1e-6),
        shrink=[2, 1], sigmas=[2, 1])
    reg.SetInitialTransform(init, inPlace=False)
    try:
        tx = reg.Execute(sitk.BinShrink(fixed, [2] * 3), sitk.BinShrink(moving, [2] * 3))
        if isinstance(tx, sitk.CompositeTransform):
            tx = sitk.Euler3DTransform(tx.GetNthTransform(tx.GetNumberOfTransforms() - 1))
        if _metric(fixed, moving, tx, sampling, seed) > _metric(fixed, moving, init, sampling,
                                                                 seed):
            tx = init
    except RuntimeError:
        tx = init
    out = sitk.Resample(moving, fixed, tx, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    arr, _ = from_sitk(out)
    return arr, transform_to_matrix(tx)


def _metric(fixed, moving, tx, sampling: float, seed: int) -> float:
    """Mattes MI (lower is better) of ``moving`` under ``tx`` at shrink factor 4."""
    import SimpleITK as sitk

    reg = registration_method("mattes", sampling=sampling, seed=seed)
    reg.SetInitialTransform(tx)
    value = reg.MetricEvaluate(sitk.Shrink(fixed, [4] * 3), sitk.Shrink(moving, [4] * 3))
    return float(value) if np.isfinite(value) else np.inf


def coregister(images: dict[str, tuple[NDArray, NDArray] | None], *, register: bool = True,
               iterations: int = 40) -> tuple[str, NDArray, dict[str, NDArray]]:
    """Put every available contrast on the reference grid.

    ``images`` maps ``T1w/T2w/FLAIR/T2starw`` to ``(array, RAS affine)`` or ``None``. Returns
    ``(reference name, reference affine, {name: float32 array on the reference grid})``. Images
    already on the reference grid are still registered (head motion between series) unless
    ``register`` is False, in which case they are only resampled by world coordinates.
    Raises :class:`~tasks.svd.image.DegenerateImageError` for an unusable image. SimpleITK runs
    on :data:`~tasks.imaging.registration.SITK_THREADS` threads here: the same images give the
    same result whatever the caller's thread setting.
    """
    with sitk_threads():
        return _coregister(images, register=register, iterations=iterations)


def _coregister(images, *, register: bool, iterations: int):
    present = {k: v for k, v in images.items() if v is not None}
    ref = choose_reference(list(present))
    ref_arr = check_image(present[ref][0], ref)
    ref_aff = np.asarray(present[ref][1], dtype=float)
    out = {ref: ref_arr}
    for name, (arr, aff) in present.items():
        if name == ref:
            continue
        arr = check_image(arr, name)
        if register:
            out[name] = rigid_register(ref_arr, ref_aff, arr, aff, iterations=iterations)[0]
        else:
            out[name] = resample_to(arr, aff, ref_arr.shape, ref_aff)
    return ref, ref_aff, {k: np.asarray(v, np.float32) for k, v in out.items()}


def resample_to(arr: NDArray, affine: NDArray, shape: tuple[int, ...], ref_affine: NDArray,
                *, order: int = 1) -> NDArray:
    """Resample ``arr`` to the grid (``shape``, ``ref_affine``) by world coordinates."""
    from scipy import ndimage

    if tuple(arr.shape) == tuple(shape) and np.allclose(affine, ref_affine, atol=1e-4):
        return np.asarray(arr)
    m = np.linalg.inv(np.asarray(affine, float)) @ np.asarray(ref_affine, float)
    return ndimage.affine_transform(np.asarray(arr, np.float32), m[:3, :3], m[:3, 3],
                                    output_shape=tuple(shape), order=order, mode="constant")
