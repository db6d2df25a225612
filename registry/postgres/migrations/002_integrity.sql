-- 诚信档案: forged, tampered or abused certificates and who was involved.
CREATE TABLE integrity_records (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  unit_id BIGINT NOT NULL,
  number TEXT NOT NULL,
  holder_name TEXT NOT NULL,
  category TEXT NOT NULL,
  source TEXT NOT NULL,
  evidence TEXT NOT NULL,
  actor TEXT NOT NULL,
  request_id TEXT NOT NULL,
  at BIGINT NOT NULL
);
CREATE INDEX integrity_records_unit ON integrity_records(unit_id, id);
CREATE TRIGGER integrity_records_keep BEFORE DELETE OR TRUNCATE ON integrity_records FOR EACH STATEMENT EXECUTE FUNCTION certseal_refuse();
