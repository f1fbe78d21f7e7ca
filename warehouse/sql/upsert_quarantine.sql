-- Upsert quarantine reason files (read from _quarantine, a registered DataFrame).
INSERT INTO ingest_quarantine BY NAME
SELECT q.*, $run_id AS run_id FROM _quarantine q
ON CONFLICT (path) DO UPDATE SET reason = excluded.reason, source = excluded.source,
    details = excluded.details, run_id = excluded.run_id
    WHERE ingest_quarantine.details IS DISTINCT FROM excluded.details;
