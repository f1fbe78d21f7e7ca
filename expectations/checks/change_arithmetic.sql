-- Change arithmetic of v_one_year_change (its live definition): one row per (subject, marker)
-- with the view's baseline, follow-up and change, and residual = change - (follow-up -
-- baseline), which must be 0. Checked by expectations/suites/change_arithmetic.json.
WITH long AS (
    UNPIVOT v_one_year_change_live
    ON
        (wmh_volume_cm3_baseline, wmh_volume_cm3_followup, wmh_volume_cm3_change) AS wmh_volume_cm3,
        (wmh_pv_volume_cm3_baseline, wmh_pv_volume_cm3_followup, wmh_pv_volume_cm3_change) AS wmh_pv_volume_cm3,
        (wmh_deep_volume_cm3_baseline, wmh_deep_volume_cm3_followup, wmh_deep_volume_cm3_change) AS wmh_deep_volume_cm3,
        (fazekas_pv_baseline, fazekas_pv_followup, fazekas_pv_change) AS fazekas_pv,
        (fazekas_deep_baseline, fazekas_deep_followup, fazekas_deep_change) AS fazekas_deep,
        (fazekas_total_baseline, fazekas_total_followup, fazekas_total_change) AS fazekas_total,
        (microbleed_count_baseline, microbleed_count_followup, microbleed_count_change) AS microbleed_count,
        (microbleed_volume_mm3_baseline, microbleed_volume_mm3_followup, microbleed_volume_mm3_change) AS microbleed_volume_mm3,
        (lacune_count_baseline, lacune_count_followup, lacune_count_change) AS lacune_count,
        (pvs_count_baseline, pvs_count_followup, pvs_count_change) AS pvs_count,
        (pv_punctate_grade_baseline, pv_punctate_grade_followup, pv_punctate_grade_change) AS pv_punctate_grade,
        (svd_score_baseline, svd_score_followup, svd_score_change) AS svd_score
    INTO NAME marker VALUE baseline, followup, change
)
SELECT
    subject,
    marker,
    baseline,
    followup,
    change,
    change - (followup - baseline) AS residual,
    change IS NULL AND baseline IS NOT NULL AND followup IS NOT NULL AS change_missing
FROM long;
