"""WMH segmentation (the measures of a mask: ``test_wmh_grades.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.svd.anatomy import distance_mm
from tasks.svd.wmh import segment_wmh
from tasks.svd.wmh_grades import wmh_measures


def _dice(a, b):
    return 2 * (a & b).sum() / (a.sum() + b.sum())


def test_segment_wmh_on_phantom(phantom2, truth_anatomy, phantom_z, phantom_wm_prior):
    """Fixed seed/growth levels (no grey-matter intensity guard, issue 16): cortex is kept
    out by the mm distances and the WM territory."""
    mask = segment_wmh(phantom_z["FLAIR"], truth_anatomy, (2.0,) * 3, t1_z=phantom_z["T1w"],
                       exclude=phantom2.truth["lacunes"], wm_prior=phantom_wm_prior)
    truth = phantom2.truth["wmh"]
    assert _dice(mask, truth) > 0.75
    # no cortex, no ventricle taken as lesion
    assert not (mask & truth_anatomy.ventricles).any()
    assert (mask & (truth_anatomy.tissue == 2)).sum() < 0.1 * mask.sum()


def test_segment_wmh_flair_alone_and_lacune_rim_excluded(phantom2, truth_anatomy, phantom_z,
                                                          phantom_wm_prior):
    wm = phantom_wm_prior
    lac = phantom2.truth["lacunes"]
    alone = segment_wmh(phantom_z["FLAIR"], truth_anatomy, (2.0,) * 3, exclude=lac, wm_prior=wm)
    assert _dice(alone, phantom2.truth["wmh"]) > 0.7
    with_rim = segment_wmh(phantom_z["FLAIR"], truth_anatomy, (2.0,) * 3, wm_prior=wm)
    no_rim = segment_wmh(phantom_z["FLAIR"], truth_anatomy, (2.0,) * 3, exclude=lac, wm_prior=wm)
    near = distance_mm(lac, (2.0,) * 3) <= 3.0
    assert not (no_rim & near).any()
    assert (with_rim & near).any()  # the rim alone would be taken for WMH
    assert no_rim.sum() < with_rim.sum()


def test_rim_of_a_cavity_taken_for_a_pvs_is_not_wmh(phantom2, truth_anatomy, phantom_z,
                                                     phantom_wm_prior):
    """A lacune missed as a lacune but found as a small cavity (PVS candidate): the lesion
    formed by its FLAIR rim is dropped, true WMH is kept."""
    lac, truth = phantom2.truth["lacunes"], phantom2.truth["wmh"]
    sp = (2.0,) * 3
    with_rim = segment_wmh(phantom_z["FLAIR"], truth_anatomy, sp, wm_prior=phantom_wm_prior)
    as_pvs = segment_wmh(phantom_z["FLAIR"], truth_anatomy, sp, cavities=lac,
                         wm_prior=phantom_wm_prior)
    near = distance_mm(lac, sp) <= 5.0
    assert (with_rim & near & ~truth).any()
    assert (as_pvs & near & ~truth).sum() < (with_rim & near & ~truth).sum()
    assert _dice(as_pvs, truth) > _dice(with_rim, truth) > 0.6


def test_no_lesions_gives_empty_mask(truth_anatomy):
    rng = np.random.default_rng(1)
    z = np.where(truth_anatomy.brain, rng.normal(0, 1, truth_anatomy.brain.shape), 0)
    mask = segment_wmh(z.astype(np.float32), truth_anatomy, (2.0,) * 3)
    assert mask.sum() == 0
    m = wmh_measures(mask, truth_anatomy.dist_ventricle_mm, (2.0,) * 3)
    assert (m.volume_cm3, m.fazekas_total, m.pv_punctate_grade) == (0.0, 0, 0)


def test_partial_volume_reach_is_zero_on_isotropic_and_half_the_slice_excess_on_thick():
    from tasks.svd.wmh import partial_volume_reach_mm

    assert partial_volume_reach_mm((1.0, 1.0, 1.0)) == 0.0
    assert partial_volume_reach_mm((0.9, 0.9, 8.5)) == pytest.approx(3.8)
    assert partial_volume_reach_mm((6.0, 0.5, 0.5)) == pytest.approx(2.75)  # any axis order


def test_bright_grey_matter_does_not_raise_the_wmh_levels(phantom2, truth_anatomy, phantom_z,
                                                          phantom_wm_prior):
    """Issue 16: the levels are fixed in NAWM SD; brighter grey matter (weak or strong GM/WM
    FLAIR contrast) no longer lifts them above the lesions, so the lesions are found the same.
    (Not voxel for voxel: a lesion's edge voxel next to grey matter at least 70% as bright as
    it joins the cortex, ``CORTEX_JOIN_FRACTION``; 5 of 222 on this phantom.)"""
    z = phantom_z["FLAIR"]
    gm = truth_anatomy.brain & (phantom_wm_prior < 0.2)
    bright = np.where(gm, z + 5.0, z).astype(np.float32)
    wm = phantom_wm_prior >= 0.5
    lac = phantom2.truth["lacunes"]
    wmh = phantom2.truth["wmh"]
    a = segment_wmh(z, truth_anatomy, (2.0,) * 3, exclude=lac, wm_prior=phantom_wm_prior)
    b = segment_wmh(bright, truth_anatomy, (2.0,) * 3, exclude=lac, wm_prior=phantom_wm_prior)
    assert (a & wmh).sum() > 0.95 * wmh.sum()
    assert (b & wmh).sum() >= (a & wmh).sum() - 2  # no lesion lost, at most an edge voxel
    assert not (b & wm & ~a).any()  # bright grey matter adds nothing in the WM territory
    # and loses no lesion voxel in it (what it loses of ``a`` is false: a faint 3 SD region
    # by the grey matter, 93 voxels, kept by its own lesion level, wmh.OWN_LEVEL_MIN_VOXELS,
    # and joined to the cortex once that is brighter)
    assert (a & wmh & wm & ~b).sum() <= 0.05 * (a & wmh & wm).sum()


def _bump_and_focus(spacing=(1.0, 1.0, 4.0)):
    """NAWM noise (SD 0.5, smoothed) with a broad smooth bright region (Gaussian, sigma 20 mm,
    peak 3.5 SD: a residual bias field or cortex averaged into a slab) and a focal lesion
    (radius 4 mm, 5 SD) on a thick-slice grid, all inside white matter."""
    from scipy import ndimage

    from tasks.svd.steps import anatomy_from_masks

    sp = np.asarray(spacing)
    shape = tuple(int(round(120 / s)) for s in sp)
    c = [(np.arange(n) + 0.5) * s - 60.0 for n, s in zip(shape, sp, strict=True)]
    x, y, z = np.meshgrid(*c, indexing="ij")
    rng = np.random.default_rng(3)
    img = ndimage.gaussian_filter(rng.normal(0, 1, shape), 1.0 / sp)
    img *= 0.5 / img.std()
    bump = 3.5 * np.exp(-((x + 25) ** 2 + y ** 2 + z ** 2) / (2 * 20.0 ** 2))
    focus = (x - 25) ** 2 + y ** 2 + z ** 2 <= 4.0 ** 2
    img = np.where(focus, 5.0, img + bump).astype(np.float32)
    brain = x ** 2 / 55 ** 2 + y ** 2 / 55 ** 2 + z ** 2 / 55 ** 2 < 1
    vent = np.zeros(shape, bool)
    vent[np.abs(x) + np.abs(y) + np.abs(z) < 4] = True
    anat = anatomy_from_masks(brain, np.where(brain, 3, 0), vent, tuple(sp))
    return np.where(brain, img, 0).astype(np.float32), anat, tuple(sp), focus, bump > 2.0


def test_broad_bright_region_is_not_wmh_but_a_focal_lesion_is(monkeypatch):
    """Local contrast (issue 16): a smooth bright region stands barely above its own
    surroundings and is dropped; a focal lesion with NAWM around it is kept. Without the
    rule the bright region would be segmented."""
    from tasks.svd import wmh

    z, anat, sp, focus, bump = _bump_and_focus()
    mask = segment_wmh(z, anat, sp)
    assert (mask & focus).sum() >= 0.8 * focus.sum()
    assert not (mask & bump).any()
    monkeypatch.setattr(wmh, "LOCAL_CONTRAST_SD", -np.inf)
    assert (segment_wmh(z, anat, sp) & bump).sum() > 0.3 * bump.sum()


def _sphere_head(sp):
    """A 100 mm box on the grid ``sp`` (mm) holding a brain sphere (radius 46 mm) with a block
    ventricle (12 x 30 x 24 mm) at its centre: the voxel-centre coordinates (x, y, z in mm),
    the brain and ventricle masks and their :class:`Anatomy` (all brain voxels WM-class)."""
    from tasks.svd.steps import anatomy_from_masks

    shape = tuple(int(round(100 / s)) for s in sp)
    c = [(np.arange(n) + 0.5) * s - 50.0 for n, s in zip(shape, sp, strict=True)]
    x, y, z = np.meshgrid(*c, indexing="ij")
    brain = x ** 2 + y ** 2 + z ** 2 < 46.0 ** 2
    vent = (np.abs(x) < 6) & (np.abs(y) < 15) & (np.abs(z) < 12)
    return (x, y, z), brain, vent, anatomy_from_masks(brain, np.where(brain, 3, 0), vent,
                                                     tuple(float(s) for s in sp))


def _wall_lesion(spacing):
    """A ventricle (block) with a lesion (5 SD) 2.5-8 mm from its wall and a dimmed lining
    (1.5 SD: lesion sharing its slab with CSF) between them, in NAWM noise (SD 0.3)."""
    sp = np.asarray(spacing, float)
    (x, y, z), brain, vent, anat = _sphere_head(sp)
    shape = brain.shape
    d = anat.dist_ventricle_mm
    side = (x > 0) & (np.abs(y) < 10) & (np.abs(z) < 10)
    lining = side & (d > 0) & (d <= 2.5)
    lesion = side & (d > 2.5) & (d <= 8.0)
    img = np.random.default_rng(5).normal(0, 0.3, shape)
    img = np.where(lesion, 5.0, np.where(lining, 1.5, img))
    img = np.where(vent, -15.0, img)
    return np.where(brain, img, 0).astype(np.float32), anat, tuple(sp), lining, lesion


def test_thick_slices_keep_the_dimmed_lining_of_a_wall_lesion(monkeypatch):
    """Within the slab's partial-volume reach of the ventricle wall a lesion continues down to
    PV_SLAB_GROW_SD (CSF in the same slab dims it); not on isotropic grids."""
    from tasks.svd import wmh

    z, anat, sp, lining, lesion = _wall_lesion((1.0, 1.0, 6.0))
    mask = segment_wmh(z, anat, sp)
    assert (mask & lesion).sum() > 0.8 * lesion.sum()
    assert (mask & lining).sum() > 0.8 * lining.sum()
    monkeypatch.setattr(wmh, "PV_SLAB_GROW_SD", np.inf)
    assert not (segment_wmh(z, anat, sp) & lining).any()
    monkeypatch.undo()
    z, anat, sp, lining, lesion = _wall_lesion((1.0, 1.0, 1.0))
    iso = segment_wmh(z, anat, sp)
    assert (iso & lesion).sum() > 0.8 * lesion.sum()
    assert not (iso & lining).any()



def test_the_dimmed_wall_continuation_stays_in_the_white_matter_territory(monkeypatch):
    """The slab continuation lowers the level, not the location rule: on 6 mm slices the dimmed
    lining of a wall lesion is followed where the template calls it WM territory, not where it
    calls it grey matter (the caudate and thalamus lie on the wall and are brighter than NAWM on
    FLAIR). With no territory floor the grey-matter part is taken too."""
    from tasks.svd import wmh

    z, anat, sp, lining, lesion = _wall_lesion((1.0, 1.0, 6.0))
    y = np.arange(z.shape[1])[None, :, None] * np.ones(z.shape)
    grey = lining & (y < z.shape[1] / 2)  # one half of the lining: template WM prob. 0.1
    prior = np.where(grey, 0.1, 0.9).astype(np.float32)
    mask = segment_wmh(z, anat, sp, wm_prior=prior)
    assert (mask & lesion).sum() > 0.8 * lesion.sum()
    assert (mask & lining & ~grey).sum() > 0.8 * (lining & ~grey).sum()
    assert not (mask & grey).any()
    monkeypatch.setattr(wmh, "WM_PRIOR_GROW", 0.0)
    assert (segment_wmh(z, anat, sp, wm_prior=prior) & grey).sum() > 0.8 * grey.sum()

def test_lesion_free_reference_restores_a_confluent_lesion_level():
    """A lesion filling half of a 32 mm block lifts that block's NAWM median (the level the
    lesion is measured against); referring again to the voxels outside what a first pass
    found brings the lesion's z closer to its true contrast (4 SD), leaves NAWM at 0, and
    changes nothing without lesions."""
    from scipy import ndimage

    from tasks.svd.image import local_reference_z
    from tasks.svd.wmh import lesion_free_z

    rng = np.random.default_rng(1)
    shape = (96, 96, 64)
    spacing = (1.0, 1.0, 1.0)
    z = rng.standard_normal(shape).astype(np.float32)
    lesion = np.zeros(shape, bool)
    lesion[36:58, 36:58, 0:32] = True  # 22 x 22 x 32 mm: 47% of one block
    z[lesion] += 4.0
    ref = np.ones(shape, bool)
    once, _ = local_reference_z(z, ref, spacing, ref)
    found = ndimage.binary_opening(ndimage.gaussian_filter(once, 1.0) > 2.0)  # a first pass
    assert 0.3 < found[lesion].mean() < 0.95 and not found[~lesion].any()
    again = lesion_free_z(once, found, ref, spacing, ref)
    assert float(np.median(once[lesion])) < 3.0  # the contaminated level hides the contrast
    assert float(np.median(again[lesion])) > 3.25
    assert abs(float(np.median(again[~lesion]))) < 0.05
    assert lesion_free_z(once, np.zeros(shape, bool), ref, spacing, ref) is once


def _box_anatomy(shape, vent: tuple[slice, ...], margin: int = 1):
    """A 1 mm box brain (``margin`` voxels inside the grid, all WM-class tissue) with a block
    ventricle at ``vent``; depth = distance to the box's surface."""
    from tasks.svd.steps import anatomy_from_masks

    brain = np.zeros(shape, bool)
    brain[margin:-margin, margin:-margin, margin:-margin] = True
    ventricles = np.zeros(shape, bool)
    ventricles[vent] = True
    return anatomy_from_masks(brain, np.where(brain, 3, 0), ventricles, (1.0, 1.0, 1.0))


