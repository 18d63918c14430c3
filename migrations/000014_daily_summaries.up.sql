-- Daily summaries: one row per user, metric and local day (for sleep, per
-- night), kept by the metric-writer in the same transaction as the rows it
-- summarises (libs/summary, docs/summaries.md). Cumulative metrics fill
-- total, discrete ones min/avg/max, sleep the *_hours columns; count is how
-- many rows were counted (0: nothing is left for that day, and readers skip
-- the row); sources lists the sources counted, best first.
CREATE TABLE daily_summaries (
    user_id       uuid NOT NULL,
    metric        text NOT NULL,
    day           date NOT NULL,
    units         text,
    total         double precision,
    min           double precision,
    avg           double precision,
    max           double precision,
    count         integer NOT NULL DEFAULT 0,
    asleep_hours  double precision,
    core_hours    double precision,
    deep_hours    double precision,
    rem_hours     double precision,
    awake_hours   double precision,
    in_bed_hours  double precision,
    sources       text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (user_id, metric, day)
);

-- A user's source priority: case-insensitive fragments of source names,
-- best first (no row: the default, Watch before iPhone before the rest).
CREATE TABLE source_priorities (
    user_id     uuid PRIMARY KEY,
    priority    text[] NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Users whose summaries are to be computed again in the background (by the
-- metric-writer): after a priority change (scope 'priority': the cumulative
-- metrics and sleep) or for everything stored ('all').
CREATE TABLE summary_refreshes (
    id            bigserial PRIMARY KEY,
    user_id       uuid NOT NULL,
    scope         text NOT NULL,
    requested_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX summary_refreshes_user_idx ON summary_refreshes (user_id);

-- The data stored before summaries existed is summarised by the first
-- metric-writer to start.
INSERT INTO summary_refreshes (user_id, scope) SELECT id, 'all' FROM users ORDER BY created_at;

-- Grafana's read-only role, when the server has it (made by compose's
-- init script or scripts/deps.sh; docs/grafana.md): the data and the
-- summaries, and users' ids and emails for the user picker. Never the keys
-- or the raw uploads.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'healthexport_read') THEN
        GRANT SELECT ON daily_summaries, heart_rate_metrics, blood_pressure_metrics, quantity_metrics,
            sleep_segments, sleep_sessions, workouts, workout_route_points, workout_samples,
            health_events TO healthexport_read;
        GRANT SELECT (id, email) ON users TO healthexport_read;
    END IF;
END
$$;
