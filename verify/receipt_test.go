package verify

import (
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
)

// testJWS signs payload as certseal's document signer does: ES256, r||s,
// the signer's certificate first in x5c.
func testJWS(t testing.TB, key crypto.Signer, cert *x509.Certificate, payload string) string {
	t.Helper()
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(map[string]any{"alg": "ES256", "typ": "certseal-receipt+jws", "x5c": []string{base64.StdEncoding.EncodeToString(cert.Raw)}})
	input := enc.EncodeToString(h) + "." + enc.EncodeToString([]byte(payload))
	d := sha256.Sum256([]byte(input))
	der, err := key.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	var rs struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(der, &rs); err != nil {
		t.Fatal(err)
	}
	sig := make([]byte, 64)
	rs.R.FillBytes(sig[:32])
	rs.S.FillBytes(sig[32:])
	return input + "." + enc.EncodeToString(sig)
}

type jwsFixture struct {
	trust     PDFTrust
	jws       string
	sealKey   crypto.Signer
	sealCert  *x509.Certificate
	signerKey crypto.Signer
}

func newJWSFixture(t testing.TB) jwsFixture {
	ca := newPDFTestCA(t, "Test Root", "Test Issuing")
	f := jwsFixture{signerKey: newPDFTestKey(t), sealKey: newPDFTestKey(t)}
	doc := ca.seal(t, f.signerKey, nil)
	f.sealCert = ca.seal(t, f.sealKey, nil)
	f.trust = ca.trust()
	f.trust.ReceiptSigner = doc
	f.jws = testJWS(t, f.signerKey, doc, `{"serial":"AAAA-BBBB-CCCC-DDDD"}`)
	return f
}

func TestCheckReceiptJWS(t *testing.T) {
	f := newJWSFixture(t)
	if err := checkReceiptJWS(f.jws, f.trust); err != nil {
		t.Fatalf("a genuine JWS: %v", err)
	}
	parts := strings.Split(f.jws, ".")
	for name, jws := range map[string]string{
		"payload changed":                  parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"serial":"AAAA-BBBB-CCCC-DDDE"}`)) + "." + parts[2],
		"signature changed":                parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])),
		"signed by a seal":                 testJWS(t, f.sealKey, f.sealCert, `{"serial":"AAAA-BBBB-CCCC-DDDD"}`),
		"seal's key, signer's certificate": testJWS(t, f.sealKey, f.trust.ReceiptSigner, `{}`),
		"two parts":                        parts[0] + "." + parts[1],
		"empty":                            "",
		"not base64":                       "!!." + parts[1] + "." + parts[2],
		"too long":                         f.jws + strings.Repeat("A", maxReceiptJWS),
	} {
		if err := checkReceiptJWS(jws, f.trust); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	noSigner := f.trust
	noSigner.ReceiptSigner = nil
	if err := checkReceiptJWS(f.jws, noSigner); err == nil {
		t.Error("accepted without a configured document signer")
	}
}

// FuzzCheckReceiptJWS: any text is a verdict, never a panic, and only the
// untouched genuine JWS passes (go test -fuzz FuzzCheckReceiptJWS ./verify).
func FuzzCheckReceiptJWS(f *testing.F) {
	fx := newJWSFixture(f)
	f.Add(fx.jws)
	f.Add(fx.jws[:len(fx.jws)-3])
	f.Add("e30.e30.")
	f.Add("..")
	f.Fuzz(func(t *testing.T, jws string) {
		if err := checkReceiptJWS(jws, fx.trust); err == nil && jws != fx.jws {
			t.Errorf("a JWS other than the genuine one passed: %q", jws)
		}
	})
}
