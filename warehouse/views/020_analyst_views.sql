-- Analyst views (the contract with analytics, docs/architecture.md), live definitions.
-- v_<name>_live computes from the tables; v_<name> (warehouse/sql/refresh_views.sql) reads the
-- same rows materialized as mat_<name> when a batch is promoted, so analysts' queries stay
-- fast; both are always equal because curated tables change only at promotion.
-- Names are unqualified on purpose: this file is executed in schema main (curated tables) and
-- in schema merged (staged batch over curated), where the change view is checked by the
-- expectations before promotion. Re-created by warehouse.db.migrate when this file changes.

-- One row per (subject, session): SVD and ICAC session markers (long format for mixed models).
CREATE OR REPLACE VIEW v_session_measures_live AS
SELECT
    s.subject,
    s.session,
    s.visit,
    s.days_since_baseline,
    v.status AS svd_status,
    v.wmh_volume_cm3,
    v.wmh_pv_volume_cm3,
    v.wmh_deep_volume_cm3,
    v.fazekas_pv,
    v.fazekas_deep,
    v.fazekas_total,
    v.microbleed_count,
    v.microbleed_volume_mm3,
    v.microbleed_contrast,
    v.lacune_count,
    v.pvs_count,
    v.pv_punctate_grade,
    v.svd_score,
    i.status AS icac_status,
    i.total_calcium_volume_mm3,
    i.total_agatston,
    i.total_mass_mg,
    i.total_plaques,
    i.n_segments_involved,
    i.max_circumferential_extent_deg,
    i.severity_group,
    i.dominant_location
FROM sessions s
LEFT JOIN svd_measures v USING (subject, session)
LEFT JOIN icac_session_measures i USING (subject, session);

-- One row per subject at baseline: covariates, baseline ICAC and every SVD marker.
CREATE OR REPLACE VIEW v_baseline_cohort_live AS
SELECT
    p.subject,
    p.sex,
    p.age,
    p.smoking,
    p.hypertension,
    p.diabetes,
    p.hyperlipidaemia,
    p.heart_disease,
    p.prior_stroke,
    i.severity_group,
    i.dominant_location,
    i.total_calcium_volume_mm3,
    i.total_agatston,
    i.total_mass_mg,
    v.wmh_volume_cm3,
    v.wmh_pv_volume_cm3,
    v.wmh_deep_volume_cm3,
    v.fazekas_pv,
    v.fazekas_deep,
    v.fazekas_total,
    v.microbleed_count,
    v.microbleed_volume_mm3,
    v.microbleed_contrast,
    v.lacune_count,
    v.pvs_count,
    v.pv_punctate_grade,
    v.svd_score
FROM subjects p
JOIN sessions s ON s.subject = p.subject AND s.visit = 'baseline'
LEFT JOIN icac_session_measures i ON i.subject = s.subject AND i.session = s.session
LEFT JOIN svd_measures v ON v.subject = s.subject AND v.session = s.session;

