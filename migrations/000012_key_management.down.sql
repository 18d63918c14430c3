DROP INDEX IF EXISTS api_keys_created_by_idx;
ALTER TABLE api_keys DROP COLUMN IF EXISTS created_by;
ALTER TABLE api_keys DROP CONSTRAINT api_keys_scopes_check;
UPDATE api_keys SET scopes = array_remove(scopes, 'keys') WHERE 'keys' = ANY (scopes);
UPDATE api_keys SET scopes = '{ingest}' WHERE cardinality(scopes) = 0;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_scopes_check
    CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['ingest', 'read']::text[]);
