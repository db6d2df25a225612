package keys

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/certseal/certseal/registry"
)

// pkiRouter mounts the handlers the way the service's router does, without
// cleaning paths (base64 in an OCSP GET may hold "//").
func pkiRouter(r *Responder) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch p := req.URL.Path; {
		case p == PathRoot:
			r.HandleRoot()(w, req)
		case p == PathIssuing:
			r.HandleIssuing()(w, req)
		case p == PathCRL:
			r.HandleCRL()(w, req)
		case p == PathOCSP || strings.HasPrefix(p, PathOCSP+"/"):
			r.HandleOCSP()(w, req)
		default:
			http.NotFound(w, req)
		}
	})
}

func get(t *testing.T, url, wantType string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != wantType {
		t.Fatalf("GET %s: %s, %s, want 200 %s", url, resp.Status, resp.Header.Get("Content-Type"), wantType)
	}
	return body
}

// The whole revocation story as standard clients see it: openssl asks the
// OCSP address written in the seal certificate, checks the CRL, and verifies
// certificates against it.
func TestOpenSSLRevocation(t *testing.T) {
	now := time.Now()
	ca := newTestCA(t, now)
	km := newTestKeys(t)
	src := newFakeSource()
	rsp, err := NewResponder(ca, src, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(pkiRouter(rsp))
	defer srv.Close()

	unit2 := registry.Unit{ID: 8, Name: "威海职业学院", USCC: "12371000MB1234567X"}
	good := newSeal(t, ca, km, 1, testUnit, 1, ECDSAP256, now, srv.URL)
	bad := newSeal(t, ca, km, 2, unit2, 1, RSA2048, now, srv.URL)
	src.put(good)
	src.put(bad)

	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	if der := get(t, srv.URL+PathRoot, "application/pkix-cert"); !bytes.Equal(der, ca.Root().Raw) {
		t.Fatal("/pki/root.crt is not the root certificate")
	}
	if der := get(t, srv.URL+PathIssuing, "application/pkix-cert"); !bytes.Equal(der, ca.Issuing().Raw) {
		t.Fatal("/pki/issuing.crt is not the issuing certificate")
	}
	writeFile(t, p("root.pem"), ca.RootPEM(), 0o644)
	writeFile(t, p("issuing.pem"), ca.IssuingPEM(), 0o644)
	writeFile(t, p("chain.pem"), append(ca.IssuingPEM(), ca.RootPEM()...), 0o644)
	writeFile(t, p("good.pem"), pemCert(good.CertDER), 0o644)
	writeFile(t, p("bad.pem"), pemCert(bad.CertDER), 0o644)

	// openssl sends a nonce and checks that the answer echoes it; an
	// answer to a nonce is never the cached one, so the cache is seen
	// with -no_nonce.
	ocspAsk := func(name string, seal registry.Seal, extra ...string) string {
		t.Helper()
		ocspURL := mustParse(t, seal.CertDER).OCSPServer[0] // the address validators read from the certificate
		out, err := runTool(t, "openssl", append([]string{"ocsp", "-issuer", p("issuing.pem"), "-cert", p(name), "-url", ocspURL,
			"-CAfile", p("root.pem")}, extra...)...)
		if err != nil {
			t.Fatalf("openssl ocsp: %v\n%s", err, out)
		}
		mustContain(t, "openssl ocsp", out, "Response verify OK")
		if strings.Contains(out, "nonce") || strings.Contains(out, "Nonce") {
			t.Errorf("openssl ocsp complains about the nonce:\n%s", out)
		}
		return out
	}
	ocspStatus := func(name string, seal registry.Seal) string { return ocspAsk(name, seal) }
	mustContain(t, "cached OCSP for the seal", ocspAsk("bad.pem", bad, "-no_nonce"), p("bad.pem")+": good")
	mustContain(t, "OCSP for the good seal", ocspStatus("good.pem", good), p("good.pem")+": good")
	mustContain(t, "OCSP for the seal before revocation", ocspStatus("bad.pem", bad), p("bad.pem")+": good")

	revokedAt := time.Now().Truncate(time.Second)
	suspected := revokedAt.Add(-48 * time.Hour)
	src.update(t, bad.Serial, func(s *registry.Seal) error {
		return registry.RevokeSeal(s, registry.ReasonKeyCompromise, &suspected, revokedAt)
	})
	// Answers are cached until told of the change...
	mustContain(t, "cached OCSP before Invalidate", ocspAsk("bad.pem", bad, "-no_nonce"), p("bad.pem")+": good")
	rsp.Invalidate()
	// ...and after it they say revoked, with the reason and time.
	out := ocspStatus("bad.pem", bad)
	mustContain(t, "OCSP after revocation", out, p("bad.pem")+": revoked", "Reason: keyCompromise",
		"Revocation Time: "+revokedAt.UTC().Format("Jan _2 15:04:05 2006 GMT"))
	mustContain(t, "OCSP for the good seal after another's revocation", ocspStatus("good.pem", good), p("good.pem")+": good")

	crl := get(t, srv.URL+PathCRL, "application/pkix-crl")
	writeFile(t, p("crl.der"), crl, 0o644)
	out, err = runTool(t, "openssl", "crl", "-inform", "DER", "-in", p("crl.der"), "-CAfile", p("chain.pem"), "-noout")
	if err != nil || !strings.Contains(out, "verify OK") {
		t.Fatalf("openssl crl does not verify the CRL: %v\n%s", err, out)
	}
	out, err = runTool(t, "openssl", "crl", "-inform", "DER", "-in", p("crl.der"), "-noout", "-text")
	if err != nil {
		t.Fatalf("openssl crl -text: %v\n%s", err, out)
	}
	mustContain(t, "openssl crl -text", out, "Serial Number: "+strings.ToUpper(bad.Serial), "Key Compromise",
		"Invalidity Date", suspected.UTC().Format("Jan _2 15:04:05 2006 GMT"), "X509v3 CRL Number", "Next Update")
	if strings.Contains(out, strings.ToUpper(good.Serial)) {
		t.Errorf("the CRL lists the good seal:\n%s", out)
	}

	if out, err := runTool(t, "openssl", "crl", "-inform", "DER", "-in", p("crl.der"), "-out", p("crl.pem")); err != nil {
		t.Fatalf("openssl crl -out: %v\n%s", err, out)
	}
	verify := func(name string) (string, error) {
		return runTool(t, "openssl", "verify", "-crl_check", "-CAfile", p("root.pem"), "-untrusted", p("issuing.pem"),
			"-CRLfile", p("crl.pem"), p(name))
	}
	if out, err := verify("bad.pem"); err == nil || !strings.Contains(out, "certificate revoked") {
		t.Errorf("openssl verify -crl_check accepts the revoked seal certificate (%v):\n%s", err, out)
	}
	if out, err := verify("good.pem"); err != nil || !strings.Contains(out, "good.pem: OK") {
		t.Errorf("openssl verify -crl_check refuses the good seal certificate (%v):\n%s", err, out)
	}
}

func crlOf(t *testing.T, r *Responder) (*x509.RevocationList, []byte) {
	t.Helper()
	der, err := r.CRL(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	return crl, der
}

func TestCRL(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	clk := &clock{t: now}
	ca := newTestCA(t, now)
	km := newTestKeys(t)
	var seals []registry.Seal
	for i := range 4 {
		seals = append(seals, newSeal(t, ca, km, int64(i+1), testUnit, i+1, ECDSAP256, now, testBase))
	}
	foreign := newSeal(t, newTestCA(t, now), km, 9, testUnit, 9, ECDSAP256, now, testBase)
	src := newFakeSource(append(seals, foreign)...)
	rsp, err := NewResponder(ca, src, nil, clk.Now)
	if err != nil {
		t.Fatal(err)
	}

	empty, der1 := crlOf(t, rsp)
	if len(empty.RevokedCertificateEntries) != 0 || empty.CheckSignatureFrom(ca.Issuing()) != nil {
		t.Fatal("the first CRL is not an empty CRL signed by the issuing CA")
	}
	if !empty.ThisUpdate.Equal(now) || !empty.NextUpdate.Equal(now.Add(24*time.Hour)) {
		t.Errorf("CRL thisUpdate %s nextUpdate %s, want now and now+24h", empty.ThisUpdate, empty.NextUpdate)
	}

	clk.Advance(time.Minute)
	at := clk.Now()
	suspected := at.Add(-time.Hour)
	revoke := func(i int, reason registry.RevocationReason, inv *time.Time) {
		src.update(t, seals[i].Serial, func(s *registry.Seal) error { return registry.RevokeSeal(s, reason, inv, at) })
	}
	revoke(0, registry.ReasonKeyCompromise, &suspected)
	revoke(1, registry.ReasonCessationOfOperation, nil)
	revoke(2, registry.ReasonUnspecified, nil)
	src.update(t, seals[3].Serial, func(s *registry.Seal) error { return registry.SupersedeSeal(s, at) })
	src.update(t, foreign.Serial, func(s *registry.Seal) error { return registry.RevokeSeal(s, registry.ReasonSuperseded, nil, at) })
	if _, der := crlOf(t, rsp); !bytes.Equal(der, der1) {
		t.Fatal("CRL re-signed without Invalidate or refresh time")
	}
	rsp.Invalidate()
	crl, der2 := crlOf(t, rsp)
	if crl.Number.Cmp(empty.Number) <= 0 {
		t.Errorf("CRL number %s after a revocation, not above %s", crl.Number, empty.Number)
	}
	want := map[string]struct {
		reason      int
		invalidity  bool
		description string
	}{
		seals[0].Serial: {1, true, "keyCompromise with invalidity date"},
		seals[1].Serial: {5, false, "cessationOfOperation"},
		seals[2].Serial: {0, false, "unspecified, which RFC 5280 says to leave out"},
	}
	if len(crl.RevokedCertificateEntries) != len(want) {
		t.Errorf("CRL has %d entries, want %d (superseded seals and other CAs' certificates are not listed)", len(crl.RevokedCertificateEntries), len(want))
	}
	for _, e := range crl.RevokedCertificateEntries {
		w, ok := want[SerialHex(e.SerialNumber)]
		if !ok {
			t.Errorf("CRL lists serial %s", SerialHex(e.SerialNumber))
			continue
		}
		var inv time.Time
		var hasReasonExt bool
		for _, ext := range e.Extensions {
			switch {
			case ext.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 24}):
				if _, err := asn1.UnmarshalWithParams(ext.Value, &inv, "generalized"); err != nil {
					t.Errorf("%s: invalidity date: %v", w.description, err)
				}
			case ext.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 21}):
				hasReasonExt = true
			}
		}
		if e.ReasonCode != w.reason || hasReasonExt != (w.reason != 0) || !e.RevocationTime.Equal(at) {
			t.Errorf("%s: reason %d (extension %v) at %s", w.description, e.ReasonCode, hasReasonExt, e.RevocationTime)
		}
		if w.invalidity != !inv.IsZero() || (w.invalidity && !inv.Equal(suspected)) {
			t.Errorf("%s: invalidity date %s", w.description, inv)
		}
	}

	// Refreshed halfway to nextUpdate, with a higher number.
	clk.Advance(13 * time.Hour)
	later, der3 := crlOf(t, rsp)
	if bytes.Equal(der3, der2) || later.Number.Cmp(crl.Number) <= 0 || !later.ThisUpdate.After(crl.ThisUpdate) {
		t.Errorf("CRL after 13 hours: number %s (was %s), thisUpdate %s", later.Number, crl.Number, later.ThisUpdate)
	}

	// A restarted responder, or a replica whose clock lags an hour, still
	// numbers its CRL above every CRL signed before the revocation.
	lagging := &clock{t: now.Add(-time.Hour)}
	replica, err := NewResponder(ca, src, nil, lagging.Now)
	if err != nil {
		t.Fatal(err)
	}
	if other, _ := crlOf(t, replica); other.Number.Cmp(empty.Number) <= 0 {
		t.Errorf("lagging replica's CRL number %s is not above %s, signed before the revocation", other.Number, empty.Number)
	}

	src.fail(registry.Errf(registry.CodeUnavailable, "database down"))
	rsp.Invalidate()
	if _, err := rsp.CRL(context.Background()); !errors.Is(err, registry.ErrUnavailable) {
		t.Errorf("CRL with the store down: %v", err)
	}
}

