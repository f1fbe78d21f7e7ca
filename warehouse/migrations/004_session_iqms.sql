-- Issue 20 item 1: image-quality metrics (IQMs) per session, one row per modality and metric.
--
-- Long table (not columns): each MR contrast has its own metrics and a session has any subset
-- of contrasts. Read from the measures JSON (svd.iqms.<contrast>.<metric>, icac.iqms.ct.<metric>;
-- tasks/qc/iqm.py, units in tasks.qc.iqm.IQM_UNITS). A curated table like the measures:
-- staged, validated (GX suite session_iqms), promoted with history.

CREATE TABLE session_iqms (
    subject     VARCHAR NOT NULL,
    session     VARCHAR NOT NULL,
    modality    VARCHAR NOT NULL,   -- T1w | T2w | FLAIR | T2starw | ct
    metric      VARCHAR NOT NULL,   -- snr_wm, cnr, cjv, efc, fber, inu_range, noise_air_sd...
    value       DOUBLE,             -- NULL when not computable (e.g. zero-filled background)
    unit        VARCHAR NOT NULL,   -- ratio | fraction | HU
    run_id      VARCHAR,
    PRIMARY KEY (subject, session, modality, metric)
);
CREATE TABLE session_iqms_history AS
    SELECT *, NULL::VARCHAR AS superseded_by_run_id, NULL::TIMESTAMPTZ AS superseded_at
    FROM session_iqms LIMIT 0;
CREATE TABLE staging.session_iqms AS SELECT * FROM main.session_iqms LIMIT 0;
