"""Privacy audit: planted PHI strings must appear nowhere under the BIDS root or in the logs."""

from __future__ import annotations

import gzip
import logging

from bench.support.dicomgen import PHI
from tasks.ingest.pipeline import run_ingest
from tasks.ingest.summary import summary_markdown
from tests.tasks.ingest.ingest_fixtures import make_settings, write_cohort


def _needles() -> list[bytes]:
    names = [PHI["PatientName"].replace("^", " "), *PHI["PatientName"].split("^"),
             PHI["InstitutionName"], PHI["ReferringPhysicianName"].split("^")[0],
             PHI["AccessionNumber"], PHI["PatientBirthDate"], "HOSP0001", "HOSP0002",
             "1 Vlorbin Street", "VLORBIN-CT1", "SN123456",
             # exact study dates in both DICOM and ISO forms, and the acquisition time
             "20240105", "2024-01-05", "20250107", "2025-01-07", "20240305", "102001",
             "10:20:01"]
    return [n.encode().lower() for n in names]


def test_no_phi_anywhere(tmp_path):
    settings = make_settings(tmp_path / "home")
    write_cohort(settings.drop_dir)
    log_file = tmp_path / "ingest.log"
    handler = logging.FileHandler(log_file)
    logger = logging.getLogger("calcisvd")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        summary = run_ingest(settings)
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert summary["ingested"] == 15
    blobs: dict[str, bytes] = {}
    for p in settings.bids_dir.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            blobs[str(p.relative_to(settings.bids_dir))] = (
                gzip.decompress(data) if p.name.endswith(".gz") else data)
        blobs["name:" + str(p.relative_to(settings.bids_dir))] = str(p).encode()
    blobs["log"] = log_file.read_bytes()
    blobs["artifact"] = summary_markdown(summary).encode() + repr(summary).encode()
    assert len(blobs["log"]) > 100
    hits = [(where, n) for where, data in blobs.items() for n in _needles()
            if n in data.lower()]
    assert hits == []
