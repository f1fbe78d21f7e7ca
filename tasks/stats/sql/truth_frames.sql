-- Optional ground-truth tables of a simulated cohort (same columns as the analyst views).
-- name: baseline
SELECT * FROM truth_baseline_cohort ORDER BY subject;
-- name: change
SELECT * FROM truth_one_year_change ORDER BY subject;
-- name: sessions
SELECT * FROM truth_session_measures ORDER BY subject, session;