def test_grey_matter_reached_from_a_white_matter_seed_is_not_wmh():
    """Growth from a seed in the WM territory into grey matter as bright as a lesion (cortex
    on high-SNR 3-D FLAIR) gives a component lying mostly outside WM: dropped. A lesion in
    WM next to it is kept."""
    shape, sp = (48, 40, 40), (1.0, 1.0, 1.0)
    anat = _box_anatomy(shape, np.s_[4:8, 30:34, 30:34])
    prior = np.where(np.arange(shape[0])[:, None, None] < 20, 0.9, 0.3) * np.ones(shape)
    z = np.zeros(shape, np.float32)
    z[8:14, 8:14, 8:14] = 5.0  # a lesion in WM
    z[16:40, 18:26, 18:26] = 5.0  # 4 voxels deep into WM, 20 into grey matter
    mask = segment_wmh(z, anat, sp, wm_prior=prior.astype(np.float32))
    assert mask[8:14, 8:14, 8:14].all()
    assert not mask[16:40, 18:26, 18:26].any()


def test_thick_slice_wall_reach_does_not_make_deep_grey_matter_white_matter():
    """On 8 mm slices growth may follow the ventricle wall as far as the slab's partial-volume
    reach (3 + 3.5 mm), but where a lesion *lies* is judged on the lining itself (3 mm): a
    bright region grown from a small WM seed into tissue 3-6.5 mm from the wall that the
    template calls grey matter (caudate: WM probability 0.3) is dropped; a lesion that reaches
    the wall (the lining, within 3 mm) with the same seed is kept."""
    from tasks.svd.wmh import LINING_MM, partial_volume_reach_mm

    sp = np.array([1.0, 1.0, 8.0])
    assert LINING_MM + partial_volume_reach_mm(tuple(sp)) == 6.5
    (x, y, zz), brain, vent, anat = _sphere_head(sp)
    shape = brain.shape
    d = anat.dist_ventricle_mm
    side = (x > 0) & (np.abs(zz) < 10)
    leak = side & (y > -10) & (y < -2) & (d > 3.2) & (d <= 8.5)  # 38% of it in WM
    wall = side & (y > 2) & (y < 10) & (d > 0) & (d <= 10.0)  # 35% WM + 30% lining
    prior = np.where(d > 6.5, 0.9, 0.3).astype(np.float32)
    img = np.random.default_rng(5).normal(0, 0.3, shape)
    img = np.where(leak | wall, 5.0, img)
    img = np.where(vent, -15.0, img)
    z = np.where(brain, img, 0).astype(np.float32)
    mask = segment_wmh(z, anat, tuple(sp), wm_prior=prior)
    assert (mask & wall).sum() > 0.8 * wall.sum()
    assert not (mask & leak).any()


