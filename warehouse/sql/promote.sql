-- Promote one staged table into its curated table (inside the promotion transaction).
-- {table}, {keys}, {key_list}, {scope}, {scope_table} and {ignore} are identifiers taken from
-- warehouse.load.CURATED (never user values); $run_id is bound.
--
-- _affected: natural keys whose staged row is new or differs from the curated one (ignoring
-- bookkeeping columns), plus curated rows of a staged scope (session) that the batch dropped.
CREATE OR REPLACE TEMP TABLE _affected AS
SELECT {keys} FROM (
    SELECT * EXCLUDE ({ignore}) FROM staging.{table}
    EXCEPT
    SELECT * EXCLUDE ({ignore}) FROM main.{table}
)
UNION
SELECT {keys} FROM (
    SELECT m.* FROM main.{table} m
    SEMI JOIN (SELECT DISTINCT {scope} FROM staging.{scope_table}) b USING ({scope})
    ANTI JOIN staging.{table} s USING ({keys})
);

-- the replaced versions go to history with the run that wrote them and the run replacing them
INSERT INTO main.{table}_history BY NAME
SELECT m.*, $run_id AS superseded_by_run_id, now() AS superseded_at
FROM main.{table} m SEMI JOIN _affected USING ({keys});

DELETE FROM main.{table} WHERE ({key_list}) IN (SELECT ({key_list}) FROM _affected);

INSERT INTO main.{table} BY NAME
SELECT s.* FROM staging.{table} s SEMI JOIN _affected USING ({keys});