// ocspAsk asks r about cert and parses the signed answer.
func ocspAsk(t *testing.T, r *Responder, ca *CA, cert *x509.Certificate, h crypto.Hash) *ocsp.Response {
	t.Helper()
	req, err := ocsp.CreateRequest(cert, ca.Issuing(), &ocsp.RequestOptions{Hash: h})
	if err != nil {
		t.Fatal(err)
	}
	der, signed := r.ocspResponse(context.Background(), req)
	if !signed {
		t.Fatalf("unsigned OCSP answer %x", der)
	}
	resp, err := ocsp.ParseResponseForCert(der, cert, ca.Issuing())
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestOCSP(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	clk := &clock{t: now}
	logger, logs := newLogger()
	ca := newTestCA(t, now)
	km := newTestKeys(t)
	seal := newSeal(t, ca, km, 1, testUnit, 1, ECDSAP256, now, testBase)
	retired := newSeal(t, ca, km, 2, testUnit, 2, ECDSAP256, now, testBase)
	retired.State = registry.SealSuperseded
	stranger := mustParse(t, newSeal(t, ca, km, 3, testUnit, 3, ECDSAP256, now, testBase).CertDER) // never recorded
	otherCA := newTestCA(t, now)
	foreign := newSeal(t, otherCA, km, 4, testUnit, 4, ECDSAP256, now, testBase)
	src := newFakeSource(seal, retired, foreign)
	rsp, err := NewResponder(ca, src, logger, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	cert := mustParse(t, seal.CertDER)

	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
		r := ocspAsk(t, rsp, ca, cert, h)
		// thisUpdate keeps its seconds and equals producedAt (see ocsp.go).
		if r.Status != ocsp.Good || r.IssuerHash != h || !r.ThisUpdate.Equal(now) ||
			!r.NextUpdate.Equal(now.Add(24*time.Hour)) || !r.ProducedAt.Equal(r.ThisUpdate) {
			t.Errorf("%v: status %d, hash %v, %s..%s", h, r.Status, r.IssuerHash, r.ThisUpdate, r.NextUpdate)
		}
	}
	lookups := src.lookupCount()
	ocspAsk(t, rsp, ca, cert, crypto.SHA1)
	if src.lookupCount() != lookups {
		t.Error("a repeated OCSP request went to the store instead of the cache")
	}
	if r := ocspAsk(t, rsp, ca, mustParse(t, retired.CertDER), crypto.SHA1); r.Status != ocsp.Good {
		t.Errorf("superseded seal: status %d, want good (what it signed stays valid)", r.Status)
	}
	for _, c := range []struct {
		name string
		cert *x509.Certificate
	}{{"unrecorded serial", stranger}} {
		before := src.lookupCount()
		for range 2 {
			if r := ocspAsk(t, rsp, ca, c.cert, crypto.SHA1); r.Status != ocsp.Unknown {
				t.Errorf("%s: status %d, want unknown", c.name, r.Status)
			}
		}
		if src.lookupCount() != before+2 {
			t.Errorf("%s: unknown answers were cached", c.name)
		}
	}
	// A serial recorded for a certificate of another CA, asked as if this
	// CA had issued it, is not this CA's to vouch for.
	forged := *mustParse(t, foreign.CertDER)
	forgedReq, _ := ocsp.CreateRequest(&forged, ca.Issuing(), nil)
	der, _ := rsp.ocspResponse(context.Background(), forgedReq)
	if r, err := ocsp.ParseResponse(der, ca.Issuing()); err != nil || r.Status != ocsp.Unknown {
		t.Errorf("serial of another CA's certificate: %v, want unknown", err)
	}

	at := now.Add(time.Minute)
	suspected := now.Add(-time.Hour)
	src.update(t, seal.Serial, func(s *registry.Seal) error {
		return registry.RevokeSeal(s, registry.ReasonKeyCompromise, &suspected, at)
	})
	if r := ocspAsk(t, rsp, ca, cert, crypto.SHA256); r.Status != ocsp.Good {
		t.Error("cached answer changed before Invalidate")
	}
	rsp.Invalidate()
	r := ocspAsk(t, rsp, ca, cert, crypto.SHA256)
	if r.Status != ocsp.Revoked || !r.RevokedAt.Equal(at) || r.RevocationReason != ocsp.KeyCompromise {
		t.Errorf("after revocation: status %d at %s reason %d", r.Status, r.RevokedAt, r.RevocationReason)
	}
	var inv time.Time
	for _, ext := range r.Extensions {
		if ext.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 24}) {
			asn1.UnmarshalWithParams(ext.Value, &inv, "generalized")
		}
	}
	if !inv.Equal(suspected) {
		t.Errorf("OCSP invalidity date %s, want %s", inv, suspected)
	}

	// Cached answers are re-signed halfway to their nextUpdate.
	lookups = src.lookupCount()
	clk.Advance(13 * time.Hour)
	if r := ocspAsk(t, rsp, ca, cert, crypto.SHA256); src.lookupCount() != lookups+1 || !r.ThisUpdate.Equal(clk.Now()) {
		t.Error("an OCSP answer past its refresh time was served from the cache")
	}

	errorStatus := func(der []byte) ocsp.ResponseStatus {
		var re ocsp.ResponseError
		if _, err := ocsp.ParseResponse(der, nil); !errors.As(err, &re) {
			t.Fatalf("want an OCSP error status, got %v", err)
		}
		return re.Status
	}
	otherReq, _ := ocsp.CreateRequest(mustParse(t, foreign.CertDER), otherCA.Issuing(), nil)
	rsp.Invalidate()
	src.fail(errors.New("database down"))
	for _, tt := range []struct {
		name string
		req  []byte
		want ocsp.ResponseStatus
	}{
		{"garbage", []byte("hello"), ocsp.Malformed},
		{"empty", nil, ocsp.Malformed},
		{"another issuer", otherReq, ocsp.Unauthorized},
		{"store down", forgedReq, ocsp.TryLater},
	} {
		der, signed := rsp.ocspResponse(context.Background(), tt.req)
		if got := errorStatus(der); signed || got != tt.want {
			t.Errorf("%s: status %v (signed %v), want %v", tt.name, got, signed, tt.want)
		}
	}
	mustContain(t, "log", logs.String(), "level=ERROR", "OCSP response failed", "database down")
}

