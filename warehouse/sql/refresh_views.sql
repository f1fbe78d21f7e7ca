-- Materialize the analyst views (run by warehouse.db.migrate when view files change and inside
-- every promotion transaction): mat_<name> holds the rows of v_<name>_live, and v_<name>, the
-- name analysts use, reads them. Curated tables change only at promotion, so both agree.
CREATE OR REPLACE TABLE mat_baseline_cohort AS SELECT * FROM v_baseline_cohort_live;
CREATE OR REPLACE TABLE mat_one_year_change AS SELECT * FROM v_one_year_change_live;
CREATE OR REPLACE TABLE mat_session_measures AS SELECT * FROM v_session_measures_live;
CREATE OR REPLACE TABLE mat_icac_by_artery AS SELECT * FROM v_icac_by_artery_live;
CREATE OR REPLACE TABLE mat_subject_summary AS SELECT * FROM v_subject_summary_live;
CREATE OR REPLACE VIEW v_baseline_cohort AS SELECT * FROM mat_baseline_cohort;
CREATE OR REPLACE VIEW v_one_year_change AS SELECT * FROM mat_one_year_change;
CREATE OR REPLACE VIEW v_session_measures AS SELECT * FROM mat_session_measures;
CREATE OR REPLACE VIEW v_icac_by_artery AS SELECT * FROM mat_icac_by_artery;
CREATE OR REPLACE VIEW v_subject_summary AS SELECT * FROM mat_subject_summary;
