DROP INDEX IF EXISTS health_events_value_canonical_idx;
ALTER TABLE health_events DROP COLUMN IF EXISTS name_canonical, DROP COLUMN IF EXISTS value_canonical;
ALTER TABLE ecg_recordings DROP COLUMN IF EXISTS classification_canonical;