func TestOCSPHTTP(t *testing.T) {
	now := time.Now()
	logger, logs := newLogger()
	ca := newTestCA(t, now)
	seal := newSeal(t, ca, newTestKeys(t), 1, testUnit, 1, ECDSAP256, now, testBase)
	src := newFakeSource(seal)
	rsp, err := NewResponder(ca, src, logger, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(pkiRouter(rsp))
	defer srv.Close()
	cert := mustParse(t, seal.CertDER)
	reqDER, err := ocsp.CreateRequest(cert, ca.Issuing(), nil)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(reqDER)

	tests := []struct {
		name, method, path, ctype string
		body                      []byte
		status                    int
		ocspOK                    bool   // a signed answer saying good
		cache                     string // Cache-Control wanted
	}{
		{"POST", "POST", PathOCSP, "application/ocsp-request", reqDER, 200, true, ""},
		{"POST without content type", "POST", PathOCSP, "", reqDER, 200, true, ""},
		{"POST of another type", "POST", PathOCSP, "text/plain", reqDER, 415, false, ""},
		{"POST too large", "POST", PathOCSP, "application/ocsp-request", make([]byte, maxOCSPRequest+1), 413, false, ""},
		{"GET url-escaped", "GET", PathOCSP + "/" + url.PathEscape(b64), "", nil, 200, true, revocationMaxAge},
		{"GET url-safe unpadded", "GET", PathOCSP + "/" + base64.RawURLEncoding.EncodeToString(reqDER), "", nil, 200, true, revocationMaxAge},
		{"GET not base64", "GET", PathOCSP + "/%21%21%21", "", nil, 200, false, ""},
		{"GET nothing", "GET", PathOCSP, "", nil, 200, false, ""},
		{"PUT", "PUT", PathOCSP, "", reqDER, 405, false, ""},
		{"POST CRL", "POST", PathCRL, "", nil, 405, false, ""},
		{"DELETE root", "DELETE", PathRoot, "", nil, 405, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.ctype != "" {
				req.Header.Set("Content-Type", tt.ctype)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %s, want %d", resp.Status, tt.status)
			}
			if tt.status == 405 && resp.Header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
			if got := resp.Header.Get("Cache-Control"); got != tt.cache {
				t.Errorf("Cache-Control %q, want %q", got, tt.cache)
			}
			if tt.status != 200 {
				return
			}
			if resp.Header.Get("Content-Type") != "application/ocsp-response" {
				t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
			}
			r, err := ocsp.ParseResponseForCert(body, cert, ca.Issuing())
			if tt.ocspOK != (err == nil && r.Status == ocsp.Good) {
				t.Errorf("answer %v (err %v), want good: %v", r, err, tt.ocspOK)
			}
		})
	}

	src.fail(errors.New("database down"))
	resp, err := http.Get(srv.URL + PathCRL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("CRL with the store down: %s, want 503", resp.Status)
	}
	mustContain(t, "log", logs.String(), "CRL unavailable", "database down")
}

