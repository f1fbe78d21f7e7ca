-- Empty every staging table before a new batch is written (inside one short transaction).
DELETE FROM staging.subjects;
DELETE FROM staging.sessions;
DELETE FROM staging.scans;
DELETE FROM staging.icac_artery_measures;
DELETE FROM staging.icac_session_measures;
DELETE FROM staging.svd_measures;
DELETE FROM staging.session_iqms;
