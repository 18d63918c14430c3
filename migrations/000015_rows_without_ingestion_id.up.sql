-- Data rows no longer repeat the id of the upload that wrote them: 65 bytes
-- of text in every row (a third of a heart-rate row's heap). The row's
-- stream_seq names the message, and ingestion_parts (written in the same
-- transaction as the rows, keyed by ingestion and part, indexed by
-- stream_seq) maps it back to its ingestion; the export does so.
--
-- Dropping a column only marks it dropped: rows stored before keep their
-- bytes until they are rewritten (VACUUM FULL of a partition, or a rebuild;
-- docs/operations.md, "Sizing"). New rows are narrower at once.
ALTER TABLE heart_rate_metrics     DROP COLUMN ingestion_id;
ALTER TABLE blood_pressure_metrics DROP COLUMN ingestion_id;
ALTER TABLE quantity_metrics       DROP COLUMN ingestion_id;
ALTER TABLE sleep_segments         DROP COLUMN ingestion_id;
ALTER TABLE sleep_sessions         DROP COLUMN ingestion_id;
ALTER TABLE workouts               DROP COLUMN ingestion_id;
ALTER TABLE workout_route_points   DROP COLUMN ingestion_id;
ALTER TABLE workout_samples        DROP COLUMN ingestion_id;
ALTER TABLE ecg_recordings         DROP COLUMN ingestion_id;
ALTER TABLE health_events          DROP COLUMN ingestion_id;
ALTER TABLE activity_summaries     DROP COLUMN ingestion_id;
ALTER TABLE imports                DROP COLUMN ingestion_id;
