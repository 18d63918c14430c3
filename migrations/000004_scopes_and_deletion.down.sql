DROP INDEX IF EXISTS ingestion_parts_user_idx;
ALTER TABLE api_keys DROP CONSTRAINT IF EXISTS api_keys_scopes_check, DROP COLUMN IF EXISTS scopes;
