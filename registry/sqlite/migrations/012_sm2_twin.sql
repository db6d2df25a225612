-- The 国密 twin (GB/T 38540) of each seal version: its SM2 key (sealed by
-- the keys package under the KEK), its SM2 certificate, and the electronic
-- seal (SES_Seal, DER) the SM2 CA made for it.
CREATE TABLE seal_sm2 (
  seal_id INTEGER PRIMARY KEY REFERENCES seals(id),
  key_blob BLOB NOT NULL,
  cert_der BLOB NOT NULL,
  serial TEXT NOT NULL UNIQUE,
  ses_seal BLOB NOT NULL,
  created_at INTEGER NOT NULL
);

-- The seal signature (SES_Signature, DER) over each certificate version's
-- signed PDF.
CREATE TABLE certificate_ses (
  certificate_id INTEGER PRIMARY KEY REFERENCES certificates(id),
  ses BLOB NOT NULL
);

CREATE TRIGGER seal_sm2_keep BEFORE DELETE ON seal_sm2 BEGIN SELECT RAISE(ABORT, 'certseal keeps every record: DELETE is refused'); END;
CREATE TRIGGER certificate_ses_keep BEFORE DELETE ON certificate_ses BEGIN SELECT RAISE(ABORT, 'certseal keeps every record: DELETE is refused'); END;
