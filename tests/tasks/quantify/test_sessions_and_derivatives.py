"""Session discovery, change detection and the all-or-nothing derivative writer."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from calcisvd.measures import ICAC_SESSION_MEASURES, SVD_MEASURES
from tasks.qc.report import write_group_index
from tasks.quantify.derivatives import write_session_derivatives
from tasks.quantify.sessions import (
    discover_sessions,
    inputs_hash,
    measures_path,
    needs_quantification,
)


def _img(path: Path, value: float = 1.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.full((4, 4, 4), value, np.float32), np.eye(4)), path)
    return path


@pytest.fixture
def bids(tmp_path: Path) -> Path:
    root = tmp_path / "bids"
    anat = root / "sub-aa" / "ses-M00" / "anat"
    _img(anat / "sub-aa_ses-M00_ct.nii.gz")
    _img(anat / "sub-aa_ses-M00_FLAIR.nii.gz")
    _img(anat / "sub-aa_ses-M00_acq-swi_T2starw.nii.gz")
    _img(root / "sub-aa" / "ses-M12" / "anat" / "sub-aa_ses-M12_FLAIR.nii.gz")
    (root / "sub-bb" / "ses-M00" / "anat").mkdir(parents=True)  # empty: ignored
    return root


def _doc(status: str = "ok") -> tuple[dict, dict]:
    icac = {"status": status, "reason": None, "arteries": [
        {"artery": "MCA", "side": "L", "calcium_volume_mm3": 12.5, "agatston": 30.0,
         "mass_mg": 4.2, "n_plaques": 2, "max_hu": 410.0, "circumferential_extent_deg": 60.0}]}
    icac.update({k: 0 for k in ICAC_SESSION_MEASURES})
    icac.update({"severity_group": "none_mild", "dominant_location": "MCA"})
    svd = {"status": status, "reason": None}
    svd.update({k: 1 for k in SVD_MEASURES})
    svd["microbleed_contrast"] = "T2starw"
    return icac, svd


def test_discovery_maps_modalities(bids: Path) -> None:
    sessions = discover_sessions(bids)
    assert [(s.subject, s.session) for s in sessions] == [("aa", "M00"), ("aa", "M12")]
    assert set(sessions[0].files) == {"ct", "FLAIR", "T2starw"}
    assert set(sessions[1].files) == {"FLAIR"}


def test_change_detection_follows_inputs(bids: Path, tmp_path: Path) -> None:
    deriv = tmp_path / "deriv"
    ses = discover_sessions(bids)[0]
    assert needs_quantification(deriv, ses) == (True, "no results yet")
    icac, svd = _doc()
    write_session_derivatives(deriv, ses, icac=icac, svd=svd,
                              pipeline={"inputs_hash": inputs_hash(ses), "version": "x",
                                        "code_revision": "y", "created": "now"},
                              images={}, reportlets={})
    assert needs_quantification(deriv, ses) == (False, "up to date")
    _img(ses.files["FLAIR"], value=2.0)  # new image content
    assert needs_quantification(deriv, ses) == (True, "inputs or code changed")


def test_writer_is_all_or_nothing_and_replaces(bids: Path, tmp_path: Path) -> None:
    deriv = tmp_path / "deriv"
    ses = discover_sessions(bids)[0]
    mask = _img(tmp_path / "wmh.nii.gz")
    png = tmp_path / "fig.png"
    png.write_bytes(b"\x89PNG fake")
    icac, svd = _doc()
    pipe = {"inputs_hash": "h1", "version": "v", "code_revision": "r", "created": "t"}
    out = write_session_derivatives(deriv, ses, icac=icac, svd=svd, pipeline=pipe,
                                    images={"wmh_mask": mask, "unknown": mask},
                                    reportlets={"wmh": png})
    assert out == measures_path(deriv, ses)
    ses_dir = out.parent
    assert (ses_dir / "anat" / "sub-aa_ses-M00_space-FLAIR_desc-wmh_mask.nii.gz").is_file()
    assert (ses_dir / "figures" / "sub-aa_ses-M00_desc-wmh_qc.png").is_file()
    html = (ses_dir / "sub-aa_ses-M00_qc.html").read_text()
    assert "figures/sub-aa_ses-M00_desc-wmh_qc.png" in html and "12.5" in html
    tsv = (ses_dir / "sub-aa_ses-M00_measures.tsv").read_text().splitlines()
    assert "artery\tMCA\tL\tcalcium_volume_mm3\t12.5\tmm^3" in tsv

    # a writer that crashes half-way leaves the previous complete version in place
    bad_icac = dict(icac, arteries=[{"artery": "MCA"}])  # missing 'side' -> KeyError
    with pytest.raises(KeyError):
        write_session_derivatives(deriv, ses, icac=bad_icac, svd=svd, pipeline=pipe,
                                  images={}, reportlets={})
    assert json.loads(out.read_text())["icac"]["arteries"][0]["side"] == "L"
    assert [p.name for p in ses_dir.parent.iterdir()] == ["ses-M00"]  # no staging left over

    # a successful rewrite replaces the whole folder (stale files go)
    write_session_derivatives(deriv, ses, icac=icac, svd=svd, pipeline=pipe, images={},
                              reportlets={})
    assert not (ses_dir / "anat" / "sub-aa_ses-M00_space-FLAIR_desc-wmh_mask.nii.gz").exists()


def test_group_index_links_sessions(bids: Path, tmp_path: Path) -> None:
    deriv = tmp_path / "deriv"
    icac, svd = _doc()
    for ses in discover_sessions(bids):
        write_session_derivatives(deriv, ses, icac=icac, svd=svd,
                                  pipeline={"inputs_hash": "h", "version": "v",
                                            "code_revision": "r", "created": "t"},
                                  images={}, reportlets={})
    html = write_group_index(deriv).read_text()
    assert "sub-aa/ses-M00/sub-aa_ses-M00_qc.html" in html
    assert "sub-aa/ses-M12/sub-aa_ses-M12_qc.html" in html
    assert "2 session(s)" in html and html.count("<tr id=") == 2


def test_nipype_work_folder_is_keyed_on_the_measuring_code(tmp_path, monkeypatch):
    """Nipype reuses cached node results when inputs are unchanged, whatever the code: a new
    method version gets a fresh folder and the other versions' folders are removed."""
    import tasks.quantify.runner as runner
    from tasks.quantify.sessions import Session

    ses = Session("abc", "M00")
    monkeypatch.setattr(runner, "method_version", lambda: "v1")
    first = runner.session_work_dir(tmp_path, ses)
    assert first == tmp_path / ses.label / "v1"
    (first / "mri_svd_wf").mkdir(parents=True)
    (tmp_path / ses.label / "ct_icac_wf").mkdir()  # the layout before versioned folders
    monkeypatch.setattr(runner, "method_version", lambda: "v2")
    second = runner.session_work_dir(tmp_path, ses)
    assert second == tmp_path / ses.label / "v2"
    assert sorted(p.name for p in (tmp_path / ses.label).iterdir()) == []
    monkeypatch.setattr(runner, "method_version", lambda: "v2")
    second.mkdir()
    assert runner.session_work_dir(tmp_path, ses) == second and second.is_dir()


