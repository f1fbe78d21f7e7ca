"""The simulator is independent of the measurer: no imports from tasks/, its own anatomy."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2] / "simulator"
#: the only calcisvd module the simulator may use: the measures contract
ALLOWED_CALCISVD = {"calcisvd.measures"}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
    return out


def test_simulator_imports_nothing_from_tasks_nor_calcisvd_beyond_the_contract():
    files = sorted(ROOT.rglob("*.py"))
    assert len(files) > 5
    bad = []
    for f in files:
        for mod in _imports(f):
            top = mod.split(".")[0]
            if top == "tasks" or (top == "calcisvd" and mod not in ALLOWED_CALCISVD):
                bad.append(f"{f.relative_to(ROOT.parent)}: {mod}")
    assert not bad, "simulator/ must not import the measurer: " + "; ".join(bad)


def test_import_rule_catches_a_tasks_import(tmp_path):
    f = tmp_path / "x.py"
    f.write_text("def f():\n    from tasks.icac import severity\n    import tasks.svd.rules\n")
    assert _imports(f) == ["tasks.icac", "tasks.svd.rules"]


def test_arteries_lie_off_the_measurers_template_lines():
    """Per-subject arteries sit 3-8 mm (median per vessel) off the measurer's atlas lines."""
    from scipy.spatial import cKDTree

    from simulator.arteries import sample_vessels
    from tasks.icac.atlas import CENTRELINES

    medians = []
    for seed in range(12):
        for v in sample_vessels(np.random.default_rng(seed)):
            c = [c for c in CENTRELINES if (c.artery, c.side) == (v.artery, v.side)]
            if c:
                d, _ = cKDTree(c[0].sample(0.25)).query(v.points)
                medians.append(np.median(d))
    medians = np.asarray(medians)
    # measured on seeds 0-11: median 5.4 mm, 10th-90th percentile 2.4-7.9 mm
    assert np.percentile(medians, 10) >= 2.0 and np.median(medians) >= 4.0
    assert medians.max() <= 12.0


def test_artery_variation_across_seeds():
    from simulator.arteries import find, sample_vessels, tangents

    trees = [sample_vessels(np.random.default_rng(s), 72.0) for s in range(40)]
    va_ratio = []
    missing_a1_p1 = 0
    ectatic = 0
    for vs in trees:
        left, right = find(vs, "VA", "L"), find(vs, "VA", "R")
        assert left is not None and right is not None
        va_ratio.append(left.radius.max() / right.radius.max())
        missing_a1_p1 += sum(find(vs, a, s) is None for a in ("ACA", "PCA") for s in "LR")
        ectatic += any(v.radius.max() > 1.3 * np.median(v.radius) for v in vs)
        for v in vs:
            t = tangents(v.points)
            turn = np.degrees(np.arccos(np.clip((t[:-4] * t[4:]).sum(1), -1, 1)))
            assert turn.max() < 90.0  # tortuous, never folded back (per 1 mm of course)
            if v.artery in ("ICA", "VA"):
                assert v.bony.any() and 0 <= v.bone_gap_mm <= 1.0
    va_ratio = np.asarray(va_ratio)
    assert (va_ratio > 1.4).sum() >= 8 and (va_ratio < 1 / 1.4).sum() >= 3  # dominant VAs
    assert missing_a1_p1 >= 1 and ectatic >= 4
    a = trees[0][1].points
    b = trees[1][1].points
    assert not np.allclose(a[: min(len(a), len(b))], b[: min(len(a), len(b))], atol=1.0)


def test_bone_touching_plaques_and_shell_in_the_ct():
    """Some siphon/vertebral-entry plaques lie within 1 mm of bone, and bone is there."""
    from simulator.cohort import sample_patient
    from simulator.render import PatientRenderer

    n_touch = 0
    for seed in range(3):
        spec = sample_patient(seed, 0, "moderate", "ICA")
        r = PatientRenderer(spec, 2.0)
        touching = [p for p in r.plaques if p.bone_gap_mm is not None]
        n_touch += len(touching)
        for p in touching:
            assert p.artery in ("ICA", "VA") and 0 <= p.bone_gap_mm <= 1.0
        assert (r.anat.bone_table > 0.5).any()
    assert n_touch >= 1


def test_ventricles_vary_and_are_not_the_template_recipe():
    from simulator.ventricles import sample_paths, ventricle_mask

    world = np.stack(np.meshgrid(*[np.arange(-60, 61, 2.0)] * 3, indexing="ij"))
    vols = []
    for seed, scale in ((0, 1.0), (1, 1.0), (2, 1.6)):
        m = ventricle_mask(world, 2.0, sample_paths(np.random.default_rng(seed), scale))
        vols.append(m.sum() * 8 / 1000)
    assert 8 < vols[0] < 45 and vols[0] != vols[1]
    assert vols[2] > 1.8 * vols[0]  # "enlarged ventricles"


@pytest.mark.parametrize("group", ["severe"])
def test_truth_has_raw_artery_and_anatomy_fields(sessions, group):
    t = sessions[group].truth
    assert {"head_scale", "atrophy_mm", "ventricle_scale", "vessels"} <= set(t["anatomy"])
    for p in t["plaques"]:
        assert {"volume_mm3", "centre_ras", "length_mm", "arc_deg", "hu", "radius_mm",
                "bone_gap_mm"} <= set(p)
    for a in t["icac"]["arteries"]:
        assert {"calcium_volume_mm3", "mass_mg", "n_plaques", "n_bone_touching"} <= set(a)
