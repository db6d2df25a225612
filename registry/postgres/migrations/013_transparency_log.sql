-- The transparency log: a Merkle tree over the audit events (leaf i is
-- event i+1), its stored hashes numbered as golang.org/x/mod/sumdb/tlog
-- numbers them. Written in the transaction of each event, never changed.
-- The events recorded before it get their leaves as the migration runs.
CREATE TABLE log_hashes (
  idx BIGINT PRIMARY KEY,
  hash BYTEA NOT NULL
);
CREATE TRIGGER log_hashes_keep BEFORE DELETE OR TRUNCATE ON log_hashes FOR EACH STATEMENT EXECUTE FUNCTION certseal_refuse();
CREATE TRIGGER log_hashes_frozen BEFORE UPDATE ON log_hashes FOR EACH STATEMENT EXECUTE FUNCTION certseal_refuse();
-- A certificate's log entries are found by its number.
CREATE INDEX audit_events_subject ON audit_events(subject_type, subject_id, seq);
