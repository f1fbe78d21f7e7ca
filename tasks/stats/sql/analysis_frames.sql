-- Analyst views read by tasks.stats.data.read_analysis_frames (contract: docs/architecture.md).
-- One statement per view; the reader runs them one at a time by name.
-- name: baseline
SELECT * FROM v_baseline_cohort ORDER BY subject;
-- name: change
SELECT * FROM v_one_year_change ORDER BY subject;
-- name: sessions
SELECT * FROM v_session_measures ORDER BY subject, session;
-- name: icac_by_artery
SELECT * FROM v_icac_by_artery ORDER BY subject, session, artery, side;
-- name: session_qc
SELECT * FROM v_session_qc ORDER BY subject, session;
