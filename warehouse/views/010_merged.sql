-- merged.*: what the curated tables would hold if the staged batch were promoted.
-- Staged rows replace curated rows with the same natural key; per-session tables
-- (scans, icac_artery_measures) replace every curated row of a staged session.
-- Cross-table expectations run on these views; re-created when this file changes.

CREATE OR REPLACE VIEW merged.subjects AS
SELECT * FROM staging.subjects
UNION ALL BY NAME
SELECT * FROM main.subjects m
WHERE NOT EXISTS (SELECT 1 FROM staging.subjects s WHERE s.subject = m.subject);

CREATE OR REPLACE VIEW merged.sessions AS
SELECT * FROM staging.sessions
UNION ALL BY NAME
SELECT * FROM main.sessions m
WHERE NOT EXISTS (SELECT 1 FROM staging.sessions s
                  WHERE s.subject = m.subject AND s.session = m.session);

CREATE OR REPLACE VIEW merged.scans AS
SELECT * FROM staging.scans
UNION ALL BY NAME
SELECT * FROM main.scans m
WHERE NOT EXISTS (SELECT 1 FROM staging.scans s
                  WHERE s.subject = m.subject AND s.session = m.session);

CREATE OR REPLACE VIEW merged.icac_artery_measures AS
SELECT * FROM staging.icac_artery_measures
UNION ALL BY NAME
SELECT * FROM main.icac_artery_measures m
WHERE NOT EXISTS (SELECT 1 FROM staging.icac_session_measures s
                  WHERE s.subject = m.subject AND s.session = m.session);

CREATE OR REPLACE VIEW merged.icac_session_measures AS
SELECT * FROM staging.icac_session_measures
UNION ALL BY NAME
SELECT * FROM main.icac_session_measures m
WHERE NOT EXISTS (SELECT 1 FROM staging.icac_session_measures s
                  WHERE s.subject = m.subject AND s.session = m.session);

CREATE OR REPLACE VIEW merged.svd_measures AS
SELECT * FROM staging.svd_measures
UNION ALL BY NAME
SELECT * FROM main.svd_measures m
WHERE NOT EXISTS (SELECT 1 FROM staging.svd_measures s
                  WHERE s.subject = m.subject AND s.session = m.session);