def test_a_seed_as_bright_as_the_cortex_it_joins_is_cortex_not_a_lesion():
    """Grey matter (4 SD above NAWM, as on 3-D FLAIR: the cortex under the brain surface and a
    ribbon of it that the template calls white matter) seeds a "lesion"; it runs unbroken at
    that brightness to the surface, so it is the cortical ribbon and is dropped, while a faint
    lesion (4.5 SD) in deep WM is kept. A bright lesion (12 SD) touching the ribbon is bounded
    by tissue darker than 70% of its level, and a confluent one reaching the surface is far
    brighter than the cortex: neither is cortex."""
    from tasks.svd.wmh_cortex import cortex_connected

    shape, sp = (64, 48, 48), (1.0, 1.0, 1.0)
    anat = _box_anatomy(shape, np.s_[30:34, 4:8, 20:28], margin=2)
    brain, vent, depth = anat.brain, anat.ventricles, anat.depth_mm
    noise = np.random.default_rng(3).normal(0, 0.3, shape).astype(np.float32)
    ribbon = np.zeros(shape, bool)
    ribbon[2:22, 20:24, 10:38] = True  # from the surface (x = 2) 20 mm into the "WM"
    grey = brain & ((depth < 3) | ribbon)  # the cortex under the surface and the ribbon
    faint = np.zeros(shape, bool)
    faint[40:46, 30:36, 20:26] = True  # deep WM, far from the ribbon
    z = np.where(brain, np.where(grey, 4.0, np.where(faint, 4.5, noise)), 0)
    prior = np.full(shape, 0.9, np.float32)
    mask = segment_wmh(z.astype(np.float32), anat, sp, wm_prior=prior)
    assert not (mask & ribbon).any()
    assert mask[faint].mean() > 0.9
    bright = np.zeros(shape, bool)
    bright[22:28, 19:25, 20:26] = True  # at the ribbon's deep end
    confluent = np.zeros(shape, bool)
    confluent[2:14, 30:40, 30:40] = True  # from the surface 12 mm deep
    z = np.where(bright | confluent, 12.0, z)
    seeds = brain & (z > 3) & (anat.depth_mm >= 3)
    cc = cortex_connected(seeds, z, brain & ~vent, anat.depth_mm < 3, 3.0)
    assert cc[ribbon & seeds].mean() > 0.95
    assert not cc[bright | faint | confluent].any()
    mask = segment_wmh(z.astype(np.float32), anat, sp, wm_prior=prior)
    assert mask[confluent & (depth >= 3)].mean() > 0.9 and mask[bright].mean() > 0.9


