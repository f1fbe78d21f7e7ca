"""SVG reportlets in the NiPreps way (matplotlib's SVG backend; no nireports dependency).

Each reportlet is a standalone, zoomable SVG (vector contours over an embedded greyscale slice
image) like the reportlets of fMRIPrep/sMRIPrep (Esteban O et al., Nat Methods 2019):

* :func:`mosaic_svg` - rows of axial, coronal and sagittal slices of one image with mask
  **contours** (brain mask, ventricles, intracranial space) and semi-transparent **fills**
  (WMH, microbleeds, lacunes, PVS, calcium).
* :func:`registration_svg` - the registration check: the template's outline on the subject
  image **before** (template at its own scanner coordinates, no transform) and **after**
  registration, side by side, with the Dice overlap of the template mask and the subject mask
  in each case.

Every panel is aspect-correct: arrays are reoriented to the closest RAS axes and each panel's
pixel aspect is the ratio of the voxel sizes in mm, so 0.5 x 0.5 x 5 mm voxels show a coronal
slice 10x taller per voxel than wide. Orientation: neurological (the subject's right on the
right, anterior up in axial views, superior up otherwise). Pure functions: arrays in, SVG text
out; deterministic (fixed SVG hash salt, no date in the metadata).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

#: margin kept around the mask's bounding box, mm
MARGIN_MM = 6.0
#: width of one panel, inches (at 100 dpi the embedded slice image is ~200 px wide)
PANEL_IN = 2.0
DPI = 100
VIEWS = ("axial", "coronal", "sagittal")


def to_ras(arr: NDArray, affine: NDArray) -> tuple[NDArray, tuple[float, float, float]]:
    """``arr`` reoriented to the closest RAS axes and its voxel sizes (mm) in that order."""
    import nibabel as nib

    affine = np.asarray(affine, float)
    ornt = nib.orientations.io_orientation(affine)
    zin = np.sqrt((affine[:3, :3] ** 2).sum(axis=0))
    zooms = [0.0, 0.0, 0.0]
    for i, (out_axis, _) in enumerate(ornt):
        zooms[int(out_axis)] = float(zin[i])
    out = nib.orientations.apply_orientation(np.asarray(arr), ornt)
    return np.ascontiguousarray(out), (zooms[0], zooms[1], zooms[2])


def template_on_grid(template: NDArray, template_affine: NDArray, shape: Sequence[int],
                     affine: NDArray, subject_to_template: NDArray | None = None) -> NDArray:
    """A template image resampled (linear) onto a subject grid.

    ``subject_to_template`` is the 4x4 RAS mm map of a subject point to its template point
    (the registration result); ``None`` places the template at its own coordinates (before
    registration).
    """
    from scipy import ndimage

    m = np.eye(4) if subject_to_template is None else np.asarray(subject_to_template, float)
    vox = np.linalg.inv(np.asarray(template_affine, float)) @ m @ np.asarray(affine, float)
    return ndimage.affine_transform(np.asarray(template, np.float32), vox[:3, :3], vox[:3, 3],
                                    output_shape=tuple(shape), order=1, cval=0.0)


def dice(a: NDArray, b: NDArray) -> float | None:
    """Dice overlap 2|A & B| / (|A| + |B|) of two boolean masks (None when both are empty)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    n = int(a.sum() + b.sum())
    return None if n == 0 else 2.0 * float((a & b).sum()) / n


def crop_box(mask: NDArray, zooms: Sequence[float], margin_mm: float = MARGIN_MM
             ) -> tuple[slice, ...]:
    """Bounding box of ``mask`` grown by ``margin_mm`` (the whole array when it is empty)."""
    idx = np.argwhere(mask)
    if idx.size == 0:
        return tuple(slice(0, n) for n in mask.shape)
    lo, hi = idx.min(axis=0), idx.max(axis=0) + 1
    pad = [int(np.ceil(margin_mm / z)) for z in zooms]
    return tuple(slice(max(0, int(a) - p), min(n, int(b) + p))
                 for a, b, p, n in zip(lo, hi, pad, mask.shape, strict=True))


def _take(arr: NDArray, view: str, k: int) -> NDArray:
    """The 2-D slice of view ``view`` at index ``k``, as shown (rows = vertical axis)."""
    sl = {"axial": lambda: arr[:, :, k], "coronal": lambda: arr[:, k, :],
          "sagittal": lambda: arr[k, :, :]}[view]()
    return np.asarray(sl).T


