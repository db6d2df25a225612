package signer_test

import (
	"context"
	"crypto/x509"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/certseal/certseal/keys"
	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/storetest"
	"github.com/certseal/certseal/signer"
)

// meanwhile is a time-stamping authority that runs during once, the first
// time it is asked: while the certificate is being signed, after Issue read
// what allows it and before it records it.
type meanwhile struct {
	signer.Timestamper
	once   sync.Once
	during func()
}

func (m *meanwhile) Stamp(ctx context.Context, req []byte) ([]byte, error) {
	m.once.Do(m.during)
	return m.Timestamper.Stamp(ctx, req)
}

// The race the recording transaction closes: a certificate is rendered and
// signed outside any transaction, so the seal can be revoked, or the filing
// withdrawn, while it is; the record step then refuses, nothing of it is
// kept, and its number goes to the next issue. A seal changed meanwhile
// (a change approved) has the certificate signed again with the new one.
func TestChangeBetweenSigningAndRecord(t *testing.T) {
	for _, tc := range []struct {
		name    string
		change  func(*fixture) error
		refusal error // nil: issued, with seal version 2
	}{
		{"seal revoked", (*fixture).revokeSeal, registry.ErrSealNotActive},
		{"filing withdrawn", (*fixture).withdrawFiling, registry.ErrFilingNotInForce},
		{"seal changed", (*fixture).changeSeal, nil},
	} {
		for _, b := range backends {
			t.Run(tc.name+"/"+b.name, func(t *testing.T) {
				f := newFixture(t, b.open(t))
				ctx := context.Background()
				got, err := racingIssuer(t, f, tc.change).Issue(ctx, signer.Request{Appointment: f.appointment(ids[0]), Actor: "t"})
				var certs []registry.Certificate
				var signs int
				err2 := f.store.View(ctx, func(tx registry.Tx) error {
					var err error
					if certs, err = tx.ListCertificates(ctx, registry.CertFilter{UnitID: f.unit.ID, WithoutPersonalData: true}); err != nil {
						return err
					}
					events, err := tx.AuditEvents(ctx, 0, 1000)
					for _, e := range events {
						if e.Action == "certificate.sign" {
							signs++
						}
					}
					return err
				})
				if err2 != nil {
					t.Fatal(err2)
				}
				if tc.refusal == nil {
					if err != nil || len(certs) != 1 || certs[0].SealVersion != 2 || got.Certificate.SealVersion != 2 || signs != 1 {
						t.Fatalf("issue across a seal change: %v; %d certificates, %d signing events, seal version %d", err, len(certs), signs, got.Certificate.SealVersion)
					}
					return
				}
				if !errors.Is(err, tc.refusal) {
					t.Fatalf("issue: %v, want %v", err, tc.refusal)
				}
				if len(certs) != 0 || signs != 0 {
					t.Fatalf("%d certificates and %d signing events kept of a refused record", len(certs), signs)
				}
				// The number held for it is the next one held.
				var next int64
				err = f.store.InTx(ctx, func(tx registry.Tx) (err error) {
					next, err = tx.HoldNumber(ctx, registry.CertSeqName(2026), "probe", f.now, f.now.Add(time.Minute))
					return err
				})
				if err != nil || next != 1 {
					t.Errorf("next number held: %d (%v), want 1, the one released", next, err)
				}
			})
		}
	}
}

// racingIssuer is the fixture's issuer whose time-stamping authority runs
// change while it signs the first certificate.
func racingIssuer(t *testing.T, f *fixture, change func(*fixture) error) *signer.Issuer {
	tsa := &meanwhile{Timestamper: f.tsa, during: func() {
		if err := change(f); err != nil {
			t.Error(err)
		}
	}}
	return signer.NewIssuer(signer.IssuerDeps{Store: f.store, PII: storetest.PII(), Keys: f.keys, Chains: f.ca, Renderer: f.render,
		TSA: tsa, TSATrust: keys.TimestampTrust{Roots: []*x509.Certificate{f.ca.Root()}}, TSACerts: []*x509.Certificate{f.tsa.Certificate()},
		Revocation: f.rsp, BaseURL: "https://zc.example.cn", Calendar: f.calendar, Now: func() time.Time { return f.now }})
}

// A reissue goes the same way: its seal revoked while the corrected
// version is signed, the old version stays the valid one and no new one
// is kept.
func TestSealRevokedWhileReissuing(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b.open(t))
			ctx := context.Background()
			first, err := f.issuer.Issue(ctx, signer.Request{Appointment: f.appointment(ids[0]), Actor: "t"})
			if err != nil {
				t.Fatal(err)
			}
			corrected := f.appointment(ids[0])
			corrected.Post = "教授"
			_, err = racingIssuer(t, f, (*fixture).revokeSeal).Reissue(ctx, first.Certificate.Number, corrected, signer.Request{Actor: "t"})
			if !errors.Is(err, registry.ErrSealNotActive) {
				t.Fatalf("reissue: %v, want the seal's refusal", err)
			}
			var c registry.Certificate
			if err := f.store.View(ctx, func(tx registry.Tx) (err error) { c, err = tx.Certificate(ctx, first.Certificate.Number); return err }); err != nil {
				t.Fatal(err)
			}
			if c.Version != 1 || c.State != registry.CertValid {
				t.Errorf("after the refused reissue the newest version is %d, %s; want 1, valid", c.Version, c.State)
			}
		})
	}
}
