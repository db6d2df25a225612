-- Certificate numbers held for an issue that renders and signs outside the
-- write transaction. A hold that is released, or runs out (held_until, Unix
-- microseconds) without a certificate, frees its number for the next issue,
-- so the sequence keeps no gap; used_at is when a certificate took it.
CREATE TABLE number_holds (
  seq_name TEXT NOT NULL,
  value BIGINT NOT NULL,
  holder TEXT NOT NULL,
  held_until BIGINT NOT NULL,
  used_at BIGINT NOT NULL DEFAULT 0,
  PRIMARY KEY (seq_name, value)
);
CREATE INDEX number_holds_free ON number_holds (seq_name, value) WHERE used_at = 0;
CREATE TRIGGER number_holds_keep BEFORE DELETE OR TRUNCATE ON number_holds FOR EACH STATEMENT EXECUTE FUNCTION certseal_refuse();
