"""Wall geometry of a deposit: circumferential extent and the course it fits, on known
geometry (tasks.icac.wall)."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.icac.regions import MappedCentreline
from tasks.icac.wall import (
    _largest_arc_deg,
    circumferential_extent_deg,
    course_fit_rms,
    reassign_by_course,
)


def _arc_points(arc_deg: float, radius: float = 2.5, start: float = 30.0, step_deg=5.0):
    """Points on a wall arc around the z axis, at several z, shifted off the centreline."""
    ang = np.radians(np.arange(start, start + arc_deg + 1e-6, step_deg))
    pts = [np.stack([radius * np.cos(ang), radius * np.sin(ang), np.full_like(ang, z)], -1)
           for z in (-1.0, 0.0, 1.0)]
    return np.concatenate(pts)


LINE = np.stack([np.zeros(41), np.zeros(41), np.linspace(-10, 10, 41)], -1)


@pytest.mark.parametrize("arc", [60.0, 120.0, 200.0, 300.0])
def test_circumferential_extent_of_known_arc(arc):
    pts = _arc_points(arc)
    got = circumferential_extent_deg(pts, LINE, radius_mm=2.0, fit_centre=False)
    assert got == pytest.approx(arc, abs=1e-6)


def test_circumferential_extent_recovers_centre_offset():
    # the atlas centreline is 1.5 mm off the true vessel centre: the circle fit corrects it
    arc = 240.0
    pts = _arc_points(arc) + np.array([1.5, -1.0, 0.0])
    naive = circumferential_extent_deg(pts, LINE, radius_mm=2.0, fit_centre=False)
    fitted = circumferential_extent_deg(pts, LINE, radius_mm=2.0, fit_centre=True)
    assert abs(fitted - arc) < 15.0
    assert abs(fitted - arc) < abs(naive - arc)


def test_largest_arc_wraps_around():
    assert _largest_arc_deg(np.array([350.0, 10.0, 20.0])) == pytest.approx(30.0)
    assert _largest_arc_deg(np.array([5.0])) == 0.0


def test_circumferential_extent_half_maximum_ignores_partial_volume_tails():
    core = _arc_points(90.0, start=0.0)  # 0..90 deg at 600 HU
    tails = _arc_points(30.0, start=100.0)  # 100..130 deg, partial volume at 180 HU
    pts = np.concatenate([core, tails])
    hu = np.concatenate([np.full(len(core), 600.0), np.full(len(tails), 180.0)])
    wide = circumferential_extent_deg(pts, LINE, radius_mm=2.0, fit_centre=False)
    fwhm = circumferential_extent_deg(pts, LINE, radius_mm=2.0, fit_centre=False, hu=hu)
    assert wide == pytest.approx(130.0, abs=1e-6)
    assert fwhm == pytest.approx(90.0, abs=1e-6)


def test_a_few_stray_voxels_do_not_stretch_the_arc():
    # a 90 deg plaque sampled finely (0.5 mm pixels: 1 deg steps) and two bright stray voxels
    # merged into it on the far side of the vessel (noise within PLAQUE_GAP_MM)
    core = _arc_points(90.0, start=0.0, step_deg=1.0)
    stray = np.array([[2.5 * np.cos(a), 2.5 * np.sin(a), 0.0] for a in np.radians([200, 230])])
    pts = np.concatenate([core, stray])
    hu = np.full(len(pts), 500.0)
    got = circumferential_extent_deg(pts, LINE, radius_mm=2.0, fit_centre=False, hu=hu)
    assert got == pytest.approx(90.0, abs=6.0)
    # every voxel counted: the arc runs round to the stray ones
    assert _largest_arc_deg(np.degrees(np.arctan2(pts[:, 1], pts[:, 0]))) > 200.0
    # weights: the smallest arc holding 95% of the HU; a fraction of 1 is 360 minus the gap
    theta = np.array([0.0, 10.0, 20.0, 180.0])
    assert _largest_arc_deg(theta, np.array([10.0, 10.0, 10.0, 0.1]), 0.95) == 20.0
    assert _largest_arc_deg(theta, None, 1.0) == 180.0


def _junction(z_range=range(21, 28)):
    """1 mm grid: the template's ICA L line (vertical, x = 10) and M1 line (horizontal from
    the ICA top, z = 30); the real ICA runs 7 mm lateral of its line, and a 120 deg wall deposit
    on it (lumen radius 2.4 mm, 1 mm thick) lies nearer the M1 line (about 6 mm) than the
    ICA line (about 9 mm), so the region names it MCA L."""
    ica = MappedCentreline("ICA", "L", 1, np.stack(
        [np.full(61, 10.0), np.full(61, 20.0), np.linspace(0, 30, 61)], -1), 2.4)
    m1 = MappedCentreline("MCA", "L", 3, np.stack(
        [np.linspace(10, 35, 51), np.full(51, 20.0), np.full(51, 30.0)], -1), 1.5)
    g = np.mgrid[0:40, 0:40, 0:40].astype(float)
    dx, dy = g[0] - 17.0, g[1] - 20.0
    rho, ang = np.hypot(dx, dy), np.degrees(np.arctan2(dy, dx)) % 360
    dep = (rho >= 2.4) & (rho <= 3.4) & (ang <= 120) & np.isin(g[2], list(z_range))
    cal = np.where(dep, 3, 0).astype(np.uint8)
    return cal, [ica, m1]


def test_deposit_named_after_the_course_it_lies_on():
    cal, lines = _junction()
    pts = np.argwhere(cal > 0).astype(float)
    across = course_fit_rms(pts, lines[1].points, 1.5)  # measured across the M1's direction
    assert across > 2 * course_fit_rms(pts, lines[0].points, 2.4)
    out = reassign_by_course(cal, np.eye(4), lines)
    assert set(np.unique(out[cal > 0])) == {1} and (out > 0).sum() == (cal > 0).sum()
    # the rule does the work: without it the deposit keeps the region's name
    assert np.array_equal(reassign_by_course(cal, np.eye(4), lines, ratio=np.inf), cal)


def test_course_rule_is_not_applied_on_thick_slices():
    """On slices thicker than THICK_SLICE_MM the deposit keeps its region's name (the
    wall fit of a slab-quantised cross-section names the wrong artery more often)."""
    cal, lines = _junction()
    thick = np.diag([1.0, 1.0, 2.5, 1.0])  # the same junction on 2.5 mm slices
    stretched = [MappedCentreline(c.artery, c.side, c.label, c.points * [1.0, 1.0, 2.5],
                                  c.radius_mm) for c in lines]
    pts = (np.argwhere(cal > 0) * [1.0, 1.0, 2.5]).astype(float)
    # it still fits the ICA's wall far better than the M1's: an isotropic grid would move it
    assert course_fit_rms(pts, stretched[1].points, 1.5) > 2 * course_fit_rms(
        pts, stretched[0].points, 2.4)
    assert np.array_equal(reassign_by_course(cal, thick, stretched), cal)


def test_small_deposit_keeps_its_region_name():
    # one slice of the arc (8 voxels, under COURSE_MIN_MM3): too few points to tell courses
    cal, lines = _junction(z_range=[24])
    assert 0 < (cal > 0).sum() * 1.0 < 10.0
    assert np.array_equal(reassign_by_course(cal, np.eye(4), lines), cal)
