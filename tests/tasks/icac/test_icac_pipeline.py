"""Registration and the whole chain on a synthetic head with known plaques."""

from __future__ import annotations

import numpy as np
import pytest

from calcisvd.measures import ARTERIES
from tasks.icac.atlas import CENTRELINES
from tasks.icac.headmask import intracranial_mask, skull_mask
from tasks.icac.pipeline import quantify_ct
from tasks.icac.registration import map_template_points, register_to_template
from tasks.imaging.space import transform_to_matrix

SP = (2.0, 2.0, 2.0)


@pytest.fixture(scope="module")
def result(phantom):
    return quantify_ct(phantom.hu, SP, phantom.affine)


def test_registration_maps_centrelines_within_2mm(phantom, result):
    m = result.ct_to_template
    for c in CENTRELINES:
        pts = c.sample(2.0)
        err = np.linalg.norm(map_template_points(pts, m)
                             - map_template_points(pts, phantom.ct_to_mni), axis=1)
        assert err.mean() < 2.0, (c.artery, c.side, err.mean())


def test_mask_registration_alone_is_coarser_but_close(phantom):
    ic = intracranial_mask(phantom.hu, SP, skull_mask(phantom.hu, SP))
    m = transform_to_matrix(register_to_template(ic, phantom.affine, refine=False))
    pts = np.concatenate([c.sample(2.0) for c in CENTRELINES])
    err = np.linalg.norm(map_template_points(pts, m)
                         - map_template_points(pts, phantom.ct_to_mni), axis=1)
    assert err.mean() < 4.0


def test_pipeline_finds_the_plaques(phantom, result):
    truth = phantom.truth_labels
    for label, (artery, side) in enumerate(ARTERIES, start=1):
        t = truth == label
        got = result.calcium == label
        rec = result.measures["arteries"][label - 1]
        assert (rec["artery"], rec["side"]) == (artery, side)
        if t.any():
            dice = 2 * (t & got).sum() / (t.sum() + got.sum())
            assert dice > 0.8, (artery, side, dice)
            # known limitation (docs/icac.md): one partial-volume voxel of the carotid canal's
            # edge (~150 HU) can be kept beside the ICA plaque; a rule dropping such lone
            # voxels lost real plaques at 2.5 mm, so it is tolerated here, and only one voxel
            assert rec["n_plaques"] == 1 or (rec["n_plaques"] == 2
                                             and int((got & ~t).sum()) <= 2), rec
        else:
            assert rec["calcium_volume_mm3"] == 0.0, (artery, side)
    assert result.measures["dominant_location"] == "BA"
    assert result.measures["severity_group"] == "severe"  # the 300 deg basilar plaque
    assert result.measures["n_segments_involved"] == 3
    ba = result.measures["arteries"][4]
    assert ba["circumferential_extent_deg"] > 200
    mca = result.measures["arteries"][2]
    # 150 deg nominal; at 2 mm voxels around a 1.5 mm lumen one voxel subtends ~50 deg
    assert 60 < mca["circumferential_extent_deg"] < ba["circumferential_extent_deg"]


def test_regions_are_labelled_in_arteries_order(result):
    labels = set(np.unique(result.regions)) - {0}
    assert labels == set(range(1, len(ARTERIES) + 1))
    assert result.intracranial.any()


def test_no_calcium_gives_zeros():
    from tasks.icac.phantom import render_phantom

    ph = render_phantom((), spacing=(4.0, 4.0, 4.0), seed=3, supersample=1)
    r = quantify_ct(ph.hu, (4.0, 4.0, 4.0), ph.affine)
    assert r.measures["total_calcium_volume_mm3"] == 0.0
    assert r.measures["total_plaques"] == 0
    assert r.measures["severity_group"] == "none_mild"
    assert r.measures["dominant_location"] is None
