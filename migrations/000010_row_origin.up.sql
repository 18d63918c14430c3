-- Every row records how its data arrived: 0 from an upload (POST
-- /v1/ingest: Health Auto Export or tagged JSON), 1 from an import of the
-- Health app's own export (export.zip). A smallint: two bytes a row, where
-- the name would cost a word. Every row stored before imports existed came
-- from an upload, which the default records without rewriting the tables
-- (a constant default is only catalogue data).
ALTER TABLE heart_rate_metrics     ADD COLUMN origin smallint NOT NULL DEFAULT 0;
ALTER TABLE blood_pressure_metrics ADD COLUMN origin smallint NOT NULL DEFAULT 0;
ALTER TABLE quantity_metrics       ADD COLUMN origin smallint NOT NULL DEFAULT 0;
ALTER TABLE sleep_segments         ADD COLUMN origin smallint NOT NULL DEFAULT 0;
ALTER TABLE sleep_sessions         ADD COLUMN origin smallint NOT NULL DEFAULT 0;
ALTER TABLE workouts               ADD COLUMN origin smallint NOT NULL DEFAULT 0;
ALTER TABLE workout_route_points   ADD COLUMN origin smallint NOT NULL DEFAULT 0;
ALTER TABLE workout_samples        ADD COLUMN origin smallint NOT NULL DEFAULT 0;
ALTER TABLE ecg_recordings         ADD COLUMN origin smallint NOT NULL DEFAULT 0;
ALTER TABLE health_events          ADD COLUMN origin smallint NOT NULL DEFAULT 0;
