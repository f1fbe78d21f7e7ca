"""The registration builder: what it sets, what it refuses, same result as hand-built."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.imaging.registration import (
    SITK_THREADS,
    GradientDescent,
    registration_method,
    sitk_threads,
)
from tasks.imaging.space import to_sitk


def _blob(shift: float = 0.0):
    g = np.mgrid[:32, :32, :32].astype(np.float32)
    d2 = (g[0] - 16 - shift) ** 2 + (g[1] - 15) ** 2 + (g[2] - 17) ** 2
    return to_sitk(np.exp(-d2 / 40.0).astype(np.float32), np.diag([2.0, 2.0, 2.0, 1.0]))


def _by_hand():
    import SimpleITK as sitk

    reg = sitk.ImageRegistrationMethod()
    reg.SetNumberOfThreads(1)
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(0.3, 5)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(
        learningRate=1.0, minStep=0.01, numberOfIterations=30, gradientMagnitudeTolerance=1e-6)
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetShrinkFactorsPerLevel([2, 1])
    reg.SetSmoothingSigmasPerLevel([2.0, 1.0])
    return reg


def test_the_builder_gives_the_same_transform_as_the_hand_written_setup():
    import SimpleITK as sitk

    fixed, moving = _blob(), _blob(1.5)
    built = registration_method(
        "mattes", sampling=0.3, seed=5,
        optimizer=GradientDescent(learning_rate=1.0, min_step=0.01, iterations=30,
                                  gradient_tolerance=1e-6),
        shrink=[2, 1], sigmas=[2.0, 1.0])
    results = []
    with sitk_threads(1):  # the pyramid's filters use the global default thread count
        for reg in (built, _by_hand()):
            reg.SetInitialTransform(sitk.TranslationTransform(3), inPlace=False)
            results.append(reg.Execute(fixed, moving).GetParameters())
    assert results[0] == results[1]
    assert abs(results[0][0]) > 1.0  # it did move (about 1.5 voxels = 3 mm along x)
    assert built.GetNumberOfThreads() == SITK_THREADS


@pytest.mark.parametrize("kwargs, msg", [({"metric": "correlation"}, "unknown metric"),
                                         ({"metric": "mattes", "sampling": 0.1,
                                           "strategy": "stratified"}, "sampling strategy")])
def test_the_builder_refuses_unknown_choices(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        registration_method(**kwargs)


def test_sitk_threads_restores_the_global_default():
    import SimpleITK as sitk

    before = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    with sitk_threads(1):
        assert sitk.ProcessObject.GetGlobalDefaultNumberOfThreads() == 1
    assert sitk.ProcessObject.GetGlobalDefaultNumberOfThreads() == before