def _write(deriv: Path, ses, icac: dict, svd: dict) -> None:
    write_session_derivatives(deriv, ses, icac=icac, svd=svd,
                              pipeline={"inputs_hash": inputs_hash(ses), "version": "x",
                                        "code_revision": "y", "created": "now"},
                              images={}, reportlets={})


def test_failure_kind_separates_machine_from_data() -> None:
    from concurrent.futures.process import BrokenProcessPool

    from tasks.quantify.sessions import failure_kind

    assert failure_kind(OSError(28, "No space left on device")) == "transient"
    assert failure_kind(MemoryError()) == "transient"
    assert failure_kind(BrokenProcessPool("worker killed")) == "transient"
    assert failure_kind(ValueError("no head found in the CT")) == "data"
    # Nipype re-raises a node's error as text, the original exception on the last line
    nipype_text = ("Exception raised while executing Node ct_icac.\n\nTraceback:\n  File x\n"
                   "\tOSError: [Errno 5] Input/output error")
    assert failure_kind(RuntimeError(nipype_text)) == "transient"
    assert failure_kind(RuntimeError("Traceback:\nValueError: empty mask")) == "data"


def test_failed_session_retry_rules(bids: Path, tmp_path: Path) -> None:
    deriv = tmp_path / "deriv"
    ses = discover_sessions(bids)[0]
    icac, svd = _doc()
    icac.update(status="failed", reason="no intracranial region found", failure="data")
    _write(deriv, ses, icac, svd)
    need, why = needs_quantification(deriv, ses)
    assert not need and why.startswith("failed") and "no intracranial region found" in why
    assert needs_quantification(deriv, ses, retry_failed=True)[0]
    # a transient failure is retried by the next run, whatever the flag
    icac.update(failure="transient", reason="OSError: [Errno 28] No space left on device")
    _write(deriv, ses, icac, svd)
    need, why = needs_quantification(deriv, ses)
    assert need and "transient" in why
    # a data failure is retried when the input changes
    icac.update(failure="data")
    _write(deriv, ses, icac, svd)
    assert not needs_quantification(deriv, ses)[0]
    _img(ses.files["ct"], value=3.0)
    assert needs_quantification(deriv, ses) == (True, "inputs or code changed")


