-- Public uploads are checked against the records a number already has.
CREATE INDEX integrity_records_number ON integrity_records(number);
