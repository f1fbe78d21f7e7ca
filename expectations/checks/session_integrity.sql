-- One row per session (of the merged batch when loading, of the curated tables otherwise):
-- does its subject exist, is it the subject's only baseline, is a follow-up after baseline.
-- Checked by expectations/suites/session_integrity.json.
WITH per_subject AS (
    SELECT subject, count(*) FILTER (WHERE visit = 'baseline') AS n_baselines
    FROM sessions
    GROUP BY subject
)
SELECT
    s.subject,
    s.session,
    s.visit,
    s.days_since_baseline,
    p.subject IS NOT NULL AS subject_exists,
    ps.n_baselines,
    CASE WHEN s.visit = 'baseline' THEN s.days_since_baseline END AS baseline_days,
    CASE WHEN s.visit <> 'baseline' THEN s.days_since_baseline END AS followup_days
FROM sessions s
LEFT JOIN (SELECT DISTINCT subject FROM subjects) p ON p.subject = s.subject
LEFT JOIN per_subject ps ON ps.subject = s.subject;
