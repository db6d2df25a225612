package storetest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/certseal/certseal/registry"
)

// testReceipts: a receipt round-trips, is found by the digest of its PDF
// and of its JWS, and its serial is unique; verification records page by
// id per number; a retired token leaves a record and no longer matches;
// none of the three tables lets a row be deleted.
func testReceipts(t *testing.T, s RawStore) {
	ctx := ctxT(t)
	u := newUnit(t, s, "91370000MA3C00001X")
	seal := newSeal(t, s, u.ID, 1)
	c := cert("372026000000031", 1, appointment(u.ID, "11010519491231002X"), seal)
	must(t, s.InTx(ctx, func(tx registry.Tx) error { return tx.CreateCertificate(ctx, &c, []byte("%PDF c")) }))

	r := registry.Receipt{Serial: "R-TEST-0001", Number: c.Number, Version: 1, HolderName: "王五", Status: registry.CertValid,
		SealVersion: 1, Unit: "测试大学", Kind: registry.VerifiedByScan, VerifiedAt: t0, RequestID: "req-1"}
	pdf, jws := []byte("%PDF receipt"), "header.payload.sig"
	must(t, s.InTx(ctx, func(tx registry.Tx) error { return tx.CreateReceipt(ctx, &r, pdf, jws) }))
	wantCode(t, s.InTx(ctx, func(tx registry.Tx) error {
		dup := r
		return tx.CreateReceipt(ctx, &dup, []byte("%PDF other"), "other")
	}), registry.ErrDuplicate)
	pdfSum, jwsSum := sha256.Sum256(pdf), sha256.Sum256([]byte(jws))
	must(t, s.View(ctx, func(tx registry.Tx) error {
		got, err := tx.Receipt(ctx, r.Serial)
		if err != nil {
			return err
		}
		if got.Number != r.Number || got.HolderName != r.HolderName || got.Status != r.Status || got.Kind != r.Kind ||
			!got.VerifiedAt.Equal(t0) || !bytes.Equal(got.PDFSHA256, pdfSum[:]) || got.Unit != r.Unit {
			return fmt.Errorf("receipt round trip: %+v", got)
		}
		for _, sum := range [][]byte{pdfSum[:], jwsSum[:]} {
			if got, err := tx.ReceiptByDigest(ctx, sum); err != nil || got.Serial != r.Serial {
				return fmt.Errorf("by digest %x: %v %v", sum, got.Serial, err)
			}
		}
		if _, err := tx.ReceiptByDigest(ctx, make([]byte, 32)); !errors.Is(err, registry.ErrNotFound) {
			return fmt.Errorf("unknown digest: %v", err)
		}
		b, j, err := tx.ReceiptFiles(ctx, r.Serial)
		if err != nil || !bytes.Equal(b, pdf) || j != jws {
			return fmt.Errorf("files: %q %q %v", b, j, err)
		}
		return nil
	}))

	var vs []registry.Verification
	for i := range 450 { // more than one multi-row insert
		vs = append(vs, registry.Verification{Number: c.Number, Kind: registry.VerifiedByTyped, Outcome: registry.CertValid,
			At: t0.Add(time.Duration(i) * time.Second), ClientHash: []byte{byte(i)}})
	}
	vs = append(vs, registry.Verification{Number: "372026000000049", Kind: registry.VerifiedByScan, Outcome: registry.CertValid, At: t0})
	must(t, s.InTx(ctx, func(tx registry.Tx) error { return tx.AddVerifications(ctx, vs) }))
	must(t, s.View(ctx, func(tx registry.Tx) error {
		var all []registry.Verification
		p := registry.Page{Limit: 100}
		for {
			page, err := tx.ListVerifications(ctx, c.Number, p)
			if err != nil {
				return err
			}
			all = append(all, page...)
			if len(page) < p.Limit {
				break
			}
			p.AfterID = page[len(page)-1].ID
		}
		if len(all) != 450 {
			return fmt.Errorf("listed %d verifications of %s, want 450", len(all), c.Number)
		}
		if v := all[449]; v.Kind != registry.VerifiedByTyped || !v.At.Equal(t0.Add(449*time.Second)) || !bytes.Equal(v.ClientHash, []byte{byte(449 % 256)}) {
			return fmt.Errorf("last verification: %+v", v)
		}
		return nil
	}))

	rot := registry.TokenRotation{Number: c.Number, Version: 1, NewVersion: 2, At: t0, Actor: "platform:1", RequestID: "req-2"}
	tomb := sha256.Sum256([]byte("no token hashes to this"))
	must(t, s.InTx(ctx, func(tx registry.Tx) error { return tx.RetireToken(ctx, &rot, tomb[:]) }))
	if !bytes.Equal(rot.OldTokenHash, c.TokenHash) {
		t.Errorf("rotation kept old token hash %x, want %x", rot.OldTokenHash, c.TokenHash)
	}
	wantCode(t, s.InTx(ctx, func(tx registry.Tx) error { again := rot; return tx.RetireToken(ctx, &again, tomb[:]) }), registry.ErrDuplicate)
	must(t, s.View(ctx, func(tx registry.Tx) error {
		got, err := tx.CertificateVersion(ctx, c.Number, 1)
		if err != nil {
			return err
		}
		if !bytes.Equal(got.TokenHash, tomb[:]) {
			return fmt.Errorf("token hash after rotation %x", got.TokenHash)
		}
		return nil
	}))
	for _, table := range []string{"receipts", "verifications", "token_rotations"} {
		if err := s.Exec(ctx, `DELETE FROM `+table); err == nil {
			t.Errorf("DELETE FROM %s was allowed", table)
		}
	}
}
