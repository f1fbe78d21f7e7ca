"""One builder of SimpleITK registration methods, and the thread settings of the chains.

Every registration of the platform (MR contrasts to one another, the MNI152 template to an MR
session, the template to a CT) is a :func:`registration_method`: a metric (Mattes mutual
information, Mattes D et al., IEEE TMI 2003, or mean squares), its sampling, linear
interpolation, regular-step gradient descent with scales from physical shifts, and the
multi-resolution pyramid. Only what the caller gives is set; the rest keeps SimpleITK's
defaults, so a method built here behaves exactly as the same calls written by hand.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

#: threads of every SimpleITK filter whose result depends on the summation order (registration
#: metrics, N4): one, so that masks and measures are byte-identical on any machine, thread count
#: and run order (ITK splits sums per thread; a different split changes the rounding).
SITK_THREADS = 1


def single_threaded(process):
    """Set a SimpleITK filter or registration method to :data:`SITK_THREADS` threads."""
    process.SetNumberOfThreads(SITK_THREADS)
    return process


@contextmanager
def sitk_threads(n: int = SITK_THREADS) -> Iterator[None]:
    """SimpleITK's global default thread count set to ``n`` within the block (procedural
    calls and filters that build internal filters, e.g. N4's B-spline field evaluation, use
    it), restored afterwards."""
    import SimpleITK as sitk

    before = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(n)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(before)


@dataclass(frozen=True)
class GradientDescent:
    """Regular-step gradient descent (SimpleITK's defaults where not given)."""

    learning_rate: float
    min_step: float
    iterations: int
    relaxation: float = 0.5
    gradient_tolerance: float = 1e-4


def registration_method(metric: str, *, bins: int = 32, sampling: float | None = None,
                        strategy: str = "random", seed: int = 1,
                        optimizer: GradientDescent | None = None,
                        shrink: Sequence[int] | None = None,
                        sigmas: Sequence[float] | None = None, sigmas_in_mm: bool = True,
                        threads: int | None = SITK_THREADS):
    """A SimpleITK ``ImageRegistrationMethod`` with linear interpolation.

    ``metric``: ``"mattes"`` (mutual information, ``bins`` histogram bins) or ``"mean_squares"``;
    ``sampling``: fraction of voxels the metric samples (``strategy`` ``"random"`` or
    ``"regular"``, ``seed``), all voxels when None; ``optimizer``: gradient descent with scales
    from physical shift (none for a method that only evaluates a metric); ``shrink`` and
    ``sigmas`` (mm unless ``sigmas_in_mm`` is False): the pyramid; ``threads``: None keeps
    SimpleITK's default (not reproducible across thread counts).
    """
    import SimpleITK as sitk

    reg = sitk.ImageRegistrationMethod()
    if threads is not None:
        reg.SetNumberOfThreads(threads)
    if metric == "mattes":
        reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=bins)
    elif metric == "mean_squares":
        reg.SetMetricAsMeanSquares()
    else:
        raise ValueError(f"unknown metric {metric!r}: use 'mattes' or 'mean_squares'")
    if sampling is not None:
        kinds = {"random": reg.RANDOM, "regular": reg.REGULAR}
        if strategy not in kinds:
            raise ValueError(f"unknown sampling strategy {strategy!r}: use {sorted(kinds)}")
        reg.SetMetricSamplingStrategy(kinds[strategy])
        reg.SetMetricSamplingPercentage(sampling, seed)
    reg.SetInterpolator(sitk.sitkLinear)
    if optimizer is not None:
        reg.SetOptimizerAsRegularStepGradientDescent(
            learningRate=optimizer.learning_rate, minStep=optimizer.min_step,
            numberOfIterations=optimizer.iterations, relaxationFactor=optimizer.relaxation,
            gradientMagnitudeTolerance=optimizer.gradient_tolerance)
        reg.SetOptimizerScalesFromPhysicalShift()
    if shrink is not None:
        reg.SetShrinkFactorsPerLevel(list(shrink))
    if sigmas is not None:
        reg.SetSmoothingSigmasPerLevel(list(sigmas))
    if not sigmas_in_mm:
        reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOff()
    return reg
