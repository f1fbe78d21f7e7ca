-- Batch profile: one row per numeric session marker over the sessions quantified with status
-- 'ok' (the staged batch when loading, the curated tables otherwise). all_null: no value at
-- all; all_zero: >= 5 values, all 0, for markers that cannot plausibly be 0 across a batch of
-- CSVD patients. Checked by expectations/suites/batch_profile.json.
WITH svd AS (
    SELECT
        wmh_volume_cm3::DOUBLE AS wmh_volume_cm3,
        wmh_pv_volume_cm3::DOUBLE AS wmh_pv_volume_cm3,
        wmh_deep_volume_cm3::DOUBLE AS wmh_deep_volume_cm3,
        fazekas_pv::DOUBLE AS fazekas_pv,
        fazekas_deep::DOUBLE AS fazekas_deep,
        fazekas_total::DOUBLE AS fazekas_total,
        microbleed_count::DOUBLE AS microbleed_count,
        microbleed_volume_mm3::DOUBLE AS microbleed_volume_mm3,
        lacune_count::DOUBLE AS lacune_count,
        pvs_count::DOUBLE AS pvs_count,
        pv_punctate_grade::DOUBLE AS pv_punctate_grade,
        svd_score::DOUBLE AS svd_score
    FROM svd_measures
    WHERE status = 'ok'
), icac AS (
    SELECT
        total_calcium_volume_mm3::DOUBLE AS total_calcium_volume_mm3,
        total_agatston::DOUBLE AS total_agatston,
        total_mass_mg::DOUBLE AS total_mass_mg,
        total_plaques::DOUBLE AS total_plaques,
        n_segments_involved::DOUBLE AS n_segments_involved,
        max_circumferential_extent_deg::DOUBLE AS max_circumferential_extent_deg
    FROM icac_session_measures
    WHERE status = 'ok'
), long AS (
    SELECT 'svd_measures' AS source, marker, value
    FROM svd UNPIVOT INCLUDE NULLS (value FOR marker IN (
            wmh_volume_cm3,
            wmh_pv_volume_cm3,
            wmh_deep_volume_cm3,
            fazekas_pv,
            fazekas_deep,
            fazekas_total,
            microbleed_count,
            microbleed_volume_mm3,
            lacune_count,
            pvs_count,
            pv_punctate_grade,
            svd_score
    ))
    UNION ALL
    SELECT 'icac_session_measures' AS source, marker, value
    FROM icac UNPIVOT INCLUDE NULLS (value FOR marker IN (
            total_calcium_volume_mm3,
            total_agatston,
            total_mass_mg,
            total_plaques,
            n_segments_involved,
            max_circumferential_extent_deg
    ))
)
SELECT
    source,
    marker,
    count(*) AS n_rows,
    count(value) AS n_values,
    count(*) FILTER (WHERE value <> 0) AS n_nonzero,
    count(*) >= 5 AND count(value) = 0 AS all_null,
    count(value) >= 5 AND count(*) FILTER (WHERE value <> 0) = 0
        AND marker IN ('wmh_volume_cm3', 'fazekas_total', 'total_calcium_volume_mm3',
                       'total_agatston', 'total_mass_mg') AS all_zero
FROM long
GROUP BY source, marker
ORDER BY source, marker;
