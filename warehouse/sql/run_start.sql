-- Record the start of a pipeline run.
INSERT INTO pipeline_runs (run_id, kind, flow_run_id, code_version, parameters, started_at, status)
VALUES ($run_id, $kind, $flow_run_id, $code_version, $parameters, now(), 'running');
