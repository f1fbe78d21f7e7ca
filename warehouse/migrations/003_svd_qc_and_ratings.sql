-- Issue 20 / issue 16 item 5: MRI quality control reaches the warehouse, and ratings.
--
-- svd_measures gets one nullable DOUBLE column per MRI QC metric (svd.qc of the measures
-- JSON; names and units in calcisvd.measures.SVD_QC, prefixed qc_), on the curated, history
-- and staging tables (additive only; the review reasons are already in svd_measures.reason).
--
-- qc_ratings: a person's verdict on a session (`calcisvd qc rate`, the buttons of
-- `calcisvd qc serve`). Insert-only: a new rating never replaces a row; the latest by
-- rated_at (then rating_id) is the one that counts (view v_qc_latest_rating, 030_qc.sql).
-- Not a curated table: it is written directly, never through staging or validation.

ALTER TABLE main.svd_measures ADD COLUMN qc_brain_volume_ml DOUBLE;
ALTER TABLE main.svd_measures ADD COLUMN qc_mask_vertex_offset_mm DOUBLE;
ALTER TABLE main.svd_measures ADD COLUMN qc_mask_lateral_offset_mm DOUBLE;
ALTER TABLE main.svd_measures ADD COLUMN qc_registration_scale DOUBLE;
ALTER TABLE main.svd_measures ADD COLUMN qc_mask_fov_fraction DOUBLE;
ALTER TABLE main.svd_measures ADD COLUMN qc_registration_nmi DOUBLE;
ALTER TABLE main.svd_measures ADD COLUMN qc_mask_foreground_fraction DOUBLE;
ALTER TABLE main.svd_measures ADD COLUMN qc_nawm_median DOUBLE;
ALTER TABLE main.svd_measures ADD COLUMN qc_nawm_sd DOUBLE;
ALTER TABLE main.svd_measures ADD COLUMN qc_nawm_cov DOUBLE;
ALTER TABLE main.svd_measures ADD COLUMN qc_wmh_contrast_sd DOUBLE;
ALTER TABLE main.svd_measures ADD COLUMN qc_slice_thickness_mm DOUBLE;
ALTER TABLE main.svd_measures ADD COLUMN qc_inplane_mm DOUBLE;
ALTER TABLE main.svd_measures_history ADD COLUMN qc_brain_volume_ml DOUBLE;
ALTER TABLE main.svd_measures_history ADD COLUMN qc_mask_vertex_offset_mm DOUBLE;
ALTER TABLE main.svd_measures_history ADD COLUMN qc_mask_lateral_offset_mm DOUBLE;
ALTER TABLE main.svd_measures_history ADD COLUMN qc_registration_scale DOUBLE;
ALTER TABLE main.svd_measures_history ADD COLUMN qc_mask_fov_fraction DOUBLE;
ALTER TABLE main.svd_measures_history ADD COLUMN qc_registration_nmi DOUBLE;
ALTER TABLE main.svd_measures_history ADD COLUMN qc_mask_foreground_fraction DOUBLE;
ALTER TABLE main.svd_measures_history ADD COLUMN qc_nawm_median DOUBLE;
ALTER TABLE main.svd_measures_history ADD COLUMN qc_nawm_sd DOUBLE;
ALTER TABLE main.svd_measures_history ADD COLUMN qc_nawm_cov DOUBLE;
ALTER TABLE main.svd_measures_history ADD COLUMN qc_wmh_contrast_sd DOUBLE;
ALTER TABLE main.svd_measures_history ADD COLUMN qc_slice_thickness_mm DOUBLE;
ALTER TABLE main.svd_measures_history ADD COLUMN qc_inplane_mm DOUBLE;
ALTER TABLE staging.svd_measures ADD COLUMN qc_brain_volume_ml DOUBLE;
ALTER TABLE staging.svd_measures ADD COLUMN qc_mask_vertex_offset_mm DOUBLE;
ALTER TABLE staging.svd_measures ADD COLUMN qc_mask_lateral_offset_mm DOUBLE;
ALTER TABLE staging.svd_measures ADD COLUMN qc_registration_scale DOUBLE;
ALTER TABLE staging.svd_measures ADD COLUMN qc_mask_fov_fraction DOUBLE;
ALTER TABLE staging.svd_measures ADD COLUMN qc_registration_nmi DOUBLE;
ALTER TABLE staging.svd_measures ADD COLUMN qc_mask_foreground_fraction DOUBLE;
ALTER TABLE staging.svd_measures ADD COLUMN qc_nawm_median DOUBLE;
ALTER TABLE staging.svd_measures ADD COLUMN qc_nawm_sd DOUBLE;
ALTER TABLE staging.svd_measures ADD COLUMN qc_nawm_cov DOUBLE;
ALTER TABLE staging.svd_measures ADD COLUMN qc_wmh_contrast_sd DOUBLE;
ALTER TABLE staging.svd_measures ADD COLUMN qc_slice_thickness_mm DOUBLE;
ALTER TABLE staging.svd_measures ADD COLUMN qc_inplane_mm DOUBLE;

CREATE SEQUENCE qc_ratings_seq START 1;
CREATE TABLE qc_ratings (
    rating_id   BIGINT PRIMARY KEY DEFAULT nextval('qc_ratings_seq'),
    subject     VARCHAR NOT NULL,      -- pseudonym without "sub-"
    session     VARCHAR NOT NULL,      -- label without "ses-"
    rating      VARCHAR NOT NULL CHECK (rating IN ('pass', 'review', 'fail')),
    reason      VARCHAR,               -- free text from the rater
    rater       VARCHAR NOT NULL,      -- OS user or --rater
    source      VARCHAR NOT NULL,      -- cli | web
    rated_at    TIMESTAMPTZ NOT NULL   -- UTC
);
