"""One hostile input of each category ingested next to a good session (issue 10, point 1).

A single ingest run (plain Python, :func:`tasks.ingest.pipeline.run_ingest`) over a drop folder
holding the good CT + T1w study and one case per category of :mod:`bench.support.hostile`.
Checks: the run returns (no crash, no failed session), each broken case is in quarantine with
a reason naming its files, the good session is in the BIDS dataset, nothing was written
outside the home folder (the parent folder is listed before and after; the symlink targets
outside the drop folder are unchanged), and memory stayed bounded.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.support import hostile as H
from bench.support.cli import REPO, cli_env, make_settings
from tasks.ingest.quarantine import find_files

#: the variant used for each category in this test (the bench draws them at random)
VARIANTS = {"truncated": "pixels", "no_pixels": "all", "bad_syntax": "1.2.840.10008.1.2.4.90",
            "inconsistent_spacing": "repeat", "one_slice": "CT", "memory_bomb": "rows-cols",
            "nan_nifti": "all", "inf_nifti": "some", "empty_file": "zero-dcm",
            "symlink_outside": "valid-dicom", "path_like": "both", "non_ascii": "file-names",
            "duplicate_uid": "same-folder"}

#: bugs found by this suite (see docs/reliability.md); each flips to XPASS (a failure) when fixed
KNOWN_BUGS: dict[str, str] = {}


def _params():
    for cat in H.CATEGORIES:
        marks = ([pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[cat])]
                 if cat in KNOWN_BUGS else [])
        yield pytest.param(cat, marks=marks, id=cat)


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    """Generate the cases, ingest once, return everything the tests look at."""
    parent = tmp_path_factory.mktemp("hostile")
    settings = make_settings(parent / "home")
    outside = parent / "outside"
    cases = H.generate(settings.drop_dir, outside, n=len(H.CATEGORIES), seed=7,
                       variants=VARIANTS)
    good = H.write_good_session(settings.drop_dir)
    home = Path(settings.home)
    before_outside = H.tree_listing(parent, skip=[home])
    # a fresh process, so that its peak memory is this ingest's alone
    script = ("import json, resource, sys\n"
              "from pathlib import Path\n"
              "from calcisvd.settings import load_settings\n"
              "from tasks.ingest.pipeline import run_ingest\n"
              "s = load_settings(env={}, overrides={'home': Path(sys.argv[1]), 'n_procs': 1})\n"
              "r0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
              "summary = run_ingest(s)\n"
              "print(json.dumps({'summary': summary, 'r0': r0,\n"
              "  'r1': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,\n"
              "  'children': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss},\n"
              "  default=str))\n")
    res = subprocess.run([sys.executable, "-c", script, str(home)], capture_output=True,
                         text=True, timeout=900, cwd=REPO, env=cli_env(home))
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    summary, rss0, rss1, children = out["summary"], out["r0"], out["r1"], out["children"]
    after_outside = H.tree_listing(parent, skip=[home])
    yield {"settings": settings, "cases": {c.category: c for c in cases}, "good": good,
           "summary": summary, "rss_growth_mb": (rss1 - rss0) / 1024,
           "children_rss_mb": children / 1024, "before": before_outside,
           "after": after_outside,
           "outcomes": H.case_outcomes(cases, settings.quarantine_dir)}
    shutil.rmtree(parent, ignore_errors=True)


def test_the_run_finishes_without_failed_sessions(hostile_run):
    summary = hostile_run["summary"]
    assert summary["status"] == "partial"  # broken cases quarantined
    assert summary["failed_sessions"] == 0
    assert summary["quarantined"] >= 6


def test_the_good_session_is_in_the_dataset(hostile_run):
    from tasks.ingest.deid import load_or_create_key, pseudonym

    s = hostile_run["settings"]
    sub = pseudonym(load_or_create_key(s.pseudonym_key_path), H.GOOD_PATIENT)
    anat = s.bids_dir / f"sub-{sub}" / "ses-M00" / "anat"
    names = sorted(p.name for p in anat.glob("*.nii.gz"))
    assert names == [f"sub-{sub}_ses-M00_T1w.nii.gz", f"sub-{sub}_ses-M00_ct.nii.gz"]
    import nibabel as nib

    assert nib.load(anat / names[1]).shape == (32, 32, 12)


def test_nothing_written_outside_the_home(hostile_run):
    assert hostile_run["after"] == hostile_run["before"]


def test_memory_stays_bounded(hostile_run):
    # the memory bomb declares 65535 x 65535 x 16 bit (8.6 GB) per slice
    assert hostile_run["rss_growth_mb"] < 300
    assert hostile_run["children_rss_mb"] < 500


def test_no_hostile_value_in_output_paths(hostile_run):
    s = hostile_run["settings"]
    paths = [p.relative_to(s.home).as_posix() for root in (s.bids_dir, s.quarantine_dir)
             for p in root.rglob("*") if "files" not in p.relative_to(root).parts[1:2]]
    assert paths
    for value in (*H.PATH_VALUES, *H.NON_ASCII, "..", "etc"):
        for p in paths:
            assert value not in p.split("/"), p
    assert not any(ord(ch) > 127 for p in paths for ch in p)


@pytest.mark.parametrize("category", list(_params()))
def test_each_case_is_quarantined_or_safely_handled(hostile_run, category):
    case = hostile_run["cases"][category]
    docs = hostile_run["outcomes"][case.case_id]
    missing = H.unquarantined_files(case, hostile_run["outcomes"])
    if case.expect == "quarantine":
        assert docs, f"{case.case_id} ({case.variant}) is not in quarantine"
        assert missing == [], f"{len(missing)} of {len(case.files)} files not named"
        for d in docs:
            assert d["reason"] and d["category"]
            found = find_files(d, hostile_run["settings"].drop_dir)
            assert len(found) == d["n_files"]
            assert all(f.startswith(case.folder + "/") for f in found)
        s = hostile_run["settings"]
        for d in docs:  # the quarantine folder holds the reason and a copy of each file
            reason = json.loads((s.quarantine_dir / d["folder"] / "reason.json").read_text())
            assert reason["n_files"] == len(reason["files_sha256"])
            assert "files" not in reason and "drop_dir" not in reason
    else:  # a valid study with hostile identifiers: quarantined as a whole, or ingested
        assert not docs or missing == []


def test_a_dangling_symlink_does_not_crash_the_run(tmp_path):
    from tasks.ingest.pipeline import run_ingest

    settings = make_settings(tmp_path / "home")
    (case,) = H.generate(settings.drop_dir, tmp_path / "outside", n=1, seed=3,
                         categories=["symlink_outside"],
                         variants={"symlink_outside": "dangling"})
    H.write_good_session(settings.drop_dir)
    summary = run_ingest(settings)
    assert summary["status"] == "partial"
    assert H.case_outcomes([case], settings.quarantine_dir)[case.case_id]


def test_a_symlink_to_a_secret_file_is_not_copied_into_quarantine(tmp_path):
    """A link to a non-DICOM file outside the drop folder: quarantined without its content."""
    from tasks.ingest.pipeline import run_ingest

    settings = make_settings(tmp_path / "home")
    (case,) = H.generate(settings.drop_dir, tmp_path / "outside", n=1, seed=4,
                         categories=["symlink_outside"],
                         variants={"symlink_outside": "secret-text"})
    run_ingest(settings)
    assert H.case_outcomes([case], settings.quarantine_dir)[case.case_id]
    copies = [p for p in settings.quarantine_dir.rglob("*") if p.is_file()
              and b"outside-the-drop-folder" in p.read_bytes()]
    assert copies == [], "the content of a file outside the drop folder was copied"


def test_a_non_ascii_patient_id_keeps_its_pseudonym(tmp_path):
    from tasks.ingest.deid import load_or_create_key, pseudonym
    from tasks.ingest.pipeline import run_ingest

    settings = make_settings(tmp_path / "home")
    (case,) = H.generate(settings.drop_dir, tmp_path / "outside", n=1, seed=6,
                         categories=["non_ascii"], variants={"non_ascii": "patient-id"})
    H.write_clinical(settings.drop_dir, [case.patient_id])
    run_ingest(settings)
    sub = pseudonym(load_or_create_key(settings.pseudonym_key_path), case.patient_id)
    assert (settings.bids_dir / f"sub-{sub}" / "ses-M00").is_dir()
    rows = (settings.bids_dir / "participants.tsv").read_text().splitlines()
    assert [r for r in rows if r.startswith(f"sub-{sub}\t")][0].split("\t")[1] != "n/a"


def test_identical_broken_files_are_each_named(tmp_path):
    from tasks.ingest.pipeline import run_ingest

    settings = make_settings(tmp_path / "home")
    cases = H.generate(settings.drop_dir, tmp_path / "outside", n=2, seed=8,
                       categories=["empty_file"], variants={"empty_file": "zero-dcm"})
    run_ingest(settings)
    outcomes = H.case_outcomes(cases, settings.quarantine_dir)
    assert [H.unquarantined_files(c, outcomes) for c in cases] == [[], []]


def test_a_header_truncated_slice_holds_back_its_series(tmp_path):
    from tasks.ingest.pipeline import run_ingest

    settings = make_settings(tmp_path / "home")
    (case,) = H.generate(settings.drop_dir, tmp_path / "outside", n=1, seed=9,
                         categories=["truncated"], variants={"truncated": "header"})
    run_ingest(settings)
    outcomes = H.case_outcomes([case], settings.quarantine_dir)
    assert H.unquarantined_files(case, outcomes) == []
    assert not list(settings.bids_dir.glob("sub-*/ses-*"))
