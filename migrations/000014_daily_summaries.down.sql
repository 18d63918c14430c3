DROP TABLE IF EXISTS summary_refreshes;
DROP TABLE IF EXISTS source_priorities;
DROP TABLE IF EXISTS daily_summaries;
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'healthexport_read') THEN
        REVOKE SELECT ON heart_rate_metrics, blood_pressure_metrics, quantity_metrics, sleep_segments,
            sleep_sessions, workouts, workout_route_points, workout_samples, health_events FROM healthexport_read;
        REVOKE SELECT (id, email) ON users FROM healthexport_read;
    END IF;
END
$$;
