-- Store the loader's events (from _log, a registered DataFrame).
INSERT INTO ingest_log BY NAME
SELECT l.*, $run_id AS run_id, now() AS logged_at FROM _log l;
