DROP TABLE IF EXISTS summary_refreshes;
DROP TABLE IF EXISTS source_priorities;
DROP TABLE IF EXISTS daily_summaries;
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'healthexport_read') THEN
        REVOKE SELECT (id, email) ON users FROM healthexport_read;
    END IF;
END
$$;
