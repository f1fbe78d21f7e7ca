-- 001: initial schema of the calcisvd biomarker warehouse.
--
-- Layout (see warehouse/schema.md):
--   main.*            curated tables that analysts read (only validated batches reach them)
--   main.*_history    old versions of curated rows, with the run that replaced them
--   staging.*         the last batch read by `calcisvd load` (same columns as main.*);
--                     a batch that failed validation stays here for inspection
--   merged.*          views: staging over curated (what curated would look like after promotion),
--                     used by the cross-table expectations (warehouse/views/010_merged.sql)
-- Every curated row carries `run_id`: the pipeline run (pipeline_runs.run_id) that last wrote it.
-- Units follow calcisvd/measures.py.

-- Operations ---------------------------------------------------------------------------------

-- One row per `calcisvd load` / `calcisvd validate` run (or Prefect flow run).
CREATE TABLE pipeline_runs (
    run_id        VARCHAR PRIMARY KEY,  -- uuid4 hex chosen by the caller
    kind          VARCHAR NOT NULL,     -- load | validate
    flow_run_id   VARCHAR,              -- Prefect flow run id when run from a flow
    code_version  VARCHAR NOT NULL,     -- calcisvd version (and git revision when known)
    parameters    JSON,                 -- settings and options of the run
    started_at    TIMESTAMPTZ NOT NULL,
    ended_at      TIMESTAMPTZ,
    status        VARCHAR NOT NULL,     -- running | success | failed
    message       VARCHAR               -- summary or error text
);

-- One row per expectation evaluated (staged batch or curated tables).
CREATE TABLE validation_results (
    run_id          VARCHAR NOT NULL,   -- pipeline_runs.run_id
    target          VARCHAR NOT NULL,   -- staging | curated
    suite           VARCHAR NOT NULL,   -- expectations/suites/<suite>.json
    expectation     VARCHAR NOT NULL,   -- GX expectation type
    column_name     VARCHAR,            -- column (or column list) checked
    success         BOOLEAN NOT NULL,
    element_count   BIGINT,
    unexpected_count BIGINT,
    observed        JSON,               -- GX result (observed value, partial unexpected list)
    validated_at    TIMESTAMPTZ NOT NULL
);

-- Quarantined inputs: one row per reason file (quarantine/**/*.json) written by ingestion.
CREATE TABLE ingest_quarantine (
    path          VARCHAR PRIMARY KEY,  -- reason file, relative to the quarantine directory
    reason        VARCHAR,              -- the file's "reason" field
    source        VARCHAR,              -- the file's "source"/"path" field, when present
    details       JSON,                 -- the whole reason file
    run_id        VARCHAR
);

-- Events of `calcisvd load` itself (files read, skipped, unreadable).
CREATE TABLE ingest_log (
    run_id        VARCHAR NOT NULL,
    logged_at     TIMESTAMPTZ NOT NULL,
    level         VARCHAR NOT NULL,     -- INFO | WARNING | ERROR
    path          VARCHAR,
    message       VARCHAR NOT NULL
);

-- Cache of scan content hashes keyed by (path, size, mtime) so reloads do not re-read images.
CREATE TABLE scan_hash_cache (
    path          VARCHAR PRIMARY KEY,
    size_bytes    BIGINT NOT NULL,
    mtime_ns      BIGINT NOT NULL,
    sha256        VARCHAR NOT NULL
);

-- Curated tables ------------------------------------------------------------------------------

-- One row per subject (pseudonym), from participants.tsv. Booleans from yes/no.
CREATE TABLE subjects (
    subject          VARCHAR PRIMARY KEY,  -- pseudonym without the "sub-" prefix
    sex              VARCHAR,              -- M | F
    age              DOUBLE,               -- years at the baseline visit
    smoking          BOOLEAN,
    hypertension     BOOLEAN,
    diabetes         BOOLEAN,
    hyperlipidaemia  BOOLEAN,
    heart_disease    BOOLEAN,
    prior_stroke     BOOLEAN,
    run_id           VARCHAR
);

-- One row per (subject, session), from sub-X_sessions.tsv and the anat/ folder.
CREATE TABLE sessions (
    subject              VARCHAR NOT NULL,
    session              VARCHAR NOT NULL,  -- label without "ses-": M00 baseline, M12 ...
    visit                VARCHAR,           -- baseline (M00) | followup
    days_since_baseline  INTEGER,
    has_ct               BOOLEAN,           -- which modalities exist in anat/
    has_t1w              BOOLEAN,
    has_t2w              BOOLEAN,
    has_flair            BOOLEAN,
    has_t2starw          BOOLEAN,
    n_scans              INTEGER,
    run_id               VARCHAR,
    PRIMARY KEY (subject, session)
);

-- One row per image in the BIDS dataset, with acquisition parameters from the JSON sidecar.
CREATE TABLE scans (
    path              VARCHAR PRIMARY KEY,  -- relative to the BIDS root
    subject           VARCHAR NOT NULL,
    session           VARCHAR NOT NULL,
    modality          VARCHAR NOT NULL,     -- ct | T1w | T2w | FLAIR | T2starw
    size_bytes        BIGINT,
    content_sha256    VARCHAR,              -- sha256 of the .nii.gz bytes
    repetition_time   DOUBLE,               -- s (sidecar RepetitionTime)
    echo_time         DOUBLE,               -- s (EchoTime)
    inversion_time    DOUBLE,               -- s (InversionTime)
    kvp               DOUBLE,               -- kV (CT KVP)
    slice_thickness   DOUBLE,               -- mm (SliceThickness)
    manufacturer      VARCHAR,
    model             VARCHAR,              -- ManufacturersModelName
    sidecar           JSON,                 -- the whole sidecar
    run_id            VARCHAR
);

