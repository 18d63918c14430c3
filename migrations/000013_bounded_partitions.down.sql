-- Back to one partition per month: every partition spanning more than a
-- month (a year, or everything before 2010) is detached, a monthly
-- partition is made for each month it holds rows of, and the rows are moved
-- there. One DO block that COMMITs as it goes, like the up migration.
DO $migration$
DECLARE
    parent record;
    part record;
    m timestamp;
    old text;
BEGIN
    FOR parent IN
        SELECT c.oid::regclass AS oid, c.relname::text AS name,
               substring(pg_get_partkeydef(c.oid) FROM $re$RANGE \((\w+)\)$re$) AS keycol
        FROM pg_class c
        WHERE c.relkind = 'p' AND c.relnamespace = current_schema()::regnamespace
        ORDER BY c.relname
    LOOP
        FOR part IN
            WITH parts AS (
                SELECT ch.relname::text AS child,
                       substring(pg_get_expr(ch.relpartbound, ch.oid) FROM $re$FROM \('([^']+)'\)$re$)::timestamptz AS lo,
                       substring(pg_get_expr(ch.relpartbound, ch.oid) FROM $re$TO \('([^']+)'\)$re$)::timestamptz AS hi
                FROM pg_inherits i JOIN pg_class ch ON ch.oid = i.inhrelid
                WHERE i.inhparent = parent.oid
            )
            SELECT child FROM parts
            WHERE lo IS NULL OR (hi AT TIME ZONE 'UTC') <> (lo AT TIME ZONE 'UTC') + interval '1 month'
        LOOP
            old := part.child || '_split';
            EXECUTE format('ALTER TABLE %s DETACH PARTITION %I', parent.oid, part.child);
            EXECUTE format('ALTER TABLE %I RENAME TO %I', part.child, old);
            FOR m IN EXECUTE format('SELECT DISTINCT date_trunc(''month'', %I AT TIME ZONE ''UTC'') FROM %I', parent.keycol, old) LOOP
                EXECUTE format('CREATE TABLE %I (LIKE %s INCLUDING ALL)', parent.name || to_char(m, '"_p"YYYY"_"MM'), parent.oid);
                EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', parent.oid,
                    parent.name || to_char(m, '"_p"YYYY"_"MM'), m AT TIME ZONE 'UTC', (m + interval '1 month') AT TIME ZONE 'UTC');
            END LOOP;
            EXECUTE format('INSERT INTO %s SELECT * FROM %I', parent.oid, old);
            EXECUTE format('DROP TABLE %I', old);
            COMMIT;
        END LOOP;
    END LOOP;
END
$migration$;
