package keys

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"io"
	"io/fs"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
	"golang.org/x/crypto/ocsp"
)

func newTestTSA(t testing.TB, ca *CA, now func() time.Time) *TSA {
	t.Helper()
	dir := t.TempDir()
	tsa, err := OpenTSA(filepath.Join(dir, TSACertFile), filepath.Join(dir, TSAKeyFile), ca, testBase, true, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	return tsa
}

func TestOpenTSA(t *testing.T) {
	now := time.Now()
	ca := newTestCA(t, now)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, TSACertFile), filepath.Join(dir, TSAKeyFile)
	if _, err := OpenTSA(certFile, keyFile, ca, testBase, false, nil, nil); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("an inspecting open of a missing TSA: %v, want fs.ErrNotExist", err)
	}
	first, err := OpenTSA(certFile, keyFile, ca, testBase, true, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	again, err := OpenTSA(certFile, keyFile, ca, testBase, false, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Certificate().Raw, again.Certificate().Raw) {
		t.Fatal("a second start made another TSA certificate")
	}
	c := first.Certificate()
	if err := TimestampingCert(c); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("TSA key file mode: %v %v", fi.Mode(), err)
	}
	if len(c.CRLDistributionPoints) != 1 || c.CRLDistributionPoints[0] != testBase+PathCRL {
		t.Fatalf("CRL distribution points %v", c.CRLDistributionPoints)
	}

	// A TSA of another CA, or half a TSA, is refused.
	other := newTestCA(t, now)
	if _, err := OpenTSA(certFile, keyFile, other, testBase, false, nil, nil); err == nil {
		t.Fatal("a TSA certificate of another CA was accepted")
	}
	os.Remove(certFile)
	if _, err := OpenTSA(certFile, keyFile, ca, testBase, true, nil, nil); err == nil {
		t.Fatal("a TSA key without its certificate was accepted (or replaced)")
	}
}

func TestTimestampingCert(t *testing.T) {
	ca := newTestCA(t, time.Now())
	km := newTestKeys(t)
	seal := newSeal(t, ca, km, 1, testUnit, 1, ECDSAP256, time.Now(), testBase)
	if err := TimestampingCert(mustParse(t, seal.CertDER)); err == nil {
		t.Fatal("a seal certificate passed as a TSA certificate")
	}
}

