-- Quality control views (issue 20): the latest rating per session and one row per session
-- with the method's statuses, the rating that counts and the QC metrics. Live views (ratings
-- change outside load promotion), in schema main only. Re-created by warehouse.db.migrate
-- when this file changes. Contract: docs/architecture.md and warehouse/schema.md.

-- The rating that counts: the latest row of qc_ratings per session (history stays in the table).
CREATE OR REPLACE VIEW v_qc_latest_rating AS
SELECT subject, session, rating, reason, rater, source, rated_at
FROM qc_ratings
QUALIFY row_number() OVER (
    PARTITION BY subject, session ORDER BY rated_at DESC, rating_id DESC
) = 1;

-- One row per session: statuses, review reasons, the latest rating and the QC decision
-- qc_decision: fail (rated fail) | pass (rated pass) | review (rated review, or a method said
-- review and nobody rated it) | ok. Analytics exclude fail always and review by default.
CREATE OR REPLACE VIEW v_session_qc AS
SELECT
    s.subject,
    s.session,
    s.visit,
    v.status AS svd_status,
    v.reason AS svd_reason,
    i.status AS icac_status,
    i.reason AS icac_reason,
    r.rating,
    r.reason AS rating_reason,
    r.rater,
    r.rated_at,
    CASE
        WHEN r.rating = 'fail' THEN 'fail'
        WHEN r.rating = 'pass' THEN 'pass'
        WHEN r.rating = 'review' OR v.status = 'review' OR i.status = 'review' THEN 'review'
        ELSE 'ok'
    END AS qc_decision,
    v.qc_brain_volume_ml,
    v.qc_mask_vertex_offset_mm,
    v.qc_mask_lateral_offset_mm,
    v.qc_registration_scale,
    v.qc_mask_fov_fraction,
    v.qc_registration_nmi,
    v.qc_mask_foreground_fraction,
    v.qc_nawm_median,
    v.qc_nawm_sd,
    v.qc_nawm_cov,
    v.qc_wmh_contrast_sd,
    v.qc_flair_local_sd_ratio,
    v.qc_wmh_global_reference_cm3,
    v.qc_slice_thickness_mm AS qc_mr_slice_thickness_mm,
    v.qc_inplane_mm AS qc_mr_inplane_mm,
    i.qc_intracranial_volume_ml,
    i.qc_intracranial_coverage,
    i.qc_air_hu,
    i.qc_csf_hu,
    i.qc_brain_hu,
    i.qc_registration_dice,
    i.qc_slice_thickness_mm AS qc_ct_slice_thickness_mm,
    i.qc_gantry_tilt_deg,
    i.qc_kvp
FROM sessions s
LEFT JOIN svd_measures v USING (subject, session)
LEFT JOIN icac_session_measures i USING (subject, session)
LEFT JOIN v_qc_latest_rating r USING (subject, session);
