"""Report figures (matplotlib, Agg backend): PNG files written into the report folder.

* markers by severity group: box plot with the subjects overlaid (jittered);
* spaghetti plots: each subject's baseline to follow-up line, coloured by severity group,
  with the group means in bold;
* total calcium volume (log1p axis) against WMH volume, coloured by group;
* truth vs measured (simulated cohorts): measured against ground truth with the identity line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

GROUPS = ("none_mild", "moderate", "severe")
COLOURS = {"none_mild": "#4C72B0", "moderate": "#DD8452", "severe": "#C44E52"}


def use_agg():
    """matplotlib's pyplot on the Agg backend (files only, no display); returns pyplot."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _plt():
    return use_agg()


def _grid(n: int, ncols: int = 3):
    plt = _plt()
    nrows = max(1, int(np.ceil(n / ncols)))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.4 * nrows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    return plt, fig, axes.ravel()


def axis_label(label: str, unit: str) -> str:
    """An axis title with its unit: ``WMH volume (cm³)``, ``Lacunes (count)``, ``Fazekas
    score (grade 0-6)``."""
    if not unit:
        return label
    if unit[0].isdigit() and "-" in unit:
        unit = f"grade {unit}"
    return f"{label} ({unit})"


def _unit(marker: Sequence[str]) -> str:
    return marker[2] if len(marker) > 2 else ""


def _save(plt, fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def markers_by_group(baseline: pd.DataFrame, markers: Sequence[tuple[str, ...]],
                     path: Path, seed: int = 0) -> Path:
    """Box plots of each (name, label, unit) marker by severity group, subjects overlaid."""
    plt, fig, axes = _grid(len(markers))
    rng = np.random.default_rng(seed)
    for ax, mk in zip(axes, markers, strict=False):
        name, label = mk[0], mk[1]
        data = [pd.to_numeric(baseline.loc[baseline["severity_group"] == g, name],
                              errors="coerce").dropna().to_numpy() for g in GROUPS]
        ax.boxplot([x if len(x) else [np.nan] for x in data], showfliers=False)
        ax.set_xticks(range(1, len(GROUPS) + 1), [f"{g}\n(n={len(x)})" for g, x in
                                                  zip(GROUPS, data, strict=True)])
        for i, (g, x) in enumerate(zip(GROUPS, data, strict=True)):
            ax.scatter(i + 1 + rng.uniform(-0.15, 0.15, len(x)), x, s=8, alpha=0.5,
                       color=COLOURS[g])
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("ICAC severity group")
        ax.set_ylabel(axis_label(label, _unit(mk)), fontsize=8)
    return _save(plt, fig, path)


def spaghetti(change: pd.DataFrame, markers: Sequence[tuple[str, ...]], path: Path) -> Path:
    """Baseline to follow-up line per subject and marker; group means in bold."""
    from matplotlib.collections import LineCollection

    plt, fig, axes = _grid(len(markers))
    for ax, mk in zip(axes, markers, strict=False):
        name, label = mk[0], mk[1]
        b, f = f"{name}_baseline", f"{name}_followup"
        if b not in change or f not in change:
            ax.set_visible(False)
            continue
        for g in GROUPS:
            sub = change[change["severity_group"] == g][[b, f]].apply(
                pd.to_numeric, errors="coerce").dropna()
            segments = [[(0.0, y0), (1.0, y1)] for y0, y1 in zip(sub[b], sub[f], strict=True)]
            ax.add_collection(LineCollection(segments, colors=COLOURS[g], alpha=0.25,
                                             linewidths=0.7))
            if len(sub):
                ax.plot([0, 1], [sub[b].mean(), sub[f].mean()], color=COLOURS[g], lw=3,
                        label=f"{g} (n={len(sub)})")
        ax.autoscale_view()
        ax.set_xticks([0, 1], ["baseline", "1 year"])
        ax.set_xlabel("visit (time since baseline)")
        ax.set_ylabel(axis_label(label, _unit(mk)), fontsize=8)
        ax.set_title(label, fontsize=10)
        ax.legend(fontsize=7)
    return _save(plt, fig, path)


def calcium_vs_wmh(baseline: pd.DataFrame, path: Path) -> Path:
    """Scatter of log1p(total calcium volume, mm^3) against WMH volume (cm^3) by group."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    for g in GROUPS:
        sub = baseline[baseline["severity_group"] == g]
        x = np.log1p(pd.to_numeric(sub["total_calcium_volume_mm3"], errors="coerce"))
        y = pd.to_numeric(sub["wmh_volume_cm3"], errors="coerce")
        ax.scatter(x, y, s=14, alpha=0.7, color=COLOURS[g], label=f"{g} (n={len(sub)})")
    ax.set_xlabel("log(1 + total calcium volume / mm³)")
    ax.set_ylabel("WMH volume (cm³)")
    ax.legend(fontsize=8)
    return _save(plt, fig, path)


def truth_vs_measured(measured: pd.DataFrame, truth: pd.DataFrame,
                      markers: Sequence[tuple[str, ...]], path: Path) -> Path:
    """Measured against ground-truth value per subject, identity line dashed."""
    merged = measured.merge(truth, on="subject", suffixes=("", "_truth"))
    plt, fig, axes = _grid(len(markers))
    for ax, mk in zip(axes, markers, strict=False):
        name, label = mk[0], mk[1]
        if f"{name}_truth" not in merged:
            ax.set_visible(False)
            continue
        # float: a nullable column's missing values become NaN, not pd.NA
        x = pd.to_numeric(merged[f"{name}_truth"], errors="coerce").astype(float)
        y = pd.to_numeric(merged[name], errors="coerce").astype(float)
        both = x.notna() & y.notna()
        if not both.any():  # e.g. lacunes on thick slices: not measured, nothing to compare
            ax.text(0.5, 0.5, "not measured", ha="center", va="center",
                    transform=ax.transAxes, color="0.4")
            ax.set_title(label, fontsize=10)
            continue
        ax.scatter(x[both], y[both], s=10, alpha=0.6)
        lo = float(min(x[both].min(), y[both].min()))
        hi = float(max(x[both].max(), y[both].max()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        ax.set_xlabel(axis_label("truth", _unit(mk)))
        ax.set_ylabel(axis_label("measured", _unit(mk)))
        ax.set_title(label, fontsize=10)
    return _save(plt, fig, path)
