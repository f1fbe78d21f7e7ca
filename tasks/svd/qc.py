"""QC reportlets: axial slices of the reference image with lesion overlays (matplotlib Agg)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

#: overlay name -> (colour, label)
OVERLAYS = {
    "wmh": ("#ffd400", "WMH"),
    "microbleeds": ("#ff2020", "microbleeds"),
    "lacunes": ("#00e5ff", "lacunes"),
    "pvs": ("#7cff4f", "PVS"),
    "ventricles": ("#4060ff", "ventricles"),
}


def axial_axis(affine: NDArray) -> int:
    """Array axis most aligned with the RAS superior (z) direction."""
    a = np.abs(np.asarray(affine)[:3, :3])
    return int(np.argmax(a[2] / np.linalg.norm(a, axis=0)))


def pick_slices(masks: Sequence[NDArray], brain: NDArray, axis: int, n: int = 6) -> list[int]:
    """Axial slice indices: those with the most lesion voxels, then evenly spaced brain slices."""
    other = tuple(i for i in range(3) if i != axis)
    load = np.zeros(brain.shape[axis])
    for m in masks:
        if m is not None and m.any():
            load += m.sum(axis=other) / max(m.sum(), 1)
    ks = [int(k) for k in np.argsort(-load) if load[k] > 0][: n // 2]
    occupied = np.flatnonzero(brain.any(axis=other))
    if occupied.size:
        for k in np.linspace(occupied[0], occupied[-1], n + 2)[1:-1].astype(int):
            if len(ks) >= n:
                break
            if all(abs(k - j) > 2 for j in ks):
                ks.append(int(k))
    return sorted(ks)


def overlay_png(image: NDArray, affine: NDArray, masks: Mapping[str, NDArray | None],
                brain: NDArray, out_file: str | Path, *, title: str = "",
                n_slices: int = 6) -> str:
    """Write a PNG with ``n_slices`` axial slices of ``image`` and coloured mask contours.

    Lesion masks named as in :data:`OVERLAYS` are drawn as filled semi-transparent colours.
    Returns the path written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    axis = axial_axis(affine)
    ks = pick_slices([m for m in masks.values() if m is not None], brain, axis, n_slices)
    vals = image[brain] if brain.any() else image.ravel()
    lo, hi = np.percentile(vals, [1, 99.5]) if vals.size else (0, 1)
    fig, axes = plt.subplots(1, max(1, len(ks)), figsize=(2.6 * max(1, len(ks)), 3.2),
                             squeeze=False)
    for ax, k in zip(axes[0], ks, strict=False):
        sl = np.take(image, k, axis=axis)
        ax.imshow(np.rot90(sl), cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
        for name, m in masks.items():
            if m is None or name not in OVERLAYS:
                continue
            ms = np.rot90(np.take(m, k, axis=axis) > 0)
            if ms.any():
                cmap = ListedColormap([OVERLAYS[name][0]])
                ax.imshow(np.ma.masked_where(~ms, ms), cmap=cmap, alpha=0.6,
                          interpolation="nearest")
        ax.set_title(f"slice {k}", fontsize=8)
        ax.axis("off")
    handles = [Patch(color=OVERLAYS[n][0], label=OVERLAYS[n][1]) for n, m in masks.items()
               if m is not None and n in OVERLAYS]
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8,
                   frameon=False)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.06, 1, 0.95))
    out = Path(out_file)
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return str(out)


def svd_reportlets(images: Mapping[str, NDArray], affine: NDArray,
                   masks: Mapping[str, NDArray | None], out_dir: str | Path,
                   measures: Mapping | None = None) -> list[str]:
    """The MRI reportlets: WMH (+ventricles) on FLAIR, microbleeds on T2*w/T2w, lacunes and PVS
    on T2w/T1w/FLAIR. Returns the PNG paths (only for lesion types that were computed)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    brain = np.asarray(masks["brain"]) > 0
    m = dict(measures or {})
    files = []
    plans = [
        ("wmh", ("FLAIR",), ("wmh", "ventricles"),
         "WMH {wmh_volume_cm3} cm3, Fazekas PV {fazekas_pv} deep {fazekas_deep}"),
        ("microbleeds", ("T2starw", "T2w"), ("microbleeds",),
         "microbleeds {microbleed_count} on {microbleed_contrast}"),
        ("lacunes", ("T2w", "FLAIR", "T1w"), ("lacunes", "pvs"),
         "lacunes {lacune_count}, PVS {pvs_count}"),
    ]
    for key, contrasts, names, caption in plans:
        if masks.get(key) is None:
            continue
        base = next((c for c in contrasts if c in images), None)
        if base is None:
            continue
        title = f"{base}: " + caption.format_map({k: m.get(k) for k in _fields(caption)})
        files.append(overlay_png(images[base], affine, {n: masks.get(n) for n in names}, brain,
                                 out_dir / f"desc-{key}_overlay.png", title=title))
    return files


def _fields(fmt: str) -> list[str]:
    import string

    return [f for _, f, _, _ in string.Formatter().parse(fmt) if f]