// A GET request whose base64 holds "/" and "+" decodes whether or not the
// client escaped them.
func TestOCSPFromPath(t *testing.T) {
	der := []byte{0xfb, 0xff, 0xbf, 0x3e, 0x00, 0x01} // base64 "+/+/PgAB"
	for _, path := range []string{
		"/pki/ocsp/+/+/PgAB",
		"/pki/ocsp/%2B%2F%2B%2FPgAB",
		"/pki/ocsp/-_-_PgAB",
		"/prefix/pki/ocsp/+/+/PgAB==",
	} {
		if got := ocspFromPath(path); !bytes.Equal(got, der) {
			t.Errorf("ocspFromPath(%q) = %x, want %x", path, got, der)
		}
	}
	for _, path := range []string{"/pki/ocsp", "/pki/ocsp/%zz", "/pki/ocsp/!!"} {
		if got := ocspFromPath(path); got != nil {
			t.Errorf("ocspFromPath(%q) = %x, want nil", path, got)
		}
	}
}

// A revocation that commits while an answer is being built must not leave
// that stale answer in the cache.
func TestInvalidateDuringBuild(t *testing.T) {
	now := time.Now()
	ca := newTestCA(t, now)
	seal := newSeal(t, ca, newTestKeys(t), 1, testUnit, 1, ECDSAP256, now, testBase)
	src := newFakeSource(seal)
	rsp, err := NewResponder(ca, src, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cert := mustParse(t, seal.CertDER)
	// Invalidate after the build began and before the store answers.
	src.during = rsp.Invalidate
	ocspAsk(t, rsp, ca, cert, crypto.SHA1)
	lookups := src.lookupCount()
	ocspAsk(t, rsp, ca, cert, crypto.SHA1)
	if src.lookupCount() != lookups+1 {
		t.Error("an OCSP answer built across an Invalidate was cached")
	}

	src.during = rsp.Invalidate
	crlOf(t, rsp)
	rebuilt := false
	src.during = func() { rebuilt = true }
	crlOf(t, rsp)
	if !rebuilt {
		t.Error("a CRL built across an Invalidate was cached")
	}
	// Without a racing Invalidate the CRL is cached.
	src.during = func() { t.Error("a cached CRL was rebuilt") }
	crlOf(t, rsp)
	src.during = nil
}

// Many readers, revocations and invalidations at once (for -race); once the
// last Invalidate is done, every answer tells the final state.
func TestResponderConcurrent(t *testing.T) {
	now := time.Now()
	ca := newTestCA(t, now)
	km := newTestKeys(t)
	var seals []registry.Seal
	for i := range 4 {
		seals = append(seals, newSeal(t, ca, km, int64(i+1), testUnit, i+1, ECDSAP256, now, testBase))
	}
	src := newFakeSource(seals...)
	rsp, err := NewResponder(ca, src, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	reqs := make([][]byte, len(seals))
	for i, s := range seals {
		reqs[i] = ocspRequestFor(t, ca, s)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				rsp.ocspResponse(context.Background(), reqs[(g+i)%len(reqs)])
				if i%10 == 0 {
					rsp.CRL(context.Background())
				}
			}
		})
	}
	for _, s := range seals {
		src.update(t, s.Serial, func(s *registry.Seal) error {
			return registry.RevokeSeal(s, registry.ReasonCessationOfOperation, nil, time.Now())
		})
		rsp.Invalidate()
	}
	wg.Wait()
	for _, s := range seals {
		if r := ocspAsk(t, rsp, ca, mustParse(t, s.CertDER), crypto.SHA1); r.Status != ocsp.Revoked {
			t.Errorf("seal %d: status %d after revocation, want revoked", s.ID, r.Status)
		}
	}
	if crl, _ := crlOf(t, rsp); len(crl.RevokedCertificateEntries) != len(seals) {
		t.Errorf("CRL lists %d seals, want %d", len(crl.RevokedCertificateEntries), len(seals))
	}
}

