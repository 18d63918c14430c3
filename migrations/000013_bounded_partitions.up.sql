-- Partitions no longer follow the uploader: a point a month since 1900 made
-- thousands, and every export (which locks each partition and its indexes)
-- then failed with "out of shared memory" for every user. The layout is now
-- (libs/pgstore, partition.go): months for this year and last, one partition
-- per older year, one for everything before 2010. This moves existing data
-- into that layout: the months before 2010 into <table>_before_2010, the
-- months of years before last into <table>_p<year>; recent months stay.
--
-- One DO block, the whole file: run alone (not inside a transaction block) it
-- may COMMIT, every 50 partitions moved, so that even a table with thousands
-- of partitions never needs more locks at once than the server has. A
-- partition is copied into its new, not yet attached, table, then detached
-- and dropped; the new table is attached once it holds its whole range.
DO $migration$
DECLARE
    far_end constant timestamptz := '2010-01-01 00:00:00+00';
    -- Years from this one on stay monthly (this year and last).
    first_monthly constant int := extract(year FROM now() AT TIME ZONE 'UTC')::int - 1;
    parent record;
    grp record;
    moving text;
    target text;
    moved int := 0;
BEGIN
    FOR parent IN
        SELECT c.oid::regclass AS oid, c.relname::text AS name
        FROM pg_class c
        WHERE c.relkind = 'p' AND c.relnamespace = current_schema()::regnamespace
        ORDER BY c.relname
    LOOP
        FOR grp IN
            WITH parts AS (
                SELECT ch.relname::text AS child,
                       substring(pg_get_expr(ch.relpartbound, ch.oid) FROM $re$FROM \('([^']+)'\)$re$)::timestamptz AS lo,
                       substring(pg_get_expr(ch.relpartbound, ch.oid) FROM $re$TO \('([^']+)'\)$re$)::timestamptz AS hi
                FROM pg_inherits i JOIN pg_class ch ON ch.oid = i.inhrelid
                WHERE i.inhparent = parent.oid
            )
            SELECT CASE WHEN hi <= far_end THEN NULL ELSE extract(year FROM lo AT TIME ZONE 'UTC')::int END AS yr,
                   array_agg(child ORDER BY lo) AS children
            FROM parts
            WHERE lo IS NOT NULL -- the far past partition, once made
              AND (hi <= far_end
                   OR extract(year FROM lo AT TIME ZONE 'UTC') < first_monthly
                      AND (hi AT TIME ZONE 'UTC') = (lo AT TIME ZONE 'UTC') + interval '1 month')
            GROUP BY 1
            ORDER BY 1 NULLS FIRST
        LOOP
            target := parent.name || CASE WHEN grp.yr IS NULL THEN '_before_2010' ELSE format('_p%s', grp.yr) END;
            RAISE NOTICE 'partitions of %: % moved into %', parent.name, cardinality(grp.children), target;
            EXECUTE format('CREATE TABLE IF NOT EXISTS %I (LIKE %s INCLUDING ALL)', target, parent.oid);
            FOREACH moving IN ARRAY grp.children LOOP
                EXECUTE format('INSERT INTO %I SELECT * FROM %I', target, moving);
                EXECUTE format('ALTER TABLE %s DETACH PARTITION %I', parent.oid, moving);
                EXECUTE format('DROP TABLE %I', moving);
                moved := moved + 1;
                IF moved % 50 = 0 THEN
                    COMMIT;
                END IF;
            END LOOP;
            IF grp.yr IS NULL THEN
                EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I FOR VALUES FROM (MINVALUE) TO (%L)',
                    parent.oid, target, far_end);
            ELSE
                EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                    parent.oid, target, make_timestamptz(grp.yr, 1, 1, 0, 0, 0, 'UTC'), make_timestamptz(grp.yr + 1, 1, 1, 0, 0, 0, 'UTC'));
            END IF;
            COMMIT;
        END LOOP;
    END LOOP;
END
$migration$;