-- ICAC per artery and side and session (calcisvd.measures.ARTERY_MEASURES).
CREATE TABLE icac_artery_measures (
    subject                     VARCHAR NOT NULL,
    session                     VARCHAR NOT NULL,
    artery                      VARCHAR NOT NULL,  -- ICA | MCA | BA | VA
    side                        VARCHAR NOT NULL,  -- L | R | M (midline)
    calcium_volume_mm3          DOUBLE,
    agatston                    DOUBLE,
    mass_mg                     DOUBLE,
    n_plaques                   INTEGER,
    max_hu                      DOUBLE,
    circumferential_extent_deg  DOUBLE,
    run_id                      VARCHAR,
    PRIMARY KEY (subject, session, artery, side)
);

-- ICAC session summary (calcisvd.measures.ICAC_SESSION_MEASURES) and provenance.
CREATE TABLE icac_session_measures (
    subject                         VARCHAR NOT NULL,
    session                         VARCHAR NOT NULL,
    status                          VARCHAR NOT NULL,  -- ok | missing | failed
    reason                          VARCHAR,
    total_calcium_volume_mm3        DOUBLE,
    total_agatston                  DOUBLE,
    total_mass_mg                   DOUBLE,
    total_plaques                   INTEGER,
    n_segments_involved             INTEGER,
    max_circumferential_extent_deg  DOUBLE,
    severity_group                  VARCHAR,  -- none_mild | moderate | severe
    dominant_location               VARCHAR,  -- ICA | MCA | BA | VA | NULL
    code_version                    VARCHAR,  -- pipeline.version of measures.json
    code_revision                   VARCHAR,  -- pipeline.code_revision
    inputs_hash                     VARCHAR,  -- pipeline.inputs_hash
    quantified_at                   VARCHAR,  -- pipeline.created (UTC ISO)
    run_id                          VARCHAR,
    PRIMARY KEY (subject, session)
);

-- SVD markers per session (calcisvd.measures.SVD_MEASURES) and provenance.
CREATE TABLE svd_measures (
    subject                VARCHAR NOT NULL,
    session                VARCHAR NOT NULL,
    status                 VARCHAR NOT NULL,  -- ok | missing | failed
    reason                 VARCHAR,
    wmh_volume_cm3         DOUBLE,
    wmh_pv_volume_cm3      DOUBLE,
    wmh_deep_volume_cm3    DOUBLE,
    fazekas_pv             INTEGER,  -- 0-3
    fazekas_deep           INTEGER,  -- 0-3
    fazekas_total          INTEGER,  -- 0-6
    microbleed_count       INTEGER,
    microbleed_volume_mm3  DOUBLE,
    microbleed_contrast    VARCHAR,  -- T2starw | T2w (T2w: no T2*/SWI was available)
    lacune_count           INTEGER,
    pvs_count              INTEGER,
    pv_punctate_grade      INTEGER,  -- 0-3
    svd_score              INTEGER,  -- 0-4
    code_version           VARCHAR,
    code_revision          VARCHAR,
    inputs_hash            VARCHAR,
    quantified_at          VARCHAR,
    run_id                 VARCHAR,
    PRIMARY KEY (subject, session)
);

-- History: the replaced version of a curated row, with the run that wrote it (run_id) and the
-- run that replaced it (superseded_by_run_id). Written only when a row's content changes.
CREATE TABLE subjects_history AS
    SELECT *, NULL::VARCHAR AS superseded_by_run_id, NULL::TIMESTAMPTZ AS superseded_at
    FROM subjects LIMIT 0;
CREATE TABLE sessions_history AS
    SELECT *, NULL::VARCHAR AS superseded_by_run_id, NULL::TIMESTAMPTZ AS superseded_at
    FROM sessions LIMIT 0;
CREATE TABLE scans_history AS
    SELECT *, NULL::VARCHAR AS superseded_by_run_id, NULL::TIMESTAMPTZ AS superseded_at
    FROM scans LIMIT 0;
CREATE TABLE icac_artery_measures_history AS
    SELECT *, NULL::VARCHAR AS superseded_by_run_id, NULL::TIMESTAMPTZ AS superseded_at
    FROM icac_artery_measures LIMIT 0;
CREATE TABLE icac_session_measures_history AS
    SELECT *, NULL::VARCHAR AS superseded_by_run_id, NULL::TIMESTAMPTZ AS superseded_at
    FROM icac_session_measures LIMIT 0;
CREATE TABLE svd_measures_history AS
    SELECT *, NULL::VARCHAR AS superseded_by_run_id, NULL::TIMESTAMPTZ AS superseded_at
    FROM svd_measures LIMIT 0;

-- Staging: same columns as the curated tables, no constraints (a bad batch must fit here).
CREATE SCHEMA staging;
CREATE TABLE staging.subjects AS SELECT * FROM main.subjects LIMIT 0;
CREATE TABLE staging.sessions AS SELECT * FROM main.sessions LIMIT 0;
CREATE TABLE staging.scans AS SELECT * FROM main.scans LIMIT 0;
CREATE TABLE staging.icac_artery_measures AS SELECT * FROM main.icac_artery_measures LIMIT 0;
CREATE TABLE staging.icac_session_measures AS SELECT * FROM main.icac_session_measures LIMIT 0;
CREATE TABLE staging.svd_measures AS SELECT * FROM main.svd_measures LIMIT 0;

CREATE SCHEMA merged;
