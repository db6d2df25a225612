package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/audit"
)

// Upgrade tests: a database written before migrations 003 and 007 may
// hold what they forbid, two valid certificates for one appointment
// (concurrent requests) and two batches under one idempotency key (two
// replicas). The upgrade must settle them, not stop at the new unique
// indexes: the later certificate revoked, with an audit event naming the
// one kept, and the later batch's key renamed. A backend's test seeds
// (SeedUpgrade), runs BackToVersion2 on the database, reopens, and checks
// (CheckUpgraded).

// SeedUpgrade writes one unit, seal, certificate and audit event.
func SeedUpgrade(t *testing.T, s registry.Store) {
	ctx := context.Background()
	now := time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)
	err := s.InTx(ctx, func(tx registry.Tx) error {
		u := registry.Unit{Name: "威海示范大学", USCC: "12371000494360979B", Jurisdiction: "威海市", CreatedAt: now}
		if err := tx.CreateUnit(ctx, &u); err != nil {
			return err
		}
		seal := registry.Seal{UnitID: u.ID, Version: 1, State: registry.SealActive, ImprintPNG: []byte("p"), KeyBlob: []byte("k"),
			CertDER: []byte("d"), Serial: "s1", CreatedAt: now}
		if err := tx.CreateSeal(ctx, &seal); err != nil {
			return err
		}
		c := registry.Certificate{Number: "372026000000013", Version: 1, State: registry.CertValid, SealID: seal.ID, SealVersion: 1,
			IssuedAt: now, TokenHash: []byte("t"), PDFSHA256: []byte("sum-1"),
			Appointment: registry.Appointment{UnitID: u.ID, Name: "王晓明", IDNumber: "370102198001010015", Series: "高校教师", Photo: []byte("jpg")}}
		if err := tx.CreateCertificate(ctx, &c, []byte("%PDF")); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, &registry.AuditEvent{At: now, Actor: "t", Action: "certificate.sign", SubjectType: "certificate", SubjectID: c.Number})
	})
	if err != nil {
		t.Fatal(err)
	}
}

// BackToVersion2 is the SQL that takes a seeded database back to schema
// version 2 and adds the duplicates an older certseal made. digest is the
// backend's literal for a 1-byte PDF digest, setVersion its statement
// that records version 2.
func BackToVersion2(digest, setVersion string) []string {
	return []string{
		`DROP INDEX certificates_dedup_valid`, `CREATE INDEX certificates_dedup ON certificates(dedup_key)`,
		`DROP INDEX integrity_records_number`, `ALTER TABLE seal_applications DROP COLUMN target_seal_id`,
		`ALTER TABLE batches DROP COLUMN runner`, `ALTER TABLE batches DROP COLUMN lease_until`, `DROP INDEX batches_idempotency`,
		`ALTER TABLE api_keys DROP COLUMN expires_at`, `ALTER TABLE api_keys DROP COLUMN last_used_at`,
		`ALTER TABLE api_keys DROP COLUMN revoked_at`, `ALTER TABLE api_keys DROP COLUMN revoked_by`, `ALTER TABLE api_keys DROP COLUMN rev`,
		`ALTER TABLE api_keys DROP COLUMN created_by`,
		`DROP TABLE number_holds`, `DROP INDEX audit_events_subject`, `DROP TABLE log_hashes`, `DROP TABLE certificate_ses`, `DROP TABLE seal_sm2`,
		`DROP INDEX certificates_unit_series`, `DROP INDEX certificates_series_level`, `DROP INDEX certificates_batch`,
		`DROP INDEX certificates_issued`, `DROP INDEX certificates_holder`, `DROP INDEX certificates_level_issued`, `DROP INDEX certificates_unit_state`, `ALTER TABLE certificates DROP COLUMN series`,
		`ALTER TABLE certificates DROP COLUMN level`, `ALTER TABLE certificates DROP COLUMN term_to`, `ALTER TABLE certificates DROP COLUMN holder_hash`,
		`DROP TABLE receipts`, `DROP TABLE verifications`, `DROP TABLE token_rotations`,
		duplicates(digest), setVersion,
	}
}

func duplicates(digest string) string {
	return `INSERT INTO certificates (number, version, unit_id, name, appointment_json, id_number_sealed, photo_sealed, token_hash, state,
			seal_id, seal_version, issued_at, pdf_sha256, dedup_key) SELECT '372026000000021', version, unit_id, name, appointment_json,
			id_number_sealed, photo_sealed, token_hash, state, seal_id, seal_version, issued_at + 1, ` + digest + `, dedup_key FROM certificates;
		INSERT INTO batches (unit_id, actor, request_id, state, total, created_at, idempotency_key) VALUES
			(1, 'unit:1#1', 'r1', 'done', 0, 0, 'k'), (1, 'unit:1#1', 'r2', 'done', 0, 0, 'k')`
}

// CheckUpgraded checks what the upgrade settled.
func CheckUpgraded(t *testing.T, s registry.Store) {
	ctx := context.Background()
	var kept, dup registry.Certificate
	var batches []registry.Batch
	err := s.View(ctx, func(tx registry.Tx) (err error) {
		if kept, err = tx.Certificate(ctx, "372026000000013"); err != nil {
			return err
		}
		if dup, err = tx.Certificate(ctx, "372026000000021"); err != nil {
			return err
		}
		for _, id := range []int64{1, 2} {
			b, err := tx.Batch(ctx, id)
			if err != nil {
				return err
			}
			batches = append(batches, b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if kept.State != registry.CertValid || dup.State != registry.CertRevoked || dup.Category != registry.RevokeError ||
		!strings.Contains(dup.RevokeReason, "372026000000013") {
		t.Errorf("after the upgrade: kept %s, duplicate %s (%s: %s)", kept.State, dup.State, dup.Category, dup.RevokeReason)
	}
	// Certificates issued before the listing columns are found by them.
	must(t, s.View(ctx, func(tx registry.Tx) error {
		held, err := tx.ListCertificates(ctx, registry.CertFilter{HolderIDNumber: "370102198001010015", Series: "高校教师"})
		if err != nil || len(held) != 2 {
			return fmt.Errorf("the upgraded certificates by holder and series: %d, %v", len(held), err)
		}
		return nil
	}))
	if batches[0].IdempotencyKey != "k" || batches[1].IdempotencyKey == "k" {
		t.Errorf("batches after the upgrade: %+v", batches)
	}
	revokes := 0
	head, err := audit.Walk(ctx, func(ctx context.Context, after int64, limit int) ([]registry.AuditEvent, error) {
		evs, err := fetcher(s)(ctx, after, limit)
		for _, ev := range evs {
			if ev.Action == "certificate.revoke" && ev.SubjectID == "372026000000021" {
				revokes++
			}
		}
		return evs, err
	}, nil, audit.Head{})
	if err != nil || head.Seq != 2 || revokes != 1 {
		t.Errorf("audit trail after the upgrade: head %v, %d revocation events, %v", head, revokes, err)
	}
	// Both events, the one from before and the one the upgrade made before
	// the log existed, are leaves of it.
	if n := CheckLog(t, s); n != 2 {
		t.Errorf("log after the upgrade has %d leaves, want 2", n)
	}
}
