-- Certificate listings filter by series, level, status (the term's end
-- tells valid from expired), batch, issue time and holder on indexes. The
-- columns copy what the appointment JSON says; holder_hash is the keyed
-- hash of the holder's ID number, filled for older rows by the store
-- (sqlstore.AfterMigration), as SQL has no key to compute it.
ALTER TABLE certificates ADD COLUMN series TEXT NOT NULL DEFAULT '';
ALTER TABLE certificates ADD COLUMN level TEXT NOT NULL DEFAULT '';
ALTER TABLE certificates ADD COLUMN term_to TEXT NOT NULL DEFAULT '';
ALTER TABLE certificates ADD COLUMN holder_hash BYTEA;
UPDATE certificates SET series = COALESCE(appointment_json::jsonb ->> 'series', ''),
  level = COALESCE(appointment_json::jsonb ->> 'level', ''),
  term_to = COALESCE(appointment_json::jsonb ->> 'term_to', '');
CREATE INDEX certificates_unit_series ON certificates(unit_id, series, id);
CREATE INDEX certificates_series_level ON certificates(series, level, id);
CREATE INDEX certificates_batch ON certificates(batch_id, id);
CREATE INDEX certificates_issued ON certificates(issued_at);
CREATE INDEX certificates_level_issued ON certificates(level, issued_at);
CREATE INDEX certificates_unit_state ON certificates(unit_id, state, id);
CREATE INDEX certificates_holder ON certificates(holder_hash);
