-- certseal schema, SQLite dialect. Times are Unix microseconds (UTC),
-- calendar days are 'YYYY-MM-DD' text. Nothing is ever deleted: every
-- table has a trigger that refuses DELETE.
CREATE TABLE units (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL,
  uscc TEXT NOT NULL UNIQUE,
  uscc_legacy BOOLEAN NOT NULL DEFAULT 0,
  representative TEXT NOT NULL,
  jurisdiction TEXT NOT NULL,
  address TEXT NOT NULL,
  contact TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX units_jurisdiction ON units(jurisdiction);

CREATE TABLE filings (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  unit_id INTEGER NOT NULL REFERENCES units(id),
  series TEXT NOT NULL,
  specialty TEXT NOT NULL,
  office TEXT NOT NULL,
  contact TEXT NOT NULL,
  talent_count INTEGER NOT NULL,
  appointed_json TEXT NOT NULL,
  state TEXT NOT NULL,
  submitted_at INTEGER NOT NULL,
  review_json TEXT,
  valid_from TEXT NOT NULL DEFAULT '',
  valid_until TEXT NOT NULL DEFAULT '',
  rev INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX filings_unit ON filings(unit_id, series);

CREATE TABLE seal_applications (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  unit_id INTEGER NOT NULL REFERENCES units(id),
  kind TEXT NOT NULL,
  handler_name TEXT NOT NULL,
  handler_id_sealed BLOB NOT NULL,
  handler_mobile TEXT NOT NULL,
  handler_landline TEXT NOT NULL,
  address TEXT NOT NULL,
  imprint BLOB,
  declaration BOOLEAN NOT NULL,
  revoke_reason TEXT NOT NULL,
  state TEXT NOT NULL,
  submitted_at INTEGER NOT NULL,
  review_json TEXT,
  seal_id INTEGER NOT NULL DEFAULT 0,
  rev INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX seal_applications_unit ON seal_applications(unit_id);

CREATE TABLE seals (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  unit_id INTEGER NOT NULL REFERENCES units(id),
  version INTEGER NOT NULL,
  state TEXT NOT NULL,
  imprint BLOB NOT NULL,
  key_blob BLOB NOT NULL,
  cert_der BLOB NOT NULL,
  serial TEXT NOT NULL UNIQUE,
  application_id INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER,
  reason TEXT NOT NULL DEFAULT '',
  invalidity_date INTEGER,
  rev INTEGER NOT NULL DEFAULT 1,
  UNIQUE (unit_id, version)
);
-- A unit has at most one active seal, whatever the code does.
CREATE UNIQUE INDEX seals_one_active ON seals(unit_id) WHERE state = 'active';

CREATE TABLE certificates (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  number TEXT NOT NULL,
  version INTEGER NOT NULL,
  unit_id INTEGER NOT NULL REFERENCES units(id),
  name TEXT NOT NULL,
  appointment_json TEXT NOT NULL,
  id_number_sealed BLOB NOT NULL,
  photo_sealed BLOB NOT NULL,
  token_hash BLOB NOT NULL,
  state TEXT NOT NULL,
  seal_id INTEGER NOT NULL REFERENCES seals(id),
  seal_version INTEGER NOT NULL,
  issued_at INTEGER NOT NULL,
  pdf_sha256 BLOB NOT NULL UNIQUE,
  dedup_key BLOB NOT NULL,
  batch_id INTEGER NOT NULL DEFAULT 0,
  revoked_at INTEGER,
  revoke_reason TEXT NOT NULL DEFAULT '',
  revoked_by TEXT NOT NULL DEFAULT '',
  category TEXT NOT NULL DEFAULT '',
  rev INTEGER NOT NULL DEFAULT 1,
  UNIQUE (number, version)
);
CREATE INDEX certificates_unit ON certificates(unit_id, id);
CREATE INDEX certificates_dedup ON certificates(dedup_key);

CREATE TABLE certificate_pdfs (
  certificate_id INTEGER PRIMARY KEY REFERENCES certificates(id),
  pdf BLOB NOT NULL
);

CREATE TABLE sequences (
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);

CREATE TABLE audit_events (
  seq INTEGER PRIMARY KEY,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  subject_type TEXT NOT NULL,
  subject_id TEXT NOT NULL,
  request_id TEXT NOT NULL,
  payload_digest BLOB NOT NULL,
  prev_hash BLOB NOT NULL,
  hash BLOB NOT NULL
);

CREATE TABLE api_keys (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  hash BLOB NOT NULL UNIQUE,
  role TEXT NOT NULL,
  jurisdiction TEXT NOT NULL,
  unit_id INTEGER NOT NULL,
  name TEXT NOT NULL,
  created_at INTEGER NOT NULL
);

CREATE TABLE idempotency (
  scope TEXT NOT NULL,
  key TEXT NOT NULL,
  request_hash BLOB NOT NULL,
  status INTEGER NOT NULL,
  body BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (scope, key)
);

CREATE TABLE batches (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  unit_id INTEGER NOT NULL REFERENCES units(id),
  actor TEXT NOT NULL,
  request_id TEXT NOT NULL,
  state TEXT NOT NULL,
  total INTEGER NOT NULL,
  issued INTEGER NOT NULL DEFAULT 0,
  failed INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  finished_at INTEGER,
  idempotency_key TEXT NOT NULL DEFAULT '',
  rev INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE batch_rows (
  batch_id INTEGER NOT NULL REFERENCES batches(id),
  row_no INTEGER NOT NULL,
  appointment_json TEXT NOT NULL,
  id_number_sealed BLOB NOT NULL,
  photo_sealed BLOB NOT NULL,
  state TEXT NOT NULL,
  number TEXT NOT NULL DEFAULT '',
  error TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (batch_id, row_no)
);
CREATE TRIGGER units_keep BEFORE DELETE ON units BEGIN SELECT RAISE(ABORT, 'certseal keeps every record: DELETE is refused'); END;
CREATE TRIGGER filings_keep BEFORE DELETE ON filings BEGIN SELECT RAISE(ABORT, 'certseal keeps every record: DELETE is refused'); END;
CREATE TRIGGER seal_applications_keep BEFORE DELETE ON seal_applications BEGIN SELECT RAISE(ABORT, 'certseal keeps every record: DELETE is refused'); END;
CREATE TRIGGER seals_keep BEFORE DELETE ON seals BEGIN SELECT RAISE(ABORT, 'certseal keeps every record: DELETE is refused'); END;
CREATE TRIGGER certificates_keep BEFORE DELETE ON certificates BEGIN SELECT RAISE(ABORT, 'certseal keeps every record: DELETE is refused'); END;
CREATE TRIGGER certificate_pdfs_keep BEFORE DELETE ON certificate_pdfs BEGIN SELECT RAISE(ABORT, 'certseal keeps every record: DELETE is refused'); END;
CREATE TRIGGER sequences_keep BEFORE DELETE ON sequences BEGIN SELECT RAISE(ABORT, 'certseal keeps every record: DELETE is refused'); END;
CREATE TRIGGER audit_events_keep BEFORE DELETE ON audit_events BEGIN SELECT RAISE(ABORT, 'certseal keeps every record: DELETE is refused'); END;
CREATE TRIGGER api_keys_keep BEFORE DELETE ON api_keys BEGIN SELECT RAISE(ABORT, 'certseal keeps every record: DELETE is refused'); END;
CREATE TRIGGER idempotency_keep BEFORE DELETE ON idempotency BEGIN SELECT RAISE(ABORT, 'certseal keeps every record: DELETE is refused'); END;
CREATE TRIGGER batches_keep BEFORE DELETE ON batches BEGIN SELECT RAISE(ABORT, 'certseal keeps every record: DELETE is refused'); END;
CREATE TRIGGER batch_rows_keep BEFORE DELETE ON batch_rows BEGIN SELECT RAISE(ABORT, 'certseal keeps every record: DELETE is refused'); END;
CREATE TRIGGER audit_events_frozen BEFORE UPDATE ON audit_events BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END;
