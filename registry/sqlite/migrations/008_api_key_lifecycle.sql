-- API keys expire and are revoked, never deleted; their last use is kept
-- to the minute (written at most once a minute per key).
ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;
ALTER TABLE api_keys ADD COLUMN last_used_at BIGINT;
ALTER TABLE api_keys ADD COLUMN revoked_at BIGINT;
ALTER TABLE api_keys ADD COLUMN revoked_by TEXT NOT NULL DEFAULT '';
ALTER TABLE api_keys ADD COLUMN rev INTEGER NOT NULL DEFAULT 1;
