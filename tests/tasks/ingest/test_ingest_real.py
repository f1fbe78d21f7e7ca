"""Ingest of real vendor DICOM (``../shared/realdata/dicom``, the dcm2niix validation sets).

A GE 3-D T1w MP-RAGE (130 files) and a Siemens EPI stability series exported directly and
through an Agfa PACS (non-standard vendor fields). What must hold on real files, not only on
the simulator's: the T1w is ingested with plain dcm2niix's geometry and voxels, the EPI series
are skipped with a reason a person understands, the dataset passes the official validator,
``audit-phi`` finds nothing, a rerun changes nothing, and the MP-RAGE (a noise and line test
image, not a head) never comes out ``ok``. ``dcm_qa_ts`` is left out: here only its reference
sidecars are present. Skipped with a message when the folder is absent (CI has it).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.ingest_real import compare_geometry
from calcisvd.cli import main as cli
from tests.tasks.ingest.ingest_fixtures import make_settings, tree_digest

REPO = Path(__file__).resolve().parents[3]
CANDIDATES = (REPO.parent / "shared" / "realdata" / "dicom", Path("/work/shared/realdata/dicom"))
DATA = next((p for p in CANDIDATES if p.is_dir()), None)
SERIES = ("dcm_qa_ge/In/05_3D_Ax_T1_MP_RAGE_R22", "dcm_qa_agfa/Siemens", "dcm_qa_agfa/Agfa")

pytestmark = pytest.mark.skipif(
    DATA is None or not all((DATA / s).is_dir() for s in SERIES),
    reason=f"real DICOM not found (looked in {', '.join(map(str, CANDIDATES))})")


@pytest.fixture(scope="module")
def ingested(tmp_path_factory):
    from tasks.ingest.pipeline import run_ingest

    home = tmp_path_factory.mktemp("real") / "home"
    for s in SERIES:
        shutil.copytree(DATA / s, home / "drop" / s)
    settings = make_settings(home)
    return settings, run_ingest(settings)


def test_t1w_ingested_with_dcm2niix_geometry_and_epi_skipped_with_a_reason(ingested, tmp_path):
    from tasks.ingest.convert import find_dcm2niix

    settings, summary = ingested
    assert (summary["ingested"], summary["quarantined"]) == (1, 0), summary
    reasons = [s["reason"] for s in summary["skipped_series"]]
    assert len(reasons) == 2 and all("perfusion" in r for r in reasons), reasons
    [t1w] = sorted(settings.bids_dir.glob("sub-*/ses-*/anat/*_T1w.nii.gz"))
    subprocess.run([find_dcm2niix(), "-z", "n", "-b", "n", "-f", "%s", "-o", str(tmp_path),
                    str(DATA / SERIES[0])], capture_output=True, check=True, timeout=120)
    [ref] = sorted(tmp_path.glob("*.nii"))
    same = compare_geometry(t1w, ref)
    assert same["same_shape"] and same["voxels_equal"], same
    assert same["affine_max_abs_diff_mm"] < 1e-3, same
    side = json.loads(t1w.with_name(t1w.name.replace(".nii.gz", ".json")).read_text())
    assert side["GeometryCheck"] == "passed", side.get("GeometryCheck")


def test_valid_bids_no_phi_and_a_rerun_changes_nothing(ingested, capsys):
    from tasks.ingest.pipeline import run_ingest

    settings, _ = ingested
    exe = Path(sys.executable).with_name("bids-validator-deno")
    res = subprocess.run([str(exe), str(settings.bids_dir), "--json"], capture_output=True,
                         text=True, timeout=300)
    errors = [i for i in json.loads(res.stdout)["issues"]["issues"]
              if i.get("severity") == "error"]
    assert errors == [], errors[:5]
    capsys.readouterr()
    assert cli(["audit-phi", "--home", str(settings.home)]) == 0
    first = capsys.readouterr().out.splitlines()[0]  # "audit-phi: N identifying values ..."
    assert int(first.split(":")[1].split()[0]) >= 5, first  # the real headers' values
    before = tree_digest(settings.bids_dir)
    again = run_ingest(settings)
    assert again["ingested"] == 0 and again["quarantined"] == 0, again
    assert tree_digest(settings.bids_dir) == before


def test_the_mprage_test_image_is_not_ok(ingested):
    """The GE series is a scanner test image (noise and lines, no head): review, with a
    reason, never a set of brain measures marked ``ok``."""
    import nibabel as nib
    import numpy as np

    from tasks.svd.pipeline import quantify_svd

    settings, _ = ingested
    [t1w] = sorted(settings.bids_dir.glob("sub-*/ses-*/anat/*_T1w.nii.gz"))
    img = nib.as_closest_canonical(nib.load(str(t1w)))
    r = quantify_svd({"T1w": (np.asarray(img.dataobj, np.float32), img.affine)})
    assert r.measures["status"] == "review", r.measures
    assert r.measures["reason"], r.measures
