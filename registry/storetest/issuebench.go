package storetest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/audit"
)

// BenchmarkIssueRecord measures what issuing one certificate asks of the
// store, as signer records it: a number from the sequence, the version
// with its signed PDF (60 KB, about a real one's size), and the signing's
// audit event, in one transaction. It prices the transparency log: each
// round issues once on withLog and once on without (a store of the same
// backend that appends no leaves), in alternating order, so both see the
// same machine load; it reports each one's time and their ratio.
func BenchmarkIssueRecord(b *testing.B, withLog, without registry.Store) {
	ctx := context.Background()
	stores := []*issueBench{newIssueBench(b, withLog), newIssueBench(b, without)}
	var took [2]time.Duration
	for i := 0; b.Loop(); i++ {
		for k := range 2 {
			j := (i + k) % 2 // who goes first alternates
			start := time.Now()
			must(b, stores[j].issue(ctx, i))
			took[j] += time.Since(start)
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(took[0].Microseconds())/n, "log-µs/issue")
	b.ReportMetric(float64(took[1].Microseconds())/n, "no-log-µs/issue")
	b.ReportMetric(float64(took[0])/float64(took[1]), "log/no-log")
}

type issueBench struct {
	s    registry.Store
	unit registry.Unit
	seal registry.Seal
	pdf  []byte
}

func newIssueBench(b *testing.B, s registry.Store) *issueBench {
	ctx := context.Background()
	ib := &issueBench{s: s, pdf: make([]byte, 60<<10)}
	must(b, s.InTx(ctx, func(tx registry.Tx) error {
		ib.unit = registry.Unit{Name: "基准单位", USCC: "91370000MA3C000001", Jurisdiction: "威海市", CreatedAt: benchStart}
		if err := tx.CreateUnit(ctx, &ib.unit); err != nil {
			return err
		}
		ib.seal = registry.Seal{UnitID: ib.unit.ID, Version: 1, State: registry.SealActive, ImprintPNG: []byte("p"), KeyBlob: []byte("k"),
			CertDER: []byte("d"), Serial: "bench-issue", CreatedAt: benchStart}
		return tx.CreateSeal(ctx, &ib.seal)
	}))
	return ib
}

func (ib *issueBench) issue(ctx context.Context, i int) error {
	return ib.s.InTx(ctx, func(tx registry.Tx) error {
		seq, err := tx.NextSeq(ctx, registry.CertSeqName(2026))
		if err != nil {
			return err
		}
		number, err := registry.FormatCertNumber(2026, seq)
		if err != nil {
			return err
		}
		c := cert(number, 1, appointment(ib.unit.ID, benchHolder(i)), ib.seal)
		copy(ib.pdf, number)
		if err := tx.CreateCertificate(ctx, &c, ib.pdf); err != nil {
			return err
		}
		sum := sha256.Sum256(ib.pdf)
		return tx.AppendAudit(ctx, &registry.AuditEvent{At: benchStart, Actor: "unit:1#1", Action: "certificate.sign",
			SubjectType: "certificate", SubjectID: number, RequestID: fmt.Sprint("bench-", i),
			PayloadDigest: audit.Digest(map[string]any{"number": number, "version": 1, "pdf_sha256": fmt.Sprintf("%x", sum)})})
	})
}
