-- Store the expectation results of one validation (from _results, a registered DataFrame).
INSERT INTO validation_results BY NAME
SELECT r.*, $run_id AS run_id, $target AS target, now() AS validated_at FROM _results r;
