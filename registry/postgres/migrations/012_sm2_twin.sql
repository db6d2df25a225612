-- The 国密 twin (GB/T 38540) of each seal version: its SM2 key (sealed by
-- the keys package under the KEK), its SM2 certificate, and the electronic
-- seal (SES_Seal, DER) the SM2 CA made for it.
CREATE TABLE seal_sm2 (
  seal_id BIGINT PRIMARY KEY REFERENCES seals(id),
  key_blob BYTEA NOT NULL,
  cert_der BYTEA NOT NULL,
  serial TEXT NOT NULL UNIQUE,
  ses_seal BYTEA NOT NULL,
  created_at BIGINT NOT NULL
);

-- The seal signature (SES_Signature, DER) over each certificate version's
-- signed PDF.
CREATE TABLE certificate_ses (
  certificate_id BIGINT PRIMARY KEY REFERENCES certificates(id),
  ses BYTEA NOT NULL
);

CREATE TRIGGER seal_sm2_keep BEFORE DELETE OR TRUNCATE ON seal_sm2 FOR EACH STATEMENT EXECUTE FUNCTION certseal_refuse();
CREATE TRIGGER certificate_ses_keep BEFORE DELETE OR TRUNCATE ON certificate_ses FOR EACH STATEMENT EXECUTE FUNCTION certseal_refuse();
