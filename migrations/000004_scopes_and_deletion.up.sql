-- Key scopes: what a key may do. "ingest" uploads (POST /v1/ingest), "read"
-- reads the user's data back (/v1/metrics, /v1/sleep, /v1/workouts,
-- /v1/events, /v1/ecg, /v1/export). Keys made before scopes existed, and
-- keys made without any, are ingest keys: the phone's key keeps uploading and
-- cannot read. Key management and upload status stay open to every key.
ALTER TABLE api_keys
    ADD COLUMN scopes text[] NOT NULL DEFAULT '{ingest}',
    ADD CONSTRAINT api_keys_scopes_check
        CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['ingest', 'read']::text[]);

-- Deleting a user (healthctl users delete) removes its ingestion_parts rows:
-- without this index that is a scan of every upload's parts.
CREATE INDEX ingestion_parts_user_idx ON ingestion_parts (user_id);
