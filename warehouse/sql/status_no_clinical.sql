-- Subjects with sessions but no clinical covariates (no participants.tsv row, or all empty).
SELECT DISTINCT s.subject
FROM sessions s
LEFT JOIN subjects c USING (subject)
WHERE c.subject IS NULL
   OR (c.age IS NULL AND c.sex IS NULL AND c.smoking IS NULL AND c.hypertension IS NULL
       AND c.diabetes IS NULL)
ORDER BY 1;
