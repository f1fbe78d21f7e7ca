-- Expectation results of the latest `calcisvd validate` run on the curated tables.
SELECT v.suite, v.expectation, v.column_name, v.success, v.element_count, v.unexpected_count,
       v.observed
FROM validation_results v
WHERE v.run_id = (SELECT run_id FROM pipeline_runs WHERE kind = 'validate'
                  ORDER BY started_at DESC LIMIT 1)
ORDER BY v.suite, v.expectation, v.column_name;
