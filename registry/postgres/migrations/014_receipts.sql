-- Signed verification receipts (验证回执), the record of public
-- verifications for the holder's view (no client address, only a keyed
-- hash), and QR token rotations.
CREATE TABLE receipts (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  serial TEXT NOT NULL UNIQUE,
  number TEXT NOT NULL,
  version BIGINT NOT NULL,
  holder_name TEXT NOT NULL,
  status TEXT NOT NULL,
  seal_version BIGINT NOT NULL,
  unit TEXT NOT NULL,
  kind TEXT NOT NULL,
  verified_at BIGINT NOT NULL,
  pdf_sha256 BYTEA NOT NULL UNIQUE,
  jws_sha256 BYTEA NOT NULL UNIQUE,
  request_id TEXT NOT NULL DEFAULT '',
  pdf BYTEA NOT NULL,
  jws TEXT NOT NULL
);
CREATE TABLE verifications (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  number TEXT NOT NULL,
  kind TEXT NOT NULL,
  outcome TEXT NOT NULL,
  at BIGINT NOT NULL,
  client_hash BYTEA
);
CREATE INDEX verifications_number ON verifications(number, id);
CREATE TABLE token_rotations (
  number TEXT NOT NULL,
  version BIGINT NOT NULL,
  new_version BIGINT NOT NULL,
  old_token_hash BYTEA NOT NULL,
  at BIGINT NOT NULL,
  actor TEXT NOT NULL,
  request_id TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (number, version)
);
CREATE TRIGGER receipts_keep BEFORE DELETE OR TRUNCATE ON receipts FOR EACH STATEMENT EXECUTE FUNCTION certseal_refuse();
CREATE TRIGGER verifications_keep BEFORE DELETE OR TRUNCATE ON verifications FOR EACH STATEMENT EXECUTE FUNCTION certseal_refuse();
CREATE TRIGGER token_rotations_keep BEFORE DELETE OR TRUNCATE ON token_rotations FOR EACH STATEMENT EXECUTE FUNCTION certseal_refuse();
