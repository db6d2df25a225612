package signer_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"testing"

	"github.com/emmansun/gmsm/sm3"

	"github.com/certseal/certseal/keys"
	"github.com/certseal/certseal/keys/ses"
	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/signer"
)

// Issue and reissue record, with each version, a seal signature by the
// seal's SM2 key over exactly the stored PDF, time-stamped by the TSA over
// its signature value, and saying which version it signs.
func TestIssueRecordsSealSignature(t *testing.T) {
	f := newFixture(t, backends[0].open(t))
	ctx := context.Background()
	got, err := f.issuer.Issue(ctx, signer.Request{Appointment: f.appointment(ids[0])})
	if err != nil {
		t.Fatal(err)
	}
	corrected := f.appointment(ids[0])
	corrected.Post = "教授"
	re, err := f.issuer.Reissue(ctx, got.Certificate.Number, corrected, signer.Request{})
	if err != nil {
		t.Fatal(err)
	}
	for _, issued := range []signer.Issued{got, re} {
		c := issued.Certificate
		var der []byte
		err := f.store.View(ctx, func(tx registry.Tx) (err error) {
			der, err = tx.CertificateSES(ctx, c.Number, c.Version)
			return err
		})
		if err != nil {
			t.Fatalf("version %d: %v", c.Version, err)
		}
		s, err := ses.ParseSignature(der)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("version %d: seal signature of %d bytes (its seal %d) over a PDF of %d bytes", c.Version, len(der), len(s.ToSign.ESeal.Raw), len(issued.PDF))
		signerCert, maker, err := s.Verify()
		if err != nil {
			t.Fatalf("version %d: %v", c.Version, err)
		}
		if sum := sm3.Sum(issued.PDF); !bytes.Equal(s.ToSign.DataHash.Bytes, sum[:]) {
			t.Errorf("version %d: dataHash is not the SM3 of the signed PDF", c.Version)
		}
		if want := signer.SESProperty(c.Number, c.Version, len(issued.PDF)); s.ToSign.PropertyInfo != want {
			t.Errorf("propertyInfo %q, want %q", s.ToSign.PropertyInfo, want)
		}
		if !s.ToSign.TimeInfo.Equal(c.IssuedAt.Truncate(1e9)) {
			t.Errorf("timeInfo %s, issued at %s", s.ToSign.TimeInfo, c.IssuedAt)
		}
		if err := f.sm2.Verify(signerCert, c.IssuedAt); err != nil || !bytes.Equal(maker.Raw, f.sm2.Issuing().Raw) {
			t.Errorf("chain to the SM2 root: %v", err)
		}
		trust := keys.TimestampTrust{Roots: []*x509.Certificate{f.ca.Root()}, Intermediates: []*x509.Certificate{f.ca.Issuing()}}
		if _, err := keys.CheckTimestampToken(s.TimeStamp.Bytes, s.Signature.Bytes, trust); err != nil {
			t.Errorf("the time-stamp over the signature value: %v", err)
		}
	}
}