-- One row per subject with a baseline and a follow-up visit (the follow-up closest to one
-- year): baseline ICAC group and, for every numeric SVD marker, baseline, follow-up and
-- change = follow-up minus baseline.
CREATE OR REPLACE VIEW v_one_year_change_live AS
WITH base AS (
    SELECT subject, session, days_since_baseline
    FROM sessions
    WHERE visit = 'baseline'
), fu AS (
    SELECT subject, session, days_since_baseline
    FROM sessions
    WHERE visit = 'followup'
    QUALIFY row_number() OVER (
        PARTITION BY subject ORDER BY abs(days_since_baseline - 365), days_since_baseline
    ) = 1
)
SELECT
    base.subject,
    i.severity_group,
    i.dominant_location,
    fu.days_since_baseline - base.days_since_baseline AS days_between,
    base.session AS baseline_session,
    fu.session AS followup_session,
    b.wmh_volume_cm3 AS wmh_volume_cm3_baseline,
    f.wmh_volume_cm3 AS wmh_volume_cm3_followup,
    f.wmh_volume_cm3 - b.wmh_volume_cm3 AS wmh_volume_cm3_change,
    b.wmh_pv_volume_cm3 AS wmh_pv_volume_cm3_baseline,
    f.wmh_pv_volume_cm3 AS wmh_pv_volume_cm3_followup,
    f.wmh_pv_volume_cm3 - b.wmh_pv_volume_cm3 AS wmh_pv_volume_cm3_change,
    b.wmh_deep_volume_cm3 AS wmh_deep_volume_cm3_baseline,
    f.wmh_deep_volume_cm3 AS wmh_deep_volume_cm3_followup,
    f.wmh_deep_volume_cm3 - b.wmh_deep_volume_cm3 AS wmh_deep_volume_cm3_change,
    b.fazekas_pv AS fazekas_pv_baseline,
    f.fazekas_pv AS fazekas_pv_followup,
    f.fazekas_pv - b.fazekas_pv AS fazekas_pv_change,
    b.fazekas_deep AS fazekas_deep_baseline,
    f.fazekas_deep AS fazekas_deep_followup,
    f.fazekas_deep - b.fazekas_deep AS fazekas_deep_change,
    b.fazekas_total AS fazekas_total_baseline,
    f.fazekas_total AS fazekas_total_followup,
    f.fazekas_total - b.fazekas_total AS fazekas_total_change,
    b.microbleed_count AS microbleed_count_baseline,
    f.microbleed_count AS microbleed_count_followup,
    f.microbleed_count - b.microbleed_count AS microbleed_count_change,
    b.microbleed_volume_mm3 AS microbleed_volume_mm3_baseline,
    f.microbleed_volume_mm3 AS microbleed_volume_mm3_followup,
    f.microbleed_volume_mm3 - b.microbleed_volume_mm3 AS microbleed_volume_mm3_change,
    b.lacune_count AS lacune_count_baseline,
    f.lacune_count AS lacune_count_followup,
    f.lacune_count - b.lacune_count AS lacune_count_change,
    b.pvs_count AS pvs_count_baseline,
    f.pvs_count AS pvs_count_followup,
    f.pvs_count - b.pvs_count AS pvs_count_change,
    b.pv_punctate_grade AS pv_punctate_grade_baseline,
    f.pv_punctate_grade AS pv_punctate_grade_followup,
    f.pv_punctate_grade - b.pv_punctate_grade AS pv_punctate_grade_change,
    b.svd_score AS svd_score_baseline,
    f.svd_score AS svd_score_followup,
    f.svd_score - b.svd_score AS svd_score_change
FROM base
JOIN fu USING (subject)
LEFT JOIN icac_session_measures i ON i.subject = base.subject AND i.session = base.session
LEFT JOIN svd_measures b ON b.subject = base.subject AND b.session = base.session
LEFT JOIN svd_measures f ON f.subject = fu.subject AND f.session = fu.session;

-- One row per (subject, session, artery, side).
CREATE OR REPLACE VIEW v_icac_by_artery_live AS
SELECT
    a.subject,
    a.session,
    s.visit,
    s.days_since_baseline,
    a.artery,
    a.side,
    a.calcium_volume_mm3,
    a.agatston,
    a.mass_mg,
    a.n_plaques,
    a.max_hu,
    a.circumferential_extent_deg
FROM icac_artery_measures a
LEFT JOIN sessions s USING (subject, session);

-- One row per subject: covariates, visits, baseline ICAC group and latest SVD burden.
CREATE OR REPLACE VIEW v_subject_summary_live AS
WITH visits AS (
    SELECT
        subject,
        count(*) AS n_sessions,
        bool_or(visit = 'baseline') AS has_baseline,
        count(*) FILTER (WHERE visit = 'followup') AS n_followups,
        max(days_since_baseline) AS last_days_since_baseline,
        sum(n_scans) AS n_scans,
        min(session) FILTER (WHERE visit = 'baseline') AS baseline_session,
        arg_max(session, days_since_baseline) AS last_session
    FROM sessions
    GROUP BY subject
)
SELECT
    p.subject,
    p.sex,
    p.age,
    coalesce(v.n_sessions, 0) AS n_sessions,
    coalesce(v.has_baseline, false) AS has_baseline,
    coalesce(v.n_followups, 0) AS n_followups,
    v.last_days_since_baseline,
    coalesce(v.n_scans, 0) AS n_scans,
    i.severity_group AS baseline_severity_group,
    i.dominant_location AS baseline_dominant_location,
    i.total_calcium_volume_mm3 AS baseline_total_calcium_volume_mm3,
    b.fazekas_total AS baseline_fazekas_total,
    l.fazekas_total AS last_fazekas_total,
    l.wmh_volume_cm3 AS last_wmh_volume_cm3,
    l.svd_score AS last_svd_score
FROM subjects p
LEFT JOIN visits v ON v.subject = p.subject
LEFT JOIN icac_session_measures i ON i.subject = p.subject AND i.session = v.baseline_session
LEFT JOIN svd_measures b ON b.subject = p.subject AND b.session = v.baseline_session
LEFT JOIN svd_measures l ON l.subject = p.subject AND l.session = v.last_session;
