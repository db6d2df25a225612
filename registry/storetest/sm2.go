package storetest

import (
	"bytes"
	"testing"

	"github.com/certseal/certseal/registry"
)

// testSM2Twin: a seal's 国密 twin and a certificate's seal signature are
// stored once, read back whole, by seal and by SM2 serial, and roll back
// with their transaction.
func testSM2Twin(t *testing.T, s RawStore) {
	ctx := ctxT(t)
	u := newUnit(t, s, "91370000MA3C00000X")
	seal := newSeal(t, s, u.ID, 1)
	twin := registry.SM2Seal{SealID: seal.ID, KeyBlob: []byte("sealed sm2 key"), CertDER: []byte("sm2 der"), Serial: "5e41",
		SESSeal: []byte("ses seal"), CreatedAt: t0}
	must(t, s.InTx(ctx, func(tx registry.Tx) error { return tx.CreateSM2Seal(ctx, &twin) }))
	dup := twin
	dup.Serial = "5e42"
	wantCode(t, s.InTx(ctx, func(tx registry.Tx) error { return tx.CreateSM2Seal(ctx, &dup) }), registry.ErrDuplicate)

	c := cert("372026000000031", 1, appointment(u.ID, "11010519491231002X"), seal)
	must(t, s.InTx(ctx, func(tx registry.Tx) error {
		if err := tx.CreateCertificate(ctx, &c, []byte("%PDF")); err != nil {
			return err
		}
		return tx.CreateCertificateSES(ctx, c.Number, c.Version, []byte("ses signature"))
	}))
	wantCode(t, s.InTx(ctx, func(tx registry.Tx) error {
		return tx.CreateCertificateSES(ctx, c.Number, c.Version, []byte("another"))
	}), registry.ErrDuplicate)
	wantCode(t, s.InTx(ctx, func(tx registry.Tx) error {
		return tx.CreateCertificateSES(ctx, c.Number, 2, []byte("no such version"))
	}), registry.ErrNotFound)

	must(t, s.View(ctx, func(tx registry.Tx) error {
		for _, get := range []func() (registry.SM2Seal, error){
			func() (registry.SM2Seal, error) { return tx.SM2Seal(ctx, seal.ID) },
			func() (registry.SM2Seal, error) { return tx.SM2SealBySerial(ctx, "5e41") },
		} {
			got, err := get()
			if err != nil {
				return err
			}
			if got.SealID != seal.ID || !bytes.Equal(got.KeyBlob, twin.KeyBlob) || !bytes.Equal(got.CertDER, twin.CertDER) ||
				got.Serial != twin.Serial || !bytes.Equal(got.SESSeal, twin.SESSeal) || !got.CreatedAt.Equal(t0) {
				t.Errorf("SM2 twin read back as %+v, stored %+v", got, twin)
			}
		}
		der, err := tx.CertificateSES(ctx, c.Number, c.Version)
		if err != nil {
			return err
		}
		if string(der) != "ses signature" {
			t.Errorf("seal signature read back as %q", der)
		}
		_, err = tx.SM2SealBySerial(ctx, "5e42")
		wantCode(t, err, registry.ErrNotFound)
		_, err = tx.CertificateSES(ctx, c.Number, 2)
		wantCode(t, err, registry.ErrNotFound)
		return nil
	}))
}
