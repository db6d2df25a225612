-- 诚信档案: forged, tampered or abused certificates and who was involved.
CREATE TABLE integrity_records (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  unit_id INTEGER NOT NULL,
  number TEXT NOT NULL,
  holder_name TEXT NOT NULL,
  category TEXT NOT NULL,
  source TEXT NOT NULL,
  evidence TEXT NOT NULL,
  actor TEXT NOT NULL,
  request_id TEXT NOT NULL,
  at INTEGER NOT NULL
);
CREATE INDEX integrity_records_unit ON integrity_records(unit_id, id);
CREATE TRIGGER integrity_records_keep BEFORE DELETE ON integrity_records BEGIN SELECT RAISE(ABORT, 'certseal keeps every record: DELETE is refused'); END;
