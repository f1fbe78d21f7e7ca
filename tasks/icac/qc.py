"""QC reportlet: calcified voxels coloured by artery over projections of the skull base.

Two panels (axial and coronal average projections of the box around the artery regions, HU
clipped to -50..400 so brain, bone and vessels are all visible; neurological orientation, the
subject's right on the right); the calcified voxels projected on top (maximum label along the
ray), one colour per (artery, side) in the order of :data:`calcisvd.measures.ARTERIES`, and the
outline of the artery regions. Written
with matplotlib's Agg backend as a small PNG (about 20-60 kB).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from calcisvd.measures import ARTERIES

#: one colour per ARTERIES entry (ICA L/R, MCA L/R, BA, VA L/R)
COLOURS = ("#e41a1c", "#ff7f00", "#377eb8", "#00bcd4", "#4daf4a", "#984ea3", "#f781bf")


def _project(labels: NDArray, axis: int) -> NDArray:
    """Label shown along a projection: the highest label present (0 = none)."""
    return labels.max(axis=axis)


def plot_reportlet(hu: NDArray, spacing: tuple[float, ...], calcium: NDArray,
                   regions: NDArray, out_png: str | Path, title: str = "",
                   dpi: int = 80) -> Path:
    """Write the reportlet PNG (see module doc) and return its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from scipy import ndimage

    box = ndimage.find_objects((regions > 0).astype(np.uint8))
    if box and box[0] is not None:
        sl = tuple(slice(max(0, s.start - 10), min(n, s.stop + 10))
                   for s, n in zip(box[0], hu.shape, strict=True))
    else:
        sl = tuple(slice(0, n) for n in hu.shape)
    h, c, r = hu[sl], calcium[sl], regions[sl]
    cmap = ListedColormap(COLOURS)
    fig, axes = plt.subplots(1, 2, figsize=(8, 4), dpi=dpi)
    for ax, axis, name, aspect in ((axes[0], 2, "axial", spacing[1] / spacing[0]),
                                   (axes[1], 1, "coronal", spacing[2] / spacing[0])):
        avg = np.clip(h, -50, 400).mean(axis=axis)
        ax.imshow(avg.T, cmap="gray", origin="lower", vmin=-50, vmax=400, aspect=aspect,
                  interpolation="nearest")
        ax.text(0.02, 0.5, "L", color="white", transform=ax.transAxes, fontsize=8)
        ax.text(0.95, 0.5, "R", color="white", transform=ax.transAxes, fontsize=8)
        reg = (r > 0).max(axis=axis)
        ax.contour(reg.T.astype(float), levels=[0.5], colors="yellow", linewidths=0.5,
                   alpha=0.6)
        lab = _project(c, axis).astype(float)
        lab[lab == 0] = np.nan
        ax.imshow(lab.T - 1, cmap=cmap, vmin=-0.5, vmax=len(COLOURS) - 0.5, origin="lower",
                  aspect=aspect, interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.set_axis_off()
    handles = [plt.Line2D([], [], marker="s", ls="", color=col, label=f"{a} {s}")
               for (a, s), col in zip(ARTERIES, COLOURS, strict=True)]
    fig.legend(handles=handles, loc="lower center", ncol=7, fontsize=7, frameon=False)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.06, 1, 0.95))
    out = Path(out_png)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out
