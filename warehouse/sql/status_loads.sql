-- The last loads (newest first) for `calcisvd status`: failed ones with their reason.
SELECT run_id, started_at, status, message
FROM pipeline_runs
WHERE kind = 'load'
ORDER BY started_at DESC
LIMIT 10;