def test_a_confluent_lesion_keeps_its_faint_part_a_small_lesion_its_edge_rule(monkeypatch):
    """A confluent lesion (11 mL) with a bright core (16 SD, 8 mL) and a faint part (3 mL,
    6 SD) at full occupancy: the session level (16) would cut the faint part as the core's
    partial-volume edge (6 < 16 / 2); judged against its own local peak it is kept beyond the
    core's reach. A small lesion (0.2 mL core at 16 SD) keeps the session's edge rule: its 6 SD
    shoulder is dropped. With the confluent rule off, the faint part is lost too."""
    import tasks.svd.wmh as wmh

    shape, sp = (64, 48, 40), (1.0, 1.0, 1.0)
    anat = _box_anatomy(shape, np.s_[56:60, 4:8, 4:8])
    z = np.zeros(shape, np.float32)
    core = np.zeros(shape, bool)
    core[8:28, 10:30, 10:30] = True  # 8 mL at 16 SD
    faint = np.zeros(shape, bool)
    faint[28:40, 12:28, 12:28] = True  # 3 mL at 6 SD, joined to the core
    small_core = np.zeros(shape, bool)
    small_core[46:52, 34:40, 26:32] = True  # 0.2 mL at 16 SD
    shoulder = np.zeros(shape, bool)
    shoulder[46:52, 40:44, 26:32] = True  # its 6 SD shoulder
    z[core | small_core] = 16.0
    z[faint | shoulder] = 6.0
    prior = np.full(shape, 0.9, np.float32)
    far = faint & (distance_mm(core, sp) > wmh.CONFLUENT_REACH_MM + 1.0)
    mask = segment_wmh(z, anat, sp, wm_prior=prior)
    assert mask[core].all() and mask[small_core].all()
    assert mask[far].mean() > 0.95
    assert not mask[shoulder].any()
    monkeypatch.setattr(wmh, "CONFLUENT_SEED_MM3", 1e12)
    off = segment_wmh(z, anat, sp, wm_prior=prior)
    assert off[core].all() and not off[far].any()


