-- Cells and rows the last successful load held back (warehouse/holdback.py logs them in
-- ingest_log), for `calcisvd status`.
SELECT path, message
FROM ingest_log
WHERE run_id = (SELECT run_id FROM pipeline_runs
                WHERE kind = 'load' AND status = 'success'
                ORDER BY started_at DESC LIMIT 1)
  AND message LIKE '%held back%'
ORDER BY path;
