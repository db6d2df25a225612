package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/audit"
)

// BeforeMigration settles, inside the migration's transaction, what the
// schema version about to be applied would refuse: records earlier
// versions of certseal could make and the new constraint forbids. Without
// it an upgrade of such a database would stop at the constraint.
func (t *Tx) BeforeMigration(ctx context.Context, version int, now time.Time) error {
	// Events appended before the log exists get their leaves from its
	// migration's backfill.
	t.noLeaves = version < logVersion
	switch version {
	case 3: // one valid certificate per appointment
		return t.revokeDuplicateCertificates(ctx, now)
	case 7: // one batch per caller, unit and idempotency key
		_, err := t.c.Exec(ctx, `UPDATE batches SET idempotency_key = idempotency_key || ' (duplicate of an earlier batch)'
			WHERE idempotency_key <> '' AND id NOT IN (SELECT MIN(id) FROM batches WHERE idempotency_key <> '' GROUP BY unit_id, actor, idempotency_key)`)
		return err
	}
	return nil
}

// revokeDuplicateCertificates keeps the first valid certificate of each
// appointment and revokes the others (concurrent requests could issue one
// twice before version 3), each with an audit event naming the one kept.
func (t *Tx) revokeDuplicateCertificates(ctx context.Context, now time.Time) error {
	rows, err := t.c.Query(ctx, `SELECT dedup_key, number, version FROM certificates WHERE state = 'valid' AND dedup_key IN
		(SELECT dedup_key FROM certificates WHERE state = 'valid' GROUP BY dedup_key HAVING COUNT(*) > 1) ORDER BY dedup_key, id`)
	type version struct {
		key    []byte
		number string
		v      int
	}
	dups, err := collect(rows, err, func(r Row) (version, error) {
		var v version
		return v, r.Scan(&v.key, &v.number, &v.v)
	})
	if err != nil {
		return fmt.Errorf("find duplicate certificates: %w", err)
	}
	keep := map[string]string{} // dedup key: number kept
	for _, d := range dups {
		first, seen := keep[string(d.key)]
		if !seen {
			keep[string(d.key)] = d.number
			continue
		}
		c, err := t.CertificateVersion(ctx, d.number, d.v)
		if err != nil {
			return err
		}
		c.State, c.RevokedAt, c.Category, c.RevokedBy = registry.CertRevoked, &now, registry.RevokeError, "certseal migrate"
		c.RevokeReason = fmt.Sprintf("重复签发，保留 %s / issued twice for one appointment by concurrent requests; %s is kept", first, first)
		if err := t.UpdateCertificate(ctx, &c); err != nil {
			return err
		}
		ev := registry.AuditEvent{At: now, Actor: "certseal migrate", Action: "certificate.revoke", SubjectType: "certificate",
			SubjectID: c.Number, PayloadDigest: audit.Digest(map[string]any{"reason": c.RevokeReason, "kept": first})}
		if err := t.AppendAudit(ctx, &ev); err != nil {
			return err
		}
	}
	return nil
}

// logVersion is the schema version that adds the transparency log.
const logVersion = 13

// AfterMigration fills, inside the migration's transaction, what the
// schema version just applied added and SQL alone cannot compute.
func (t *Tx) AfterMigration(ctx context.Context, version int) error {
	switch version {
	case 9: // the holder's keyed hash needs the personal-data key
		return t.fillHolderHashes(ctx)
	case logVersion: // the log starts with the events already recorded
		return t.backfillLog(ctx)
	}
	return nil
}

// fillHolderHashes gives certificates issued before version 9 the lookup
// hash of their holder's ID number. The rows are read first and written
// after: one connection cannot do both at once.
func (t *Tx) fillHolderHashes(ctx context.Context) error {
	type sealed struct {
		id       int64
		idNumber []byte
	}
	rows, err := t.c.Query(ctx, `SELECT id, id_number_sealed FROM certificates WHERE holder_hash IS NULL ORDER BY id`)
	todo, err := collect(rows, err, func(r Row) (s sealed, err error) { return s, r.Scan(&s.id, &s.idNumber) })
	if err != nil {
		return fmt.Errorf("read certificates to index by holder: %w", err)
	}
	for _, c := range todo {
		id, err := t.pii.Open(c.idNumber)
		if err != nil {
			return fmt.Errorf("certificate row %d ID number: %w", c.id, err)
		}
		if _, err := t.c.Exec(ctx, `UPDATE certificates SET holder_hash = $1 WHERE id = $2`, t.pii.HolderHash(string(id)), c.id); err != nil {
			return fmt.Errorf("index certificate row %d by holder: %w", c.id, err)
		}
	}
	return nil
}