def _aspect(view: str, zooms: Sequence[float]) -> float:
    """Height/width of one pixel of view ``view`` (mm / mm)."""
    zx, zy, zz = zooms
    return {"axial": zy / zx, "coronal": zz / zx, "sagittal": zz / zy}[view]


def _axis(view: str) -> int:
    return {"axial": 2, "coronal": 1, "sagittal": 0}[view]


def spread_slices(mask: NDArray, view: str, n: int) -> list[int]:
    """``n`` slice indices evenly spread over the extent of ``mask`` along the view's axis."""
    ax = _axis(view)
    occupied = np.flatnonzero(np.asarray(mask).any(axis=tuple(i for i in range(3) if i != ax)))
    if occupied.size == 0:
        size = mask.shape[ax]
        return sorted({int(k) for k in np.linspace(0, size - 1, n + 2)[1:-1]})
    ks = np.linspace(occupied[0], occupied[-1], n + 2)[1:-1]
    return sorted({int(round(k)) for k in ks})


def loaded_slices(masks: Sequence[NDArray], brain: NDArray, view: str, n: int) -> list[int]:
    """Slices with the most lesion voxels first (half of ``n``), the rest spread over ``brain``."""
    ax = _axis(view)
    other = tuple(i for i in range(3) if i != ax)
    load = np.zeros(brain.shape[ax])
    for m in masks:
        if m is not None and np.any(m):
            load += np.asarray(m, bool).sum(axis=other)
    ks = [int(k) for k in np.argsort(-load, kind="stable") if load[k] > 0][: n // 2]
    for k in spread_slices(brain, view, n):
        if len(ks) >= n:
            break
        if all(abs(k - j) > 1 for j in ks):
            ks.append(k)
    return sorted(ks)


def _window(image: NDArray, mask: NDArray, window: tuple[float, float] | None
            ) -> tuple[float, float]:
    if window is not None:
        return window
    vals = image[mask] if np.any(mask) else image.ravel()
    if vals.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(vals, [1, 99.5])
    return float(lo), float(hi if hi > lo else lo + 1)


def _figure(rows: list[tuple[str, list[int]]], box_shape: Sequence[int],
            zooms: Sequence[float], title: str):
    from matplotlib.figure import Figure

    ncol = max(len(ks) for _, ks in rows)
    heights = []
    for view, _ in rows:
        h, w = _take(np.zeros(box_shape, bool), view, 0).shape
        heights.append(PANEL_IN * h * _aspect(view, zooms) / max(w, 1))
    fig = Figure(figsize=(PANEL_IN * ncol, sum(heights) + (0.45 if title else 0.1)), dpi=DPI)
    gs = fig.add_gridspec(len(rows), ncol, height_ratios=heights, wspace=0.02, hspace=0.04,
                          left=0.005, right=0.995, bottom=0.005,
                          top=1 - (0.45 if title else 0.1) / (sum(heights) + 0.45))
    if title:
        fig.suptitle(title, fontsize=8, y=0.995, va="top")
    return fig, gs


def _panel(ax, image: NDArray, view: str, k: int, zooms, lo: float, hi: float,
           contours: Mapping[str, tuple[NDArray, str]],
           fills: Mapping[str, tuple[NDArray, str]], offset: Sequence[int] = (0, 0, 0)
           ) -> None:
    from matplotlib.colors import ListedColormap

    asp = _aspect(view, zooms)
    ax.imshow(_take(image, view, k), cmap="gray", vmin=lo, vmax=hi, origin="lower",
              aspect=asp, interpolation="nearest")
    for mask, colour in fills.values():
        sl = _take(mask, view, k) > 0
        if sl.any():
            ax.imshow(np.ma.masked_where(~sl, sl.astype(float)), cmap=ListedColormap([colour]),
                      alpha=0.55, origin="lower", aspect=asp, interpolation="nearest")
    for mask, colour in contours.values():
        sl = (_take(mask, view, k) > 0.5).astype(float)
        if 0 < sl.sum() < sl.size:
            ax.contour(sl, levels=[0.5], colors=[colour], linewidths=0.8)
    # slice label: index on the RAS-reoriented full grid (the crop offset added back)
    ax.text(0.02, 0.02, f"{view[0].upper()} {k + offset[_axis(view)]}", color="w", fontsize=5,
            transform=ax.transAxes)
    ax.set_axis_off()


def _legend(fig, named: Mapping[str, tuple[NDArray, str]]) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=c, lw=2, label=name) for name, (_, c) in named.items()]
    if handles:
        fig.legend(handles=handles, loc="upper left", ncol=len(handles), fontsize=6,
                   frameon=False, bbox_to_anchor=(0.0, 1.0))


