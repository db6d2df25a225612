package storetest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/audit"
)

// BenchmarkIssueRecord measures what issuing one certificate asks of the
// store, as signer records it: a number from the sequence, the version
// with its signed PDF (60 KB, about a real one's size), and the signing's
// audit event, in one transaction. A backend runs it on a store with the
// transparency log and on one without, in the same run, to price the log.
func BenchmarkIssueRecord(b *testing.B, s registry.Store) {
	ctx := context.Background()
	var u registry.Unit
	var seal registry.Seal
	must(b, s.InTx(ctx, func(tx registry.Tx) error {
		u = registry.Unit{Name: "基准单位", USCC: "91370000MA3C000001", Jurisdiction: "威海市", CreatedAt: benchStart}
		if err := tx.CreateUnit(ctx, &u); err != nil {
			return err
		}
		seal = registry.Seal{UnitID: u.ID, Version: 1, State: registry.SealActive, ImprintPNG: []byte("p"), KeyBlob: []byte("k"),
			CertDER: []byte("d"), Serial: "bench-issue", CreatedAt: benchStart}
		return tx.CreateSeal(ctx, &seal)
	}))
	pdf := make([]byte, 60<<10)
	i := 0
	for b.Loop() {
		i++
		must(b, s.InTx(ctx, func(tx registry.Tx) error {
			seq, err := tx.NextSeq(ctx, registry.CertSeqName(2026))
			if err != nil {
				return err
			}
			number, err := registry.FormatCertNumber(2026, seq)
			if err != nil {
				return err
			}
			c := cert(number, 1, appointment(u.ID, benchHolder(i)), seal)
			copy(pdf, number)
			if err := tx.CreateCertificate(ctx, &c, pdf); err != nil {
				return err
			}
			sum := sha256.Sum256(pdf)
			return tx.AppendAudit(ctx, &registry.AuditEvent{At: benchStart, Actor: "unit:1#1", Action: "certificate.sign",
				SubjectType: "certificate", SubjectID: number, RequestID: fmt.Sprint("bench-", i),
				PayloadDigest: audit.Digest(map[string]any{"number": number, "version": 1, "pdf_sha256": fmt.Sprintf("%x", sum)})})
		}))
	}
}
