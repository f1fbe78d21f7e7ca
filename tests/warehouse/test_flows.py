"""The load and validate Prefect flows under a real (test) Prefect API, DuckDB and GX."""

from __future__ import annotations

import asyncio

from tests.warehouse.conftest import edit_measures
from warehouse import db


def _artifact(key: str) -> str:
    from prefect.client.orchestration import get_client

    async def read() -> str:
        async with get_client() as client:
            art = await client.read_latest_artifacts()
            return next(a.data for a in art if a.key == key)

    return asyncio.run(read())


def _task_names(flow_run_id) -> list[str]:
    """Names of the task runs of a flow run, in start order (from the Prefect API)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    async def read() -> list[str]:
        async with get_client() as client:
            runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
            return [r.name.rsplit("-", 1)[0] for r in sorted(runs, key=lambda r: r.start_time)]

    return asyncio.run(read())


def test_load_and_validate_flows(prefect_harness, study):
    from flows.load import load_flow
    from flows.validate import validate_flow

    settings, subjects = study
    state = load_flow(settings=settings, return_state=True)
    assert state.is_completed()
    summary = state.result()
    assert summary["status"] == "success" and summary["written"]["svd_measures"] == 12
    assert "PASSED" in _artifact("warehouse-load-validation")
    con = db.connect(settings.warehouse_path, read_only=True)
    run = con.execute("SELECT status, flow_run_id FROM pipeline_runs WHERE run_id = $r",
                      {"r": summary["run_id"]}).fetchone()
    con.close()
    assert run[0] == "success" and run[1] == str(state.state_details.flow_run_id)
    # each step is a task of its own (shown, timed and retried apart)
    assert _task_names(state.state_details.flow_run_id) == [
        f"warehouse-load-{step}" for step in
        ("begin", "read", "stage", "validate", "promote", "export", "report")]

    vstate = validate_flow(settings=settings, return_state=True)
    assert vstate.is_completed()
    result = vstate.result()
    assert result["success"] and result["n_expectations"] > 100
    docs = settings.gx_dir / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    assert result["docs_index"] == str(docs) and docs.is_file()
    con = db.connect(settings.warehouse_path, read_only=True)
    n = con.execute("SELECT count(*) FROM validation_results WHERE run_id = $r "
                    "AND target = 'curated'", {"r": result["run_id"]}).fetchone()[0]
    con.close()
    assert n == result["n_expectations"]

    # a bad batch: the flow run ends Failed and names the failed expectation
    edit_measures(settings.derivatives_dir, subjects[0], "M00",
                  lambda d: d["svd"].update(status=None))  # gates (not held)
    bad = load_flow(settings=settings, return_state=True)
    assert bad.is_failed()
    assert "svd_measures.expect_column_values_to_not_be_null(status)" in str(
        bad.result(raise_on_failure=False))
    assert "FAILED" in _artifact("warehouse-load-validation")


def test_cli_load_and_validate(study, capsys, monkeypatch):
    from calcisvd.cli import main

    settings, _ = study
    home = ["--home", str(settings.home)]
    # the CLI builds its settings from flags and env: point it at the shared GX directory
    monkeypatch.setenv("CALCISVD_GX_DIR", str(settings.gx_dir))
    assert main(["load", "--no-flow", *home]) == 0
    out = capsys.readouterr().out
    assert "success" in out and "'svd_measures': 12" in out
    assert main(["validate", "--no-flow", *home]) == 0
    assert "PASSED" in capsys.readouterr().out
    assert main(["validate", "--suite", "nonexistent", *home]) == 2
