-- One row per measures row: does its session exist (and, for an artery row, its ICAC session
-- row). Checked by expectations/suites/measure_integrity.json.
SELECT
    'svd_measures' AS source,
    m.subject,
    m.session,
    s.subject IS NOT NULL AS session_exists,
    TRUE AS icac_session_exists
FROM svd_measures m
LEFT JOIN (SELECT DISTINCT subject, session FROM sessions) s
    ON s.subject = m.subject AND s.session = m.session
UNION ALL
SELECT
    'icac_session_measures',
    m.subject,
    m.session,
    s.subject IS NOT NULL,
    TRUE
FROM icac_session_measures m
LEFT JOIN (SELECT DISTINCT subject, session FROM sessions) s
    ON s.subject = m.subject AND s.session = m.session
UNION ALL
SELECT
    'icac_artery_measures',
    m.subject,
    m.session,
    s.subject IS NOT NULL,
    i.subject IS NOT NULL
FROM icac_artery_measures m
LEFT JOIN (SELECT DISTINCT subject, session FROM sessions) s
    ON s.subject = m.subject AND s.session = m.session
LEFT JOIN (SELECT DISTINCT subject, session FROM icac_session_measures) i
    ON i.subject = m.subject AND i.session = m.session
UNION ALL
SELECT
    'scans',
    m.subject,
    m.session,
    s.subject IS NOT NULL,
    TRUE
FROM scans m
LEFT JOIN (SELECT DISTINCT subject, session FROM sessions) s
    ON s.subject = m.subject AND s.session = m.session;
