-- certseal schema, PostgreSQL dialect. Times are Unix microseconds (UTC),
-- calendar days are 'YYYY-MM-DD' text. Nothing is ever deleted: every
-- table has a trigger that refuses DELETE.
CREATE TABLE units (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name TEXT NOT NULL,
  uscc TEXT NOT NULL UNIQUE,
  uscc_legacy BOOLEAN NOT NULL DEFAULT FALSE,
  representative TEXT NOT NULL,
  jurisdiction TEXT NOT NULL,
  address TEXT NOT NULL,
  contact TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX units_jurisdiction ON units(jurisdiction);

CREATE TABLE filings (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  unit_id BIGINT NOT NULL REFERENCES units(id),
  series TEXT NOT NULL,
  specialty TEXT NOT NULL,
  office TEXT NOT NULL,
  contact TEXT NOT NULL,
  talent_count BIGINT NOT NULL,
  appointed_json TEXT NOT NULL,
  state TEXT NOT NULL,
  submitted_at BIGINT NOT NULL,
  review_json TEXT,
  valid_from TEXT NOT NULL DEFAULT '',
  valid_until TEXT NOT NULL DEFAULT '',
  rev BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX filings_unit ON filings(unit_id, series);

CREATE TABLE seal_applications (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  unit_id BIGINT NOT NULL REFERENCES units(id),
  kind TEXT NOT NULL,
  handler_name TEXT NOT NULL,
  handler_id_sealed BYTEA NOT NULL,
  handler_mobile TEXT NOT NULL,
  handler_landline TEXT NOT NULL,
  address TEXT NOT NULL,
  imprint BYTEA,
  declaration BOOLEAN NOT NULL,
  revoke_reason TEXT NOT NULL,
  state TEXT NOT NULL,
  submitted_at BIGINT NOT NULL,
  review_json TEXT,
  seal_id BIGINT NOT NULL DEFAULT 0,
  rev BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX seal_applications_unit ON seal_applications(unit_id);

CREATE TABLE seals (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  unit_id BIGINT NOT NULL REFERENCES units(id),
  version BIGINT NOT NULL,
  state TEXT NOT NULL,
  imprint BYTEA NOT NULL,
  key_blob BYTEA NOT NULL,
  cert_der BYTEA NOT NULL,
  serial TEXT NOT NULL UNIQUE,
  application_id BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  revoked_at BIGINT,
  reason TEXT NOT NULL DEFAULT '',
  invalidity_date BIGINT,
  rev BIGINT NOT NULL DEFAULT 1,
  UNIQUE (unit_id, version)
);
-- A unit has at most one active seal, whatever the code does.
CREATE UNIQUE INDEX seals_one_active ON seals(unit_id) WHERE state = 'active';

CREATE TABLE certificates (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  number TEXT NOT NULL,
  version BIGINT NOT NULL,
  unit_id BIGINT NOT NULL REFERENCES units(id),
  name TEXT NOT NULL,
  appointment_json TEXT NOT NULL,
  id_number_sealed BYTEA NOT NULL,
  photo_sealed BYTEA NOT NULL,
  token_hash BYTEA NOT NULL,
  state TEXT NOT NULL,
  seal_id BIGINT NOT NULL REFERENCES seals(id),
  seal_version BIGINT NOT NULL,
  issued_at BIGINT NOT NULL,
  pdf_sha256 BYTEA NOT NULL UNIQUE,
  dedup_key BYTEA NOT NULL,
  batch_id BIGINT NOT NULL DEFAULT 0,
  revoked_at BIGINT,
  revoke_reason TEXT NOT NULL DEFAULT '',
  revoked_by TEXT NOT NULL DEFAULT '',
  category TEXT NOT NULL DEFAULT '',
  rev BIGINT NOT NULL DEFAULT 1,
  UNIQUE (number, version)
);
CREATE INDEX certificates_unit ON certificates(unit_id, id);
CREATE INDEX certificates_dedup ON certificates(dedup_key);

CREATE TABLE certificate_pdfs (
  certificate_id BIGINT PRIMARY KEY REFERENCES certificates(id),
  pdf BYTEA NOT NULL
);

CREATE TABLE sequences (
  name TEXT PRIMARY KEY,
  value BIGINT NOT NULL
);

CREATE TABLE audit_events (
  seq BIGINT PRIMARY KEY,
  at BIGINT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  subject_type TEXT NOT NULL,
  subject_id TEXT NOT NULL,
  request_id TEXT NOT NULL,
  payload_digest BYTEA NOT NULL,
  prev_hash BYTEA NOT NULL,
  hash BYTEA NOT NULL
);

CREATE TABLE api_keys (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  hash BYTEA NOT NULL UNIQUE,
  role TEXT NOT NULL,
  jurisdiction TEXT NOT NULL,
  unit_id BIGINT NOT NULL,
  name TEXT NOT NULL,
  created_at BIGINT NOT NULL
);

CREATE TABLE idempotency (
  scope TEXT NOT NULL,
  key TEXT NOT NULL,
  request_hash BYTEA NOT NULL,
  status BIGINT NOT NULL,
  body BYTEA NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (scope, key)
);

CREATE TABLE batches (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  unit_id BIGINT NOT NULL REFERENCES units(id),
  actor TEXT NOT NULL,
  request_id TEXT NOT NULL,
  state TEXT NOT NULL,
  total BIGINT NOT NULL,
  issued BIGINT NOT NULL DEFAULT 0,
  failed BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  finished_at BIGINT,
  idempotency_key TEXT NOT NULL DEFAULT '',
  rev BIGINT NOT NULL DEFAULT 1
);

CREATE TABLE batch_rows (
  batch_id BIGINT NOT NULL REFERENCES batches(id),
  row_no BIGINT NOT NULL,
  appointment_json TEXT NOT NULL,
  id_number_sealed BYTEA NOT NULL,
  photo_sealed BYTEA NOT NULL,
  state TEXT NOT NULL,
  number TEXT NOT NULL DEFAULT '',
  error TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (batch_id, row_no)
);

CREATE FUNCTION certseal_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'certseal keeps every record: % on % is refused', TG_OP, TG_TABLE_NAME
    USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER units_keep BEFORE DELETE OR TRUNCATE ON units FOR EACH STATEMENT EXECUTE FUNCTION certseal_refuse();
CREATE TRIGGER filings_keep BEFORE DELETE OR TRUNCATE ON filings FOR EACH STATEMENT EXECUTE FUNCTION certseal_refuse();
CREATE TRIGGER seal_applications_keep BEFORE DELETE OR TRUNCATE ON seal_applications FOR EACH STATEMENT EXECUTE FUNCTION certseal_refuse();
CREATE TRIGGER seals_keep BEFORE DELETE OR TRUNCATE ON seals FOR EACH STATEMENT EXECUTE FUNCTION certseal_refuse();
CREATE TRIGGER certificates_keep BEFORE DELETE OR TRUNCATE ON certificates FOR EACH STATEMENT EXECUTE FUNCTION certseal_refuse();
CREATE TRIGGER certificate_pdfs_keep BEFORE DELETE OR TRUNCATE ON certificate_pdfs FOR EACH STATEMENT EXECUTE FUNCTION certseal_refuse();
CREATE TRIGGER sequences_keep BEFORE DELETE OR TRUNCATE ON sequences FOR EACH STATEMENT EXECUTE FUNCTION certseal_refuse();
CREATE TRIGGER audit_events_keep BEFORE DELETE OR TRUNCATE ON audit_events FOR EACH STATEMENT EXECUTE FUNCTION certseal_refuse();
CREATE TRIGGER api_keys_keep BEFORE DELETE OR TRUNCATE ON api_keys FOR EACH STATEMENT EXECUTE FUNCTION certseal_refuse();
CREATE TRIGGER idempotency_keep BEFORE DELETE OR TRUNCATE ON idempotency FOR EACH STATEMENT EXECUTE FUNCTION certseal_refuse();
CREATE TRIGGER batches_keep BEFORE DELETE OR TRUNCATE ON batches FOR EACH STATEMENT EXECUTE FUNCTION certseal_refuse();
CREATE TRIGGER batch_rows_keep BEFORE DELETE OR TRUNCATE ON batch_rows FOR EACH STATEMENT EXECUTE FUNCTION certseal_refuse();
CREATE TRIGGER audit_events_frozen BEFORE UPDATE ON audit_events FOR EACH STATEMENT EXECUTE FUNCTION certseal_refuse();
