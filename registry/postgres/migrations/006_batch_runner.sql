-- Which replica runs a batch, and until when it may without renewing: every
-- replica resumes unfinished batches, and only one may run each.
ALTER TABLE batches ADD COLUMN runner TEXT NOT NULL DEFAULT '';
ALTER TABLE batches ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;
