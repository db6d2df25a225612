-- One batch per submission: the same Idempotency-Key from the same caller
-- for the same unit, even on two replicas at once, makes one batch.
CREATE UNIQUE INDEX batches_idempotency ON batches(unit_id, actor, idempotency_key) WHERE idempotency_key <> '';
