-- Managing keys becomes a scope of its own, "keys" (POST, GET and DELETE
-- /v1/keys): the phone's ingest key can no longer mint keys. Keys that could
-- read keep managing keys (they were made deliberately, by an operator or a
-- key that could read); ingest-only keys lose it.
ALTER TABLE api_keys DROP CONSTRAINT api_keys_scopes_check;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_scopes_check
    CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['ingest', 'read', 'keys']::text[]);
UPDATE api_keys SET scopes = scopes || '{keys}'::text[]
WHERE 'read' = ANY (scopes) AND NOT 'keys' = ANY (scopes);

-- The key that made a key through the API (NULL: an operator's), so that
-- revoking a key revokes the keys it made, and theirs.
ALTER TABLE api_keys ADD COLUMN created_by text REFERENCES api_keys (id) ON DELETE SET NULL;
CREATE INDEX api_keys_created_by_idx ON api_keys (created_by) WHERE created_by IS NOT NULL;