def test_runner_records_data_and_machine_failures(bids: Path, tmp_path: Path) -> None:
    """The real Nipype workflows on a 4-voxel constant 'CT': a data failure, kept with its
    reason; the same session with its work folder on a file (the OS refuses the folder): a
    transient failure, retried by the next run."""
    from tasks.quantify.runner import quantify_session

    ses = discover_sessions(bids)[1]  # FLAIR only: the MRI workflow
    deriv = tmp_path / "deriv"
    out = quantify_session(ses, derivatives_dir=deriv, work_dir=tmp_path / "work")
    assert out["svd_status"] == "failed" and out["svd_failure"] == "data", out
    assert out["svd_reason"]
    assert not needs_quantification(deriv, ses)[0]
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where the work folder should be")
    out = quantify_session(ses, derivatives_dir=deriv, work_dir=blocker)
    assert out["svd_status"] == "failed" and out["svd_failure"] == "transient", out
    need, why = needs_quantification(deriv, ses)
    assert need and "transient" in why


def test_measures_tsv_carries_statuses_reasons_and_qc_metrics():
    import csv
    import io

    from tasks.quantify.derivatives import measures_tsv

    text = measures_tsv("a", "M00", {"status": "review", "reason": "KVP\tunknown",
                                     "qc_kvp": 120.0},
                        {"status": "ok", "qc": {"brain_volume_ml": 1400.5}})
    rows = {r["measure"]: r for r in csv.DictReader(io.StringIO(text), delimiter="\t")
            if r["level"] == "qc"}
    assert rows["icac_status"]["value"] == "review"
    assert rows["icac_reason"]["value"] == "KVP unknown"  # no tab breaks the row
    assert rows["qc_kvp"]["value"] == "120" and rows["qc_kvp"]["unit"] == "kV"
    assert rows["svd_qc_brain_volume_ml"]["unit"] == "mL"
    assert float(rows["svd_qc_brain_volume_ml"]["value"]) == 1400.5
    assert rows["svd_qc_nawm_cov"]["value"] == "n/a"


def test_ct_and_mri_in_two_workers_give_the_sequential_result(bids: Path, tmp_path: Path) -> None:
    """``run_all`` (the pipeline's split mode: CT and MRI workflows in two pool processes at
    once) writes the same measures as the sequential run; the session here has both."""

    from tasks.quantify.pool import run_all_in_workers, shutdown_pool
    from tasks.quantify.runner import quantify_session

    ses = discover_sessions(bids)[0]
    assert "ct" in ses.files and "FLAIR" in ses.files
    seq = quantify_session(ses, derivatives_dir=tmp_path / "d1", work_dir=tmp_path / "w1")
    calls: list = []

    def run_all(jobs):
        calls.append([fn.__name__ for fn, _ in jobs])
        return run_all_in_workers(2, jobs)

    try:
        par = quantify_session(ses, derivatives_dir=tmp_path / "d2", work_dir=tmp_path / "w2",
                               run_all=run_all)
    finally:
        shutdown_pool()
    assert calls == [["measure_ct", "measure_mri"]]
    keep = ("icac_status", "svd_status", "icac_reason", "svd_reason", "icac_failure",
            "svd_failure")
    assert {k: par[k] for k in keep} == {k: seq[k] for k in keep}
    a, b = (json.loads(Path(r["measures"]).read_text()) for r in (seq, par))
    for doc in (a, b):
        doc.get("pipeline", {}).pop("seconds", None)
        doc.get("pipeline", {}).pop("created", None)
    assert a == b