// The validity of CRLs and OCSP answers is the operator's setting, and an
// answer to a request with a nonce is made for it alone.
func TestRevocationValidityAndNonce(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	clk := &clock{t: now}
	ca := newTestCA(t, now)
	seal := newSeal(t, ca, newTestKeys(t), 1, testUnit, 1, ECDSAP256, now, testBase)
	src := newFakeSource(seal)
	rsp, err := NewResponder(ca, src, nil, clk.Now)
	if err != nil {
		t.Fatal(err)
	}
	rsp.WithValidity(6*time.Hour, 2*time.Hour)
	crl, _ := crlOf(t, rsp)
	if got := crl.NextUpdate.Sub(crl.ThisUpdate); got != 6*time.Hour {
		t.Errorf("CRL runs %v, want 6h", got)
	}
	cert := mustParse(t, seal.CertDER)
	r := ocspAsk(t, rsp, ca, cert, crypto.SHA256)
	if got := r.NextUpdate.Sub(r.ThisUpdate); got != 2*time.Hour {
		t.Errorf("OCSP answer runs %v, want 2h", got)
	}
	clk.Advance(61 * time.Minute) // past half of 2h: re-signed
	if r2 := ocspAsk(t, rsp, ca, cert, crypto.SHA256); !r2.ThisUpdate.After(r.ThisUpdate) {
		t.Error("the OCSP answer was not re-signed after half its validity")
	}

	// A request with a nonce gets it back in the response extensions, and
	// two such requests get two answers (never one from the cache).
	withNonce := func(nonce byte) []byte {
		t.Helper()
		plain := ocspRequestFor(t, ca, seal)
		// Re-encode the request with a nonce extension: x/crypto cannot.
		var raw struct{ TBS asn1.RawValue }
		if _, err := asn1.Unmarshal(plain, &raw); err != nil {
			t.Fatal(err)
		}
		var tbs struct{ List asn1.RawValue }
		if _, err := asn1.Unmarshal(raw.TBS.FullBytes, &tbs); err != nil {
			t.Fatal(err)
		}
		val, _ := asn1.Marshal([]byte{nonce, 2, 3, 4, 5, 6, 7, 8})
		type tbsReq struct {
			List asn1.RawValue
			Exts []pkix.Extension `asn1:"explicit,tag:2"`
		}
		type ocspReq struct{ TBS tbsReq }
		der, err := asn1.Marshal(ocspReq{tbsReq{tbs.List, []pkix.Extension{{Id: oidOCSPNonce, Value: val}}}})
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	echoed := func(resp []byte) []byte {
		t.Helper()
		parsed, err := ocsp.ParseResponse(resp, ca.Issuing())
		if err != nil {
			t.Fatal(err)
		}
		var basic struct {
			TBS struct {
				Version    int `asn1:"optional,explicit,default:0,tag:0"`
				Responder  asn1.RawValue
				ProducedAt time.Time `asn1:"generalized"`
				Responses  asn1.RawValue
				Exts       []pkix.Extension `asn1:"explicit,tag:1,optional"`
			}
		}
		if _, err := asn1.Unmarshal(parsed.TBSResponseData, &basic.TBS); err != nil {
			t.Fatal(err)
		}
		for _, e := range basic.TBS.Exts {
			if e.Id.Equal(oidOCSPNonce) {
				return e.Value
			}
		}
		return nil
	}
	a, _ := rsp.ocspResponse(context.Background(), withNonce(1))
	b, _ := rsp.ocspResponse(context.Background(), withNonce(9))
	want1, _ := asn1.Marshal([]byte{1, 2, 3, 4, 5, 6, 7, 8})
	if got := echoed(a); !bytes.Equal(got, want1) {
		t.Errorf("nonce echoed as %x, want %x", got, want1)
	}
	if bytes.Equal(echoed(a), echoed(b)) {
		t.Error("two nonces got one answer")
	}
	if got := echoed(mustOCSP(t, rsp, ocspRequestFor(t, ca, seal))); got != nil {
		t.Errorf("an answer without a nonce asked carries %x", got)
	}
}

func mustOCSP(t *testing.T, r *Responder, req []byte) []byte {
	t.Helper()
	der, signed := r.ocspResponse(context.Background(), req)
	if !signed {
		t.Fatal("unsigned OCSP answer")
	}
	return der
}
