"""Multiple-comparison control across a family of P values.

* Holm (Scand J Stat 1979), family-wise error: sort p ascending, adjusted
  p_(i) = max_{j <= i} min(1, (m - j + 1) p_(j));
* Benjamini-Hochberg (JRSS B 1995), false discovery rate: adjusted
  p_(i) = min_{j >= i} min(1, m p_(j) / j).

Missing P values (NaN: a test that could not be computed) are kept as NaN and not counted in
the family size m.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _prepare(pvalues: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p = np.asarray(pvalues, float)
    ok = np.isfinite(p)
    return p, ok, np.argsort(p[ok], kind="mergesort")


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm step-down adjusted P values (NaN stays NaN)."""
    p, ok, order = _prepare(pvalues)
    out = np.full(p.shape, np.nan)
    q = p[ok][order]
    m = len(q)
    if m == 0:
        return out
    adj = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * q))
    res = np.empty(m)
    res[order] = adj
    out[ok] = res
    return out


def benjamini_hochberg(pvalues: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg step-up adjusted P values (q values; NaN stays NaN)."""
    p, ok, order = _prepare(pvalues)
    out = np.full(p.shape, np.nan)
    q = p[ok][order]
    m = len(q)
    if m == 0:
        return out
    adj = np.minimum(1.0, q * m / np.arange(1, m + 1))
    adj = np.minimum.accumulate(adj[::-1])[::-1]
    res = np.empty(m)
    res[order] = adj
    out[ok] = res
    return out
