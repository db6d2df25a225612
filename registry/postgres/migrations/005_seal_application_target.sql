-- The seal a change or revocation was made for, so that approving it after
-- another change acts on that seal, not on its successor.
ALTER TABLE seal_applications ADD COLUMN target_seal_id BIGINT NOT NULL DEFAULT 0;
