"""SVG reportlets: aspect-correct panels for anisotropic voxels, template outline before/after
registration, contours and fills present, deterministic output."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tasks.qc.reportlets import (
    dice,
    mosaic_svg,
    registration_svg,
    template_on_grid,
    to_ras,
)


def _cube(zooms, side_mm=40.0, pad_mm=10.0):
    """An image and a mask: a cube of ``side_mm`` on a grid of voxel size ``zooms``."""
    n = [int(round((side_mm + 2 * pad_mm) / z)) for z in zooms]
    aff = np.diag([*zooms, 1.0])
    idx = np.indices(n).astype(float)
    mm = [idx[i] * zooms[i] for i in range(3)]
    inside = np.ones(n, bool)
    for a in mm:
        inside &= (a >= pad_mm) & (a < pad_mm + side_mm)
    img = np.where(inside, 100.0, 10.0) + mm[0] * 0.1
    return img.astype(np.float32), aff, inside


def _image_boxes(svg: str) -> list[tuple[float, float]]:
    """(width, height) of every embedded raster image in the SVG."""
    out = []
    for tag in re.findall(r"<image [^>]*>", svg):
        w = float(re.search(r'width="([\d.]+)', tag).group(1))
        h = float(re.search(r'height="([\d.]+)', tag).group(1))
        out.append((w, h))
    return out


@pytest.mark.parametrize("zooms", [(0.5, 0.5, 5.0), (1.0, 0.5, 1.0), (1.0, 1.0, 1.0)])
def test_panels_are_aspect_correct_for_anisotropic_voxels(zooms):
    img, aff, cube = _cube(zooms, pad_mm=0.0)  # the crop margin cannot grow the box
    svg = mosaic_svg(img, aff, frame=cube, contours={"cube": (cube, "#ff0000")},
                     n_axial=2, n_other=1)
    boxes = _image_boxes(svg)
    assert len(boxes) == 4  # 2 axial + 1 coronal + 1 sagittal
    # a cube is square in mm in every view: each panel must be square too
    # (uncorrected, a coronal slice of 0.5 x 5 mm voxels would be 10 times wider than tall)
    for w, h in boxes:
        assert w / h == pytest.approx(1.0, rel=0.08)


def test_to_ras_reorders_axes_and_zooms():
    arr = np.zeros((4, 5, 6))
    arr[0, 0, 0] = 1
    aff = np.array([[0, 0, -2.0, 0], [3.0, 0, 0, 0], [0, 0.5, 0, 0], [0, 0, 0, 1]])
    out, zooms = to_ras(arr, aff)
    assert out.shape == (6, 4, 5) and zooms == (2.0, 3.0, 0.5)
    assert out[5, 0, 0] == 1  # array axis 2 ran right-to-left: flipped


def test_template_on_grid_follows_the_registration():
    tpl = np.zeros((20, 20, 20), np.float32)
    tpl[5:15, 5:15, 5:15] = 1
    taff = np.diag([2.0, 2.0, 2.0, 1.0])
    aff = np.diag([1.0, 1.0, 1.0, 1.0])
    before = template_on_grid(tpl, taff, (40, 40, 40), aff) > 0.5
    assert before[12:28, 12:28, 12:28].all() and not before[5, 20, 20]
    shift = np.eye(4)
    shift[0, 3] = 6.0  # subject point x maps to template x + 6 mm: the cube moves by -6
    after = template_on_grid(tpl, taff, (40, 40, 40), aff, shift) > 0.5
    assert after[6:22, 12:28, 12:28].all() and not after[26, 20, 20]
    assert dice(before, before) == 1.0 and dice(before, after) < 0.8
    assert dice(np.zeros(3, bool), np.zeros(3, bool)) is None


def test_registration_svg_reports_dice_and_is_deterministic():
    img, aff, cube = _cube((1.0, 1.0, 2.0))
    shifted = np.roll(cube, 8, axis=0).astype(np.float32)
    svg = registration_svg(img, aff, cube, shifted, cube.astype(np.float32), title="t")
    assert "before registration: Dice 0.80" in svg  # 40 mm cube shifted by 8 mm: 32/40
    assert "after registration: Dice 1.00" in svg
    assert svg == registration_svg(img, aff, cube, shifted, cube.astype(np.float32), title="t")


def test_mosaic_shows_fills_and_legend():
    img, aff, cube = _cube((1.0, 1.0, 3.0))
    lesion = np.zeros_like(cube)
    lesion[28:32, 28:32, 10:12] = True
    svg = mosaic_svg(img, aff, frame=cube, contours={"brain mask": (cube, "#ff3030")},
                     fills={"WMH": (lesion, "#ffd400")})
    assert "brain mask" in svg and "WMH" in svg and svg.startswith("<?xml")
    # the lesion-loaded axial slices (z 10, 11) are among those shown
    labels = re.findall(r">([ACS]) (\d+)<", svg)
    assert ("A", "10") in labels and ("A", "11") in labels
