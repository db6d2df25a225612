-- One valid certificate per appointment. The signer checks before it
-- signs, but two concurrent requests (a retry sent while the first still
-- ran) could both pass the check under read committed; this index lets
-- only the first commit, and the store reruns the second, which then meets
-- the first in the check.
DROP INDEX certificates_dedup;
CREATE UNIQUE INDEX certificates_dedup_valid ON certificates(dedup_key) WHERE state = 'valid';