def _svg(fig) -> str:
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    FigureCanvasSVG(fig)
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "calcisvd", "svg.image_inline": True,
                                 "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def mosaic_svg(image: NDArray, affine: NDArray, *, frame: NDArray,
               contours: Mapping[str, tuple[NDArray, str]] | None = None,
               fills: Mapping[str, tuple[NDArray, str]] | None = None,
               n_axial: int = 6, n_other: int = 3, title: str = "",
               window: tuple[float, float] | None = None) -> str:
    """SVG with rows of axial, coronal and sagittal slices of ``image`` (cropped to ``frame``,
    e.g. the brain mask) with coloured mask contours and fills (``name -> (mask, colour)``).
    Slices: the most lesion-loaded ones first when fills are given, else spread over ``frame``.
    """
    contours, fills = dict(contours or {}), dict(fills or {})
    img, zooms = to_ras(image, affine)
    fr = to_ras(np.asarray(frame) > 0, affine)[0]
    box = crop_box(fr, zooms)
    img, fr = img[box], fr[box]
    cont = {k: (to_ras(m, affine)[0][box], c) for k, (m, c) in contours.items() if m is not None}
    fil = {k: (to_ras(m, affine)[0][box], c) for k, (m, c) in fills.items() if m is not None}
    lo, hi = _window(img, fr, window)
    rows = []
    for view in VIEWS:
        n = n_axial if view == "axial" else n_other
        ks = (loaded_slices([m for m, _ in fil.values()], fr, view, n) if fil
              else spread_slices(fr, view, n))
        rows.append((view, ks))
    fig, gs = _figure(rows, img.shape, zooms, title)
    for r, (view, ks) in enumerate(rows):
        for c, k in enumerate(ks):
            _panel(fig.add_subplot(gs[r, c]), img, view, k, zooms, lo, hi, cont, fil,
                   [b.start for b in box])
    _legend(fig, {**cont, **fil})
    return _svg(fig)


def registration_svg(image: NDArray, affine: NDArray, subject_mask: NDArray,
                     before: NDArray, after: NDArray, *, title: str = "",
                     window: tuple[float, float] | None = None,
                     colour: str = "#ff3030", dice_label: bool = True) -> str:
    """SVG of the template outline (``before``/``after`` registration, template probabilities
    on the subject grid, contour at 0.5) over ``image``: one row each, axial, coronal and
    sagittal slices through the centre of ``subject_mask``; each row's label gives the Dice of
    the template mask with ``subject_mask`` (``dice_label=False``: not when that mask was
    made from the registration itself)."""
    img, zooms = to_ras(image, affine)
    sm = to_ras(np.asarray(subject_mask) > 0, affine)[0]
    b, a = to_ras(before, affine)[0], to_ras(after, affine)[0]
    box = crop_box(sm | (b > 0.5) | (a > 0.5), zooms)
    img, sm, b, a = img[box], sm[box], b[box], a[box]
    lo, hi = _window(img, sm, window)
    idx = np.argwhere(sm)
    centre = (idx.mean(axis=0) if idx.size else np.asarray(img.shape) / 2).astype(int)
    ks = [int(centre[_axis(v)]) for v in VIEWS]
    rows = [("axial", [ks[0]]), ("coronal", [ks[1]]), ("sagittal", [ks[2]])]
    from matplotlib.figure import Figure

    heights = [PANEL_IN * _take(img, v, 0).shape[0] * _aspect(v, zooms)
               / max(_take(img, v, 0).shape[1], 1) for v, _ in rows]
    fig = Figure(figsize=(PANEL_IN * 3, 2 * max(heights) + 0.6), dpi=DPI)
    gs = fig.add_gridspec(2, 3, wspace=0.02, hspace=0.12, left=0.005, right=0.995,
                          bottom=0.005, top=0.9)
    if title:
        fig.suptitle(title, fontsize=8, y=0.995, va="top")
    for r, (label, tpl) in enumerate((("before", b), ("after", a))):
        d = dice(tpl > 0.5, sm) if dice_label else None
        for c, (view, (k,)) in enumerate(rows):
            ax = fig.add_subplot(gs[r, c])
            _panel(ax, img, view, k, zooms, lo, hi, {"template": (tpl, colour)}, {},
                   [b.start for b in box])
            if c == 0:
                ax.set_title(f"{label} registration: Dice {d:.2f}" if d is not None
                             else f"{label} registration", fontsize=7, loc="left")
    return _svg(fig)
