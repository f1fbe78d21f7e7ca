-- Record the end of a pipeline run.
UPDATE pipeline_runs SET ended_at = now(), status = $status, message = $message
WHERE run_id = $run_id;