def _faint_and_bright(spacing, faint_slabs):
    """A box brain (all WM, no ventricle near) with a bright lesion (16 SD, 8 x 8 mm, with a
    6 SD shoulder) and a faint one (4 SD core, 6 x 6 mm in plane, ``faint_slabs`` slices
    thick, in a 2.5 SD shell one voxel wide)."""
    from tasks.svd.steps import anatomy_from_masks

    shape = (64, 48, 12 if spacing[2] > 1.0 else 40)
    brain = np.zeros(shape, bool)
    brain[1:-1, 1:-1, 1:-1] = True
    vent = np.zeros(shape, bool)
    vent[58:61, 4:7, 5:7] = True
    anat = anatomy_from_masks(brain, np.where(brain, 3, 0), vent, spacing)
    mid = shape[2] // 2
    z = np.zeros(shape, np.float32)
    bright = np.zeros(shape, bool)
    bright[8:16, 8:16, mid - 4:mid + 4] = True
    shoulder = np.zeros(shape, bool)
    shoulder[16:19, 8:16, mid - 4:mid + 4] = True
    core = np.zeros(shape, bool)
    lo = mid - faint_slabs // 2
    core[30:36, 20:26, lo:lo + faint_slabs] = True
    shell = np.zeros(shape, bool)
    shell[29:37, 19:27, lo:lo + faint_slabs] = True
    shell &= ~core
    z[bright] = 16.0
    z[shoulder] = 6.0
    z[core] = 4.0
    z[shell] = 2.5
    return anat, z, bright, shoulder, core, shell


