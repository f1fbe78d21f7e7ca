"""The Prefect flow under a real (ephemeral) Prefect API."""

from __future__ import annotations

import asyncio
import datetime as dt

from bench.support.dicomgen import Patient, write_clinical, write_study
from tests.tasks.ingest.ingest_fixtures import make_settings


def test_ingest_flow(prefect_harness, tmp_path):
    from prefect.client.orchestration import get_client

    from flows.ingest import ingest_flow

    settings = make_settings(tmp_path / "home")
    for visit, date in (("v1", dt.date(2024, 1, 5)), ("v2", dt.date(2025, 1, 7))):
        write_study(settings.drop_dir, Patient("HOSP0001"), date, visit=visit,
                    kinds=("CT", "FLAIR"), shape=(16, 16, 6))
    write_clinical(settings.drop_dir, ["HOSP0001,63,M,yes,no,no,yes,no,no"])
    summary = ingest_flow(settings)
    assert summary["status"] == "ok"
    assert (summary["ingested"], summary["skipped"], summary["quarantined"]) == (4, 4, 0)
    assert summary["failed_sessions"] == 0
    again = ingest_flow(settings=settings)
    assert again["ingested"] == 0 and again["files_unchanged"] > 0

    async def read():
        async with get_client() as client:
            runs = await client.read_flow_runs()
            art = await client.read_latest_artifacts()
            return runs, art

    runs, artifacts = asyncio.run(read())
    names = [r.name for r in runs if r.name.startswith("ingest-")]
    assert len(names) >= 2
    md = next(a for a in artifacts if a.key == "ingest-summary")
    assert "| 0 | 0 | 0 |" in md.data
    assert "HOSP" not in md.data


def test_ingest_flow_deployment_parameters(prefect_harness, tmp_path):
    """The deployment path: only ``home`` is given; an empty drop folder is a clean no-op."""
    from flows.ingest import ingest_flow

    summary = ingest_flow(home=str(tmp_path / "h2"))
    assert summary["status"] == "ok"
    assert (summary["ingested"], summary["skipped"], summary["quarantined"]) == (0, 0, 0)
    assert (tmp_path / "h2" / "bids_dataset" / "dataset_description.json").is_file()