func stampRequest(t *testing.T, msg []byte, h crypto.Hash, nonce *big.Int) []byte {
	t.Helper()
	req, err := timestamp.CreateRequest(bytes.NewReader(msg), &timestamp.RequestOptions{Hash: h, Certificates: true, Nonce: nonce})
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestTSAStamp(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	ca := newTestCA(t, now)
	tsa := newTestTSA(t, ca, func() time.Time { return now.Add(1500 * time.Millisecond) })
	msg := []byte("signature value")
	trust := TimestampTrust{Roots: []*x509.Certificate{ca.Root()}}

	resp, err := tsa.Stamp(context.Background(), stampRequest(t, msg, crypto.SHA256, big.NewInt(42)))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := timestamp.ParseResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	if ts.Nonce == nil || ts.Nonce.Int64() != 42 || !ts.Policy.Equal(TSAPolicy) || ts.Accuracy != time.Second {
		t.Fatalf("token: nonce %v, policy %v, accuracy %v", ts.Nonce, ts.Policy, ts.Accuracy)
	}
	got, err := CheckTimestampToken(ts.RawToken, msg, trust)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Time.Equal(now.Add(time.Second)) || !bytes.Equal(got.TSA.Raw, tsa.Certificate().Raw) {
		t.Fatalf("verified time %v TSA %v", got.Time, got.TSA.Subject)
	}

	for _, tc := range []struct {
		name    string
		message []byte
		trust   TimestampTrust
		want    error
	}{
		{"other data", []byte("another signature"), trust, ErrTimestampImprint},
		{"foreign root", msg, TimestampTrust{Roots: []*x509.Certificate{newTestCA(t, now).Root()}}, ErrTimestampChain},
	} {
		if _, err := CheckTimestampToken(ts.RawToken, tc.message, tc.trust); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	tampered := bytes.Clone(ts.RawToken)
	tampered[len(tampered)-5] ^= 1 // inside the signature value
	if _, err := CheckTimestampToken(tampered, msg, trust); !errors.Is(err, ErrTimestampFormat) {
		t.Errorf("tampered token: %v", err)
	}

	// Requests the TSA will not serve get a rejection, not a token.
	sha1Req, _ := timestamp.CreateRequest(bytes.NewReader(msg), &timestamp.RequestOptions{Hash: crypto.SHA1})
	policyReq, _ := timestamp.CreateRequest(bytes.NewReader(msg), &timestamp.RequestOptions{Hash: crypto.SHA256, TSAPolicyOID: asn1.ObjectIdentifier{1, 2, 3}})
	for name, req := range map[string][]byte{"garbage": []byte("not DER"), "SHA-1": sha1Req, "other policy": policyReq} {
		resp, err := tsa.Stamp(context.Background(), req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := timestamp.ParseResponse(resp); err == nil {
			t.Errorf("%s: granted", name)
		}
	}
}

// A memo of chains that held answers only for the trust and the time it
// was found for: a token dated after the TSA's certificate expired, or
// checked against another root, is refused as without one.
func TestTimestampChainMemo(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	ca := newTestCA(t, now)
	clock := now
	tsa := newTestTSA(t, ca, func() time.Time { return clock })
	msg := []byte("signature value")
	token := func() []byte {
		resp, err := tsa.Stamp(context.Background(), stampRequest(t, msg, crypto.SHA256, big.NewInt(1)))
		if err != nil {
			t.Fatal(err)
		}
		ts, err := timestamp.ParseResponse(resp)
		if err != nil {
			t.Fatal(err)
		}
		return ts.RawToken
	}
	memo := &ChainMemo{}
	trust := TimestampTrust{Roots: []*x509.Certificate{ca.Root()}, Chains: memo}
	fresh := token()
	for range 2 { // built, then remembered
		if _, err := CheckTimestampToken(fresh, msg, trust); err != nil {
			t.Fatal(err)
		}
	}
	if len(memo.valid) != 1 {
		t.Fatalf("memo holds %d chains, want 1", len(memo.valid))
	}
	foreign := TimestampTrust{Roots: []*x509.Certificate{newTestCA(t, now).Root()}, Chains: memo}
	if _, err := CheckTimestampToken(fresh, msg, foreign); !errors.Is(err, ErrTimestampChain) {
		t.Errorf("another root through the memo: %v, want %v", err, ErrTimestampChain)
	}
	clock = tsa.Certificate().NotAfter.Add(time.Hour)
	late := token()
	for _, tr := range []TimestampTrust{trust, {Roots: trust.Roots}} {
		if _, err := CheckTimestampToken(late, msg, tr); !errors.Is(err, ErrTimestampChain) {
			t.Errorf("token after the TSA certificate expired (memo %v): %v, want %v", tr.Chains != nil, err, ErrTimestampChain)
		}
	}
}

// openssl's own RFC 3161 client accepts the tokens against the platform
// root, over HTTP as an outside client asks.
func TestOpenSSLTimestamp(t *testing.T) {
	ca := newTestCA(t, time.Now())
	tsa := newTestTSA(t, ca, nil)
	srv := httptest.NewServer(tsa.Handle())
	defer srv.Close()

	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	writeFile(t, p("data"), []byte("a certificate's signature value"), 0o644)
	writeFile(t, p("root.pem"), ca.RootPEM(), 0o644)
	writeFile(t, p("issuing.pem"), ca.IssuingPEM(), 0o644)
	if out, err := runTool(t, "openssl", "ts", "-query", "-data", p("data"), "-sha256", "-cert", "-out", p("req.tsq")); err != nil {
		t.Fatalf("openssl ts -query: %v\n%s", err, out)
	}
	reqDER, err := os.ReadFile(p("req.tsq"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(srv.URL, "application/timestamp-query", bytes.NewReader(reqDER))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/timestamp-reply" {
		t.Fatalf("POST /tsa: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	writeFile(t, p("resp.tsr"), body, 0o644)
	out, err := runTool(t, "openssl", "ts", "-verify", "-in", p("resp.tsr"), "-queryfile", p("req.tsq"),
		"-CAfile", p("root.pem"), "-untrusted", p("issuing.pem"))
	if err != nil {
		t.Fatalf("openssl ts -verify: %v\n%s", err, out)
	}
	mustContain(t, "openssl ts -verify", out, "Verification: OK")
	// and with the data itself rather than the query
	out, err = runTool(t, "openssl", "ts", "-verify", "-in", p("resp.tsr"), "-data", p("data"), "-CAfile", p("root.pem"))
	if err != nil {
		t.Fatalf("openssl ts -verify -data: %v\n%s", err, out)
	}
	mustContain(t, "openssl ts -verify -data", out, "Verification: OK")
	// other data fails
	writeFile(t, p("other"), []byte("something else"), 0o644)
	if out, err := runTool(t, "openssl", "ts", "-verify", "-in", p("resp.tsr"), "-data", p("other"), "-CAfile", p("root.pem")); err == nil {
		t.Fatalf("openssl ts -verify accepted other data:\n%s", out)
	}

	// The HTTP face refuses what is not a time-stamp query.
	for _, tc := range []struct {
		method, ct string
		want       int
	}{
		{http.MethodGet, "", http.StatusMethodNotAllowed},
		{http.MethodPost, "application/json", http.StatusUnsupportedMediaType},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL, bytes.NewReader(reqDER))
		if tc.ct != "" {
			req.Header.Set("Content-Type", tc.ct)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s: %d, want %d", tc.method, tc.ct, resp.StatusCode, tc.want)
		}
	}
}

// The responder answers for the TSA's certificate once told of it (it is
// not a seal, so the registry does not hold it), at its OCSP address and
// for embedding, and never for a certificate of another CA.
func TestVouchForTSA(t *testing.T) {
	ca := newTestCA(t, time.Now())
	tsa := newTestTSA(t, ca, nil)
	rsp, err := NewResponder(ca, newFakeSource(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := ocspAsk(t, rsp, ca, tsa.Certificate(), crypto.SHA256); r.Status != ocsp.Unknown {
		t.Errorf("before Vouch: status %d, want unknown", r.Status)
	}
	if _, err := rsp.VouchedOCSP(tsa.Certificate()); err == nil {
		t.Error("VouchedOCSP answered for a certificate nobody vouched for")
	}
	rsp.Vouch(tsa.Certificate(), newTestTSA(t, newTestCA(t, time.Now()), nil).Certificate())
	if r := ocspAsk(t, rsp, ca, tsa.Certificate(), crypto.SHA256); r.Status != ocsp.Good {
		t.Errorf("after Vouch: status %d, want good", r.Status)
	}
	der, err := rsp.VouchedOCSP(tsa.Certificate())
	if err != nil {
		t.Fatal(err)
	}
	if r, err := ocsp.ParseResponseForCert(der, tsa.Certificate(), ca.Issuing()); err != nil || r.Status != ocsp.Good {
		t.Errorf("embedded answer: %v %v", r, err)
	}
	if len(tsa.Certificate().OCSPServer) != 1 || tsa.Certificate().OCSPServer[0] != testBase+PathOCSP {
		t.Errorf("TSA certificate OCSP address %v", tsa.Certificate().OCSPServer)
	}
}

// Only a TSA certificate dates documents: one under the platform root
// without the critical timeStamping-only EKU (which Go's chain check
// lets pass for any usage) is refused.
func TestTokenNeedsATSACertificate(t *testing.T) {
	ca := newTestCA(t, time.Now())
	trust := TimestampTrust{Roots: []*x509.Certificate{ca.Root()}, Intermediates: []*x509.Certificate{ca.Issuing()}}
	msg := []byte("signature value")
	sum := sha256.Sum256(msg)
	for _, tc := range []struct {
		name string
		edit func(*x509.Certificate)
	}{
		{"no extended key usage", func(*x509.Certificate) {}},
		{"any extended key usage", func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageAny} }},
		{"timeStamping, not critical", func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping} }},
		{"timeStamping and more", func(c *x509.Certificate) {
			c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping, x509.ExtKeyUsageEmailProtection}
		}},
	} {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: randomSerial(), Subject: pkix.Name{CommonName: "not a TSA"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
		tc.edit(tmpl)
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Issuing(), key.Public(), ca.key)
		if err != nil {
			t.Fatal(err)
		}
		cert, _ := x509.ParseCertificate(der)
		ts := timestamp.Timestamp{HashAlgorithm: crypto.SHA256, HashedMessage: sum[:], Time: time.Now().Add(-30 * time.Minute),
			Policy: TSAPolicy, AddTSACertificate: true}
		resp, err := ts.CreateResponseWithOpts(cert, key, crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := timestamp.ParseResponse(resp)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := CheckTimestampToken(parsed.RawToken, msg, trust); !errors.Is(err, ErrTimestampChain) {
			t.Errorf("%s: %v, want ErrTimestampChain", tc.name, err)
		}
	}
}