def test_a_faint_lesion_is_judged_against_its_own_level(monkeypatch):
    """Graded lesions (real: 2.5-7 SD): beside a bright lesion that sets the session's level
    (16 SD, edge at 8), a faint one (4 SD) vanished whole; against its own level (edge at 2)
    it is kept with its 2.5 SD rim. The bright lesion's 6 SD shoulder is still its edge. On
    thick slabs a lesion two slabs thick keeps the session's level (its peak is dimmed by the
    slabs' other tissue)."""
    import tasks.svd.wmh as wmh

    sp = (1.0, 1.0, 1.0)
    anat, z, bright, shoulder, core, shell = _faint_and_bright(sp, 6)
    mask = segment_wmh(z, anat, sp)
    assert mask[bright].all() and not mask[shoulder].any()
    assert mask[core].all() and mask[shell].mean() > 0.9
    monkeypatch.setattr(wmh, "OWN_LEVEL_MIN_VOXELS", 10 ** 6)
    off = segment_wmh(z, anat, sp)
    assert off[bright].all() and not off[core].any()
    monkeypatch.undo()
    thick = (1.0, 1.0, 6.0)
    anat, z, bright, shoulder, core, shell = _faint_and_bright(thick, 2)
    assert wmh.OWN_LEVEL_MIN_VOXELS > 2
    mask = segment_wmh(z, anat, thick)
    assert mask[bright].all() and not mask[core].any()


