-- Signed verification receipts (验证回执), the record of public
-- verifications for the holder's view (no client address, only a keyed
-- hash), and QR token rotations.
CREATE TABLE receipts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  serial TEXT NOT NULL UNIQUE,
  number TEXT NOT NULL,
  version INTEGER NOT NULL,
  holder_name TEXT NOT NULL,
  status TEXT NOT NULL,
  seal_version INTEGER NOT NULL,
  unit TEXT NOT NULL,
  kind TEXT NOT NULL,
  verified_at INTEGER NOT NULL,
  pdf_sha256 BLOB NOT NULL UNIQUE,
  jws_sha256 BLOB NOT NULL UNIQUE,
  request_id TEXT NOT NULL DEFAULT '',
  pdf BLOB NOT NULL,
  jws TEXT NOT NULL
);
CREATE TABLE verifications (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  number TEXT NOT NULL,
  kind TEXT NOT NULL,
  outcome TEXT NOT NULL,
  at INTEGER NOT NULL,
  client_hash BLOB
);
CREATE INDEX verifications_number ON verifications(number, id);
CREATE TABLE token_rotations (
  number TEXT NOT NULL,
  version INTEGER NOT NULL,
  new_version INTEGER NOT NULL,
  old_token_hash BLOB NOT NULL,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  request_id TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (number, version)
);
CREATE TRIGGER receipts_keep BEFORE DELETE ON receipts BEGIN SELECT RAISE(ABORT, 'certseal keeps every record: DELETE is refused'); END;
CREATE TRIGGER verifications_keep BEFORE DELETE ON verifications BEGIN SELECT RAISE(ABORT, 'certseal keeps every record: DELETE is refused'); END;
CREATE TRIGGER token_rotations_keep BEFORE DELETE ON token_rotations BEGIN SELECT RAISE(ABORT, 'certseal keeps every record: DELETE is refused'); END;
