-- Image-quality metrics of every session, long (tasks/qc/server.py puts them in columns).
SELECT subject, session, modality, metric, value, unit
FROM session_iqms
ORDER BY subject, session, modality, metric;
