"""Folder drop, C-STORE push and DICOMweb pull end in the same BIDS tree, bit for bit.

Three temporary homes share one pseudonym key and the clinical CSV; each receives the same
simulated cohort by its own path and is ingested by the unchanged ingestion.
"""

from __future__ import annotations

import shutil
import subprocess

import pydicom
import pytest

from bench.support.orthanc import free_port
from bench.support.pacs_helpers import BIN, ReceiverProcess, dicom_files, share_key_and_clinical
from tasks.ingest.pipeline import run_ingest
from tests.tasks.ingest.ingest_fixtures import make_settings, tree_digest


@pytest.mark.slow
def test_push_pull_and_folder_drop_give_identical_bids(cohort, orthanc, tmp_path,
                                                       prefect_harness):
    from flows.pull import pull_flow

    files = dicom_files(cohort / "drop")
    # 1. folder drop (creates the pseudonym key)
    folder = make_settings(tmp_path / "folder")
    shutil.copytree(cohort / "drop", folder.drop_dir)
    assert run_ingest(folder)["ingested"] > 0
    reference = tree_digest(folder.bids_dir)
    assert any(k.endswith("_ct.nii.gz") for k in reference)
    assert any(k.endswith("_T1w.nii.gz") for k in reference)

    studies = orthanc.upload(files)
    # 2. push: Orthanc C-STOREs the studies to `calcisvd receive`
    push_home = tmp_path / "push"
    share_key_and_clinical(folder.home, push_home)
    rx = ReceiverProcess(push_home, free_port()).start()
    try:
        orthanc.add_modality("calcisvd", rx.ae_title, rx.port)
        assert orthanc.store("calcisvd", studies)["FailedInstancesCount"] == 0
    finally:
        assert rx.stop() == 0
    push = make_settings(push_home)
    assert run_ingest(push)["quarantined"] == 0

    # 3. pull: the DICOMweb flow, then the ingest flow
    pull_home = tmp_path / "pull"
    share_key_and_clinical(folder.home, pull_home)
    pull = make_settings(pull_home)
    (pull.secrets_dir / "pacs_patients.txt").write_text(
        str(pydicom.dcmread(files[0]).PatientID) + "\n")
    summary = pull_flow(settings=pull.replace(dicomweb_url=orthanc.dicomweb_url),
                        ingest=True)
    assert summary["instances"] == len(files)
    assert summary["ingest"]["quarantined"] == 0

    assert tree_digest(push.bids_dir) == reference
    assert tree_digest(pull.bids_dir) == reference
    for home in (push.home, pull.home):  # association log, pull state: no identifiers
        proc = subprocess.run([str(BIN / "calcisvd"), "audit-phi", "--home", str(home),
                               "--extra", str(home / "var" / "pacs")],
                              capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 0, proc.stdout[-2000:]
        assert "0 finding(s)" in proc.stdout
        assert not proc.stdout.startswith("audit-phi: 0 identifying")  # it had PHI to seek
    assert (push.logs_dir / "receive-associations.jsonl").stat().st_size > 0
