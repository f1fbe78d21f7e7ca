"""Seeded bootstrap confidence intervals for correlations.

Subjects (pairs) are resampled with replacement (``scipy.stats.bootstrap`` with
``paired=True``); the interval is BCa (bias-corrected and accelerated, Efron 1987; DiCiccio &
Efron, Stat Sci 1996) or percentile. With ties and a 3-level exposure some resamples have a
constant variable; those give NaN and are reported in ``note`` (BCa then falls back to the
percentile interval over the finite resamples).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class BootstrapCI:
    """A bootstrap interval for a statistic."""

    estimate: float
    low: float
    high: float
    method: str
    n_resamples: int
    seed: int
    note: str = ""


def spearman_r(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Spearman r along ``axis`` (vectorized; NaN when a resample has a constant variable)."""
    rx = stats.rankdata(x, axis=axis)
    ry = stats.rankdata(y, axis=axis)
    rx = rx - rx.mean(axis=axis, keepdims=True)
    ry = ry - ry.mean(axis=axis, keepdims=True)
    den = np.sqrt((rx ** 2).sum(axis) * (ry ** 2).sum(axis))
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rx * ry).sum(axis) / den


def bootstrap_correlation_ci(x: Sequence[float], y: Sequence[float], *, n_resamples: int = 2000,
                             seed: int = 0, method: str = "BCa",
                             confidence: float = 0.95) -> BootstrapCI:
    """Bootstrap CI of Spearman's r between paired x and y (missing pairs left out)."""
    xa, ya = np.asarray(x, float), np.asarray(y, float)
    keep = np.isfinite(xa) & np.isfinite(ya)
    xa, ya = xa[keep], ya[keep]
    nan = math.nan
    if len(xa) < 4 or np.ptp(xa) == 0 or np.ptp(ya) == 0:
        return BootstrapCI(nan, nan, nan, method, n_resamples, seed,
                           "not computed: fewer than 4 pairs or a constant variable")
    est = float(spearman_r(xa, ya))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(xa), size=(n_resamples, len(xa)))
    boot = spearman_r(xa[idx], ya[idx], axis=-1)
    n_bad = int((~np.isfinite(boot)).sum())
    note = f"{n_bad} resample(s) with a constant variable ignored" if n_bad else ""
    used = method
    if method.upper() == "BCA" and n_bad == 0:
        res = stats.bootstrap((xa, ya), spearman_r, paired=True, vectorized=True,
                              n_resamples=n_resamples, method="BCa",
                              confidence_level=confidence, rng=np.random.default_rng(seed))
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if np.isfinite(low) and np.isfinite(high):
            return BootstrapCI(est, low, high, "BCa", n_resamples, seed, note)
        note = "; ".join(filter(None, [note, "BCa degenerate, percentile used"]))
    elif method.upper() == "BCA":
        note = "; ".join(filter(None, [note, "percentile used instead of BCa"]))
    used = "percentile"
    alpha = (1 - confidence) / 2
    good = boot[np.isfinite(boot)]
    low, high = np.percentile(good, [100 * alpha, 100 * (1 - alpha)])
    return BootstrapCI(est, float(low), float(high), used, n_resamples, seed, note)
