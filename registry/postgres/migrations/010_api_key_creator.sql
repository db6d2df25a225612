-- Who made each API key (the caller's actor, or "operator" for the command
-- line), so that the keys a leaked key made can be found and revoked with it.
ALTER TABLE api_keys ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
