-- Grafana's read-only access to the health data (docs/grafana.md).
--
-- healthexport_read may read the data tables and the daily summaries, and
-- users' ids and emails (the user picker); never API keys or raw uploads.
-- healthexport_grafana is the login Grafana's PostgreSQL data source uses.
-- Run by compose's postgres at its first start (docker-entrypoint-initdb.d)
-- and by scripts/deps.sh, as a superuser; safe to run again. On a server
-- whose tables exist, it grants on them too; otherwise the migration that
-- makes daily_summaries grants once the tables are there.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'healthexport_read') THEN
        CREATE ROLE healthexport_read NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'healthexport_grafana') THEN
        -- Change the password on a shared host, here and in
        -- deploy/grafana/provisioning/datasources/health-data.yml.
        CREATE ROLE healthexport_grafana LOGIN PASSWORD 'grafana' IN ROLE healthexport_read;
    END IF;
    IF to_regclass('daily_summaries') IS NOT NULL THEN
        GRANT SELECT ON daily_summaries, heart_rate_metrics, blood_pressure_metrics, quantity_metrics,
            sleep_segments, sleep_sessions, workouts, workout_route_points, workout_samples,
            health_events TO healthexport_read;
        GRANT SELECT (id, email) ON users TO healthexport_read;
    END IF;
END
$$;
