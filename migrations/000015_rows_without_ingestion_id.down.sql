-- Every data row gets its ingestion's id back, as writers before this
-- migration store it: NOT NULL, filled from the part its stream_seq wrote
-- (ingestion_parts), else from the archived part of that sequence
-- (raw_ingestions), else '' (a row whose part is in neither).
DO $down$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['heart_rate_metrics', 'blood_pressure_metrics', 'quantity_metrics',
        'sleep_segments', 'sleep_sessions', 'workouts', 'workout_route_points', 'workout_samples',
        'ecg_recordings', 'health_events', 'activity_summaries', 'imports']
    LOOP
        EXECUTE format($$ALTER TABLE %I ADD COLUMN ingestion_id text NOT NULL DEFAULT ''$$, t);
        EXECUTE format($$UPDATE %I d SET ingestion_id = p.ingestion_id
            FROM ingestion_parts p WHERE p.stream_seq = d.stream_seq$$, t);
        EXECUTE format($$UPDATE %I d SET ingestion_id = r.ingestion_id
            FROM raw_ingestions r WHERE d.ingestion_id = '' AND r.stream_seq = d.stream_seq$$, t);
        EXECUTE format($$ALTER TABLE %I ALTER COLUMN ingestion_id DROP DEFAULT$$, t);
    END LOOP;
END
$down$;