def test_growth_does_not_percolate_through_corner_neighbours():
    """Hysteresis growth at a level that 16 % of normal white matter exceeds (its level 1 SD
    up): through edge and corner neighbours the growth from one seed spans the volume (site
    percolation: 9.8 % with 26 neighbours), through faces (31.2 %) it stays local. A lesion
    keeps its corner-joined rim voxels."""
    from scipy import ndimage

    from tasks.svd.components import CONN26
    from tasks.svd.wmh import hysteresis

    rng = np.random.default_rng(5)
    grow = rng.random((60, 60, 60)) < 0.16
    seeds = np.zeros(grow.shape, bool)
    seeds[30, 30, 30] = grow[30, 30, 30] = True
    lab, _ = ndimage.label(grow, structure=CONN26)
    as26 = lab == lab[30, 30, 30]
    assert as26.sum() > 0.5 * grow.sum()  # 26-connected: one cluster through the volume
    got = hysteresis(grow, seeds)
    assert got.sum() < 60
    # a lesion: a solid cube with one voxel joined only at a corner
    grow = np.zeros((20, 20, 20), bool)
    grow[5:10, 5:10, 5:10] = True
    grow[10, 10, 10] = True
    seeds = np.zeros_like(grow)
    seeds[7, 7, 7] = True
    assert hysteresis(grow, seeds).sum() == 126


def test_distance_cache_gives_the_same_mask_and_is_reused(phantom_z, truth_anatomy,
                                                          phantom_wm_prior):
    """The WMH step's passes share their distance maps (``distances``): the mask is the same
    as without the cache, and a second pass on the same masks computes no new map."""
    lac = np.zeros(phantom_z["FLAIR"].shape, bool)
    lac[30:33, 30:33, 30:33] = True
    kw = dict(exclude=lac, cavities=lac, wm_prior=phantom_wm_prior)
    plain = segment_wmh(phantom_z["FLAIR"], truth_anatomy, (2.0,) * 3, **kw)
    cache: dict = {}
    first = segment_wmh(phantom_z["FLAIR"], truth_anatomy, (2.0,) * 3, distances=cache, **kw)
    n = len(cache)
    assert n >= 2 and np.array_equal(first, plain) and plain.any()
    brighter = phantom_z["FLAIR"] * 1.1  # same sign: the same sulcal mask (FLAIR z < 0)
    again = segment_wmh(brighter, truth_anatomy, (2.0,) * 3, distances=cache, **kw)
    assert len(cache) == n  # same lacune/cavity mask (one map) and sulcal mask: no new map
    assert np.array_equal(again, segment_wmh(brighter, truth_anatomy, (2.0,) * 3, **kw))
