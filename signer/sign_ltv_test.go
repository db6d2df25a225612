package signer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/pdf"
	"github.com/digitorus/pkcs7"
	"github.com/digitorus/timestamp"
	"golang.org/x/crypto/ocsp"

	"github.com/certseal/certseal/internal/testenv"
	"github.com/certseal/certseal/keys"
	"github.com/certseal/certseal/registry"
)

// ltvPKI is the platform's real trust material from package keys: the
// development CA, the TSA, a seal, and the responder serving the seal's
// OCSP and CRL addresses.
type ltvPKI struct {
	ca    *keys.CA
	tsa   *keys.TSA
	rsp   *keys.Responder
	seal  registry.Seal
	km    *keys.SoftwareKeys
	srv   *httptest.Server
	trust keys.TimestampTrust
}

type sealSource struct{ seal *registry.Seal }

func (s sealSource) RevokedSeals(context.Context) ([]registry.Seal, error) {
	if s.seal.State == registry.SealRevoked {
		return []registry.Seal{*s.seal}, nil
	}
	return nil, nil
}

func (s sealSource) SealBySerial(_ context.Context, serial string) (registry.Seal, error) {
	if serial != s.seal.Serial {
		return registry.Seal{}, registry.ErrNotFound
	}
	return *s.seal, nil
}

func newLTVPKI(t testing.TB) *ltvPKI {
	t.Helper()
	now := time.Now()
	dir := t.TempDir()
	p := &ltvPKI{}
	mux := http.NewServeMux()
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	var err error
	if p.ca, err = keys.LoadOrCreateDevCA(filepath.Join(dir, "pki"), nil, now); err != nil {
		t.Fatal(err)
	}
	if p.tsa, err = keys.OpenTSA(filepath.Join(dir, "tsa.crt"), filepath.Join(dir, "tsa.key"), p.ca, p.srv.URL, true, nil, nil); err != nil {
		t.Fatal(err)
	}
	kek, err := keys.LoadOrCreateKEK(filepath.Join(dir, "kek"), nil)
	if err != nil {
		t.Fatal(err)
	}
	p.km = keys.NewSoftwareKeys(kek)
	unit := registry.Unit{ID: 1, Name: "威海示范大学", USCC: testUSCC}
	pub, blob, err := p.km.GenerateSealKey(context.Background(), keys.ECDSAP256, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	der, serial, err := p.ca.IssueSealCert(unit, 1, pub, now, p.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	p.seal = registry.Seal{ID: 1, UnitID: 1, Version: 1, State: registry.SealActive, KeyBlob: blob, CertDER: der, Serial: serial, ImprintPNG: readTestdata(t, "seal.png")}
	if p.rsp, err = keys.NewResponder(p.ca, sealSource{&p.seal}, nil, nil); err != nil {
		t.Fatal(err)
	}
	p.rsp.Vouch(p.tsa.Certificate())
	mux.Handle(keys.PathOCSP, p.rsp.HandleOCSP())
	mux.Handle(keys.PathOCSP+"/", p.rsp.HandleOCSP())
	mux.Handle(keys.PathCRL, p.rsp.HandleCRL())
	mux.Handle(keys.PathIssuing, p.rsp.HandleIssuing())
	p.trust = keys.TimestampTrust{Roots: []*x509.Certificate{p.ca.Root()}}
	return p
}

// sign signs a rendered certificate as the Issuer does: timestamp and DSS.
func (p *ltvPKI) sign(t testing.TB, r *Renderer) Signed {
	t.Helper()
	unsigned, err := r.Render(testDocument(t))
	if err != nil {
		t.Fatal(err)
	}
	is := NewIssuer(IssuerDeps{Keys: p.km, Chains: p.ca, Renderer: r, TSA: p.tsa, TSATrust: p.trust,
		TSACerts: []*x509.Certificate{p.tsa.Certificate()}, Revocation: p.rsp, Now: time.Now})
	signed, err := is.sign(context.Background(), unsigned, stamp{seal: p.seal, uscc: testUSCC}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// The signature's timestamp as outside tools see it: pdfsig dumps the CMS,
// openssl finds the token in it and verifies it over the signature value
// against the platform root.
func TestSignatureTimestamp(t *testing.T) {
	pdfsig := testenv.Tool(t, "pdfsig")
	openssl := testenv.Tool(t, "openssl")
	p := newLTVPKI(t)
	signed := p.sign(t, testRenderer(t))
	dir := t.TempDir()
	file := filepath.Join(dir, "cert.pdf")
	if err := os.WriteFile(file, signed.PDF, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(pdfsig, "-dump", file)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pdfsig -dump: %v\n%s", err, out)
	}
	cmsFile := filepath.Join(dir, "cert.pdf.sig0")
	out := run(t, openssl, "cms", "-cmsout", "-print", "-inform", "DER", "-in", cmsFile)
	if !strings.Contains(out, "id-smime-aa-timeStampToken") {
		t.Fatalf("openssl finds no timestamp token in the CMS:\n%.2000s", out)
	}
	cmsDER, err := os.ReadFile(cmsFile)
	if err != nil {
		t.Fatal(err)
	}
	p7, err := pkcs7.Parse(trimZeros(t, cmsDER))
	if err != nil {
		t.Fatal(err)
	}
	var token []byte
	for _, a := range p7.Signers[0].UnauthenticatedAttributes {
		if a.Type.Equal(asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 14}) {
			token = a.Value.Bytes
		}
	}
	tokenFile, rootFile := filepath.Join(dir, "token.der"), filepath.Join(dir, "root.pem")
	os.WriteFile(tokenFile, token, 0o600)
	os.WriteFile(rootFile, p.ca.RootPEM(), 0o600)
	sum := sha256.Sum256(p7.Signers[0].EncryptedDigest)
	out = run(t, openssl, "ts", "-verify", "-token_in", "-in", tokenFile, "-digest", hex.EncodeToString(sum[:]),
		"-CAfile", rootFile, "-untrusted", writePEM(t, dir, p.ca.IssuingPEM()))
	if !strings.Contains(out, "Verification: OK") {
		t.Fatalf("openssl ts -verify of the signature's token:\n%s", out)
	}
	text := run(t, openssl, "ts", "-reply", "-token_in", "-in", tokenFile, "-token_out", "-text")
	if !strings.Contains(text, "Policy OID: 0.4.0.2023.1.1") || !strings.Contains(text, "Time stamp:") {
		t.Errorf("openssl ts -reply -text:\n%s", text)
	}
	// pdfsig (poppler 22.12) has no line for a signature time-stamp; the
	// signing time it shows is the CMS one, which the token confirms to
	// the second.
	tokenTime := lineTime(t, text, `Time stamp: (.+ GMT)`, "Jan _2 15:04:05 2006 MST")
	cmd = exec.Command(pdfsig, "-nocert", file)
	cmd.Env = append(os.Environ(), "TZ=UTC") // pdfsig prints local time
	shownOut, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	shown := lineTime(t, string(shownOut), `Signing Time: (.+)`, "Jan 02 2006 15:04:05")
	if d := tokenTime.Sub(shown); d < 0 || d > 2*time.Second {
		t.Errorf("pdfsig shows signing time %v, the token proves %v", shown, tokenTime)
	}
}

func lineTime(t *testing.T, text, pattern, layout string) time.Time {
	t.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no %q in:\n%s", pattern, text)
	}
	at, err := time.Parse(layout, strings.TrimSpace(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	return at
}

// The DSS holds what an offline validator needs, and pdfsig, with the root
// trusted and no network (the responder stopped, -no-ocsp), still says the
// signature is valid and the certificate trusted; mutool and qpdf accept
// the file as before.
func TestLTVValidators(t *testing.T) {
	pdfsig := testenv.Tool(t, "pdfsig")
	mutool := testenv.Tool(t, "mutool")
	qpdf := testenv.Tool(t, "qpdf")
	testenv.Tool(t, "certutil")
	p := newLTVPKI(t)
	signed := p.sign(t, testRenderer(t))
	if err := checkSigned(signed.PDF, mustCert(t, p.seal.CertDER), true, p.trust); err != nil {
		t.Fatal(err)
	}

	rdr, err := pdf.NewReader(bytes.NewReader(signed.PDF), int64(len(signed.PDF)))
	if err != nil {
		t.Fatal(err)
	}
	dss := rdr.Trailer().Key("Root").Key("DSS")
	if dss.Key("Certs").Len() != 4 || dss.Key("OCSPs").Len() != 2 || dss.Key("CRLs").Len() != 0 {
		t.Fatalf("DSS: %d certs, %d OCSPs, %d CRLs; want 4 (seal, issuing, root, TSA), 2 (seal, TSA), 0",
			dss.Key("Certs").Len(), dss.Key("OCSPs").Len(), dss.Key("CRLs").Len())
	}
	answer, err := readStream(dss.Key("OCSPs").Index(0))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ocsp.ParseResponseForCert(answer, mustCert(t, p.seal.CertDER), p.ca.Issuing())
	if err != nil || resp.Status != ocsp.Good {
		t.Fatalf("the DSS's OCSP answer on the seal: %v, status %v", err, resp)
	}
	tsaAnswer, err := readStream(dss.Key("OCSPs").Index(1))
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := ocsp.ParseResponseForCert(tsaAnswer, p.tsa.Certificate(), p.ca.Issuing()); err != nil || resp.Status != ocsp.Good {
		t.Fatalf("the DSS's OCSP answer on the TSA: %v, status %v", err, resp)
	}

	nss := nssDBFor(t, p.ca.Root().Raw)
	file := filepath.Join(t.TempDir(), "cert.pdf")
	if err := os.WriteFile(file, signed.PDF, 0o600); err != nil {
		t.Fatal(err)
	}
	wants := []string{"Signature is Valid.", "Certificate is Trusted.", "Total document signed"}
	mustSay(t, "pdfsig with the responder up", run(t, pdfsig, "-nssdir", nss, file), wants...)
	p.srv.Close() // no network from here on
	mustSay(t, "pdfsig offline", run(t, pdfsig, "-nssdir", nss, "-no-ocsp", file), wants...)
	mustSay(t, "mutool", run(t, mutool, "sign", "-v", file), "The document is unchanged since signing.")
	mustSay(t, "qpdf --check", run(t, qpdf, "--check", file), "No syntax or stream encoding errors found")
}

func mustSay(t *testing.T, what, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("%s does not say %q:\n%s", what, w, out)
		}
	}
}

func readStream(v pdf.Value) ([]byte, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(v.Reader())
	return b.Bytes(), err
}

func trimZeros(t *testing.T, der []byte) []byte {
	t.Helper()
	var raw asn1.RawValue
	if _, err := asn1.Unmarshal(der, &raw); err != nil {
		t.Fatal(err)
	}
	return raw.FullBytes
}

func writePEM(t *testing.T, dir string, pem []byte) string {
	t.Helper()
	f := filepath.Join(dir, "issuing.pem")
	if err := os.WriteFile(f, pem, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func mustCert(t testing.TB, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A certificate signed before signatures carried a time-stamp gets one
// for the archive as an incremental update: the signed bytes stay first
// and unchanged, the seal's signature still verifies over them, and the
// document time-stamp covers the rest.
func TestAddDocumentTimestamp(t *testing.T) {
	pdfsig := testenv.Tool(t, "pdfsig")
	qpdf := testenv.Tool(t, "qpdf")
	p := newLTVPKI(t)
	r := testRenderer(t)
	unsigned, err := r.Render(testDocument(t))
	if err != nil {
		t.Fatal(err)
	}
	key, err := p.km.Signer(context.Background(), p.seal)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := p.ca.SealChain(p.seal.CertDER)
	if err != nil {
		t.Fatal(err)
	}
	old, err := Sign(context.Background(), unsigned, SealSigning{Signer: key, Certificate: chain[0], Chain: chain[1:], Time: time.Now(),
		Appearance: testAppearance(t), Rect: r.Template().SealRect(), USCC: testUSCC, SealVersion: 1}) // as before timestamps
	if err != nil {
		t.Fatal(err)
	}
	answer, err := p.rsp.SealOCSP(p.seal)
	if err != nil {
		t.Fatal(err)
	}
	dss := &DSS{OCSPs: [][]byte{answer}}
	for _, c := range chain {
		dss.Certs = append(dss.Certs, c.Raw)
	}
	stamped, err := AddDocumentTimestamp(context.Background(), old.PDF, p.tsa, dss, p.trust)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(stamped, old.PDF) {
		t.Fatal("the signed bytes changed")
	}
	if _, err := checkDocumentTimestamp(stamped, p.trust); err != nil {
		t.Fatal(err)
	}
	// A token from a TSA the archive does not trust is refused.
	other := newLTVPKI(t)
	if _, err := AddDocumentTimestamp(context.Background(), old.PDF, other.tsa, nil, p.trust); err == nil {
		t.Error("a document time-stamp of an untrusted TSA was accepted")
	}

	nss := nssDBFor(t, p.ca.Root().Raw)
	file := filepath.Join(t.TempDir(), "stamped.pdf")
	if err := os.WriteFile(file, stamped, 0o600); err != nil {
		t.Fatal(err)
	}
	// pdfsig (poppler 22.12) still finds the seal's signature valid and
	// trusted, and lists the time-stamp, which it does not check itself
	// ("Signature Type: unknown"): openssl checks that one.
	out := run(t, pdfsig, "-nssdir", nss, "-no-ocsp", file)
	mustSay(t, "pdfsig on the stamped file", out, "Signature #2:", "Signer Certificate Common Name: certseal time-stamping authority")
	first, _, _ := strings.Cut(out, "Signature #2:")
	mustSay(t, "pdfsig on the seal's signature", first, "Signature is Valid.", "Certificate is Trusted.")
	mustSay(t, "qpdf --check", run(t, qpdf, "--check", file), "No syntax or stream encoding errors found")

	openssl := testenv.Tool(t, "openssl")
	sig, err := lastSignature(stamped)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, b := range map[string][]byte{"covered": sig.Content(), "token.der": sig.CMS, "root.pem": p.ca.RootPEM()} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out = run(t, openssl, "ts", "-verify", "-token_in", "-in", filepath.Join(dir, "token.der"), "-data", filepath.Join(dir, "covered"),
		"-CAfile", filepath.Join(dir, "root.pem"), "-untrusted", writePEM(t, dir, p.ca.IssuingPEM()))
	mustSay(t, "openssl ts -verify of the document time-stamp", out, "Verification: OK")
}

// A document time-stamp over a file that has a DSS already keeps what
// that DSS held and adds its own entries after them.
func TestDocumentTimestampKeepsTheDSS(t *testing.T) {
	p := newLTVPKI(t)
	signed := p.sign(t, testRenderer(t))
	answer, err := p.rsp.SealOCSP(p.seal)
	if err != nil {
		t.Fatal(err)
	}
	stamped, err := AddDocumentTimestamp(context.Background(), signed.PDF, p.tsa, &DSS{OCSPs: [][]byte{answer}}, p.trust)
	if err != nil {
		t.Fatal(err)
	}
	rdr, err := pdf.NewReader(bytes.NewReader(stamped), int64(len(stamped)))
	if err != nil {
		t.Fatal(err)
	}
	dss := rdr.Trailer().Key("Root").Key("DSS")
	if got := [2]int{dss.Key("Certs").Len(), dss.Key("OCSPs").Len()}; got != [2]int{4, 3} {
		t.Fatalf("DSS after the document time-stamp: %d certs, %d OCSP answers; want 4 and 3", got[0], got[1])
	}
	last, err := readStream(dss.Key("OCSPs").Index(2))
	if err != nil || !bytes.Equal(last, answer) {
		t.Fatalf("the new OCSP answer is not last (%v)", err)
	}
	if err := checkSigned(stamped[:len(signed.PDF)], mustCert(t, p.seal.CertDER), true, p.trust); err != nil {
		t.Fatalf("the seal's signature over the unchanged bytes: %v", err)
	}
}

// stampFunc is a Timestamper made of a function.
type stampFunc func(ctx context.Context, req []byte) ([]byte, error)

func (f stampFunc) Stamp(ctx context.Context, req []byte) ([]byte, error) { return f(ctx, req) }

// A time-stamp answer is not taken on trust: pdfsign embeds the token of
// a granted answer from TSA.Stamp unchecked (internal/third_party/pdfsign
// PATCHES.md, patch 7), so a refusal must fail the signing, or the
// document time-stamp, and a token whose signature does not verify, or
// whose TSA does not chain to the trust, must fail the self-check.
func TestSignRefusesBadTimestamps(t *testing.T) {
	p, foreign := newLTVPKI(t), newLTVPKI(t)
	r := testRenderer(t)
	unsigned, err := r.Render(testDocument(t))
	if err != nil {
		t.Fatal(err)
	}
	signed := p.sign(t, r)
	for _, tc := range []struct {
		name string
		tsa  Timestamper
		want string
	}{
		{"refused", stampFunc(func(context.Context, []byte) ([]byte, error) {
			return timestamp.CreateErrorResponse(timestamp.Rejection, timestamp.TimeNotAvailable)
		}), "parse timestamp: the request is rejected:  (the TSA's time source is not available)"},
		{"signature changed", stampFunc(func(ctx context.Context, req []byte) ([]byte, error) {
			resp, err := p.tsa.Stamp(ctx, req)
			resp[len(resp)-5] ^= 1 // inside the token's signature value
			return resp, err
		}), keys.ErrTimestampFormat.Error()},
		{"another TSA", foreign.tsa, keys.ErrTimestampChain.Error()},
		// TimeStampResp{status granted} without a token, and with an empty one.
		{"granted, no token", stampFunc(func(context.Context, []byte) ([]byte, error) {
			return []byte{0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x00}, nil
		}), "no pkcs7 data in Time-Stamp response"},
		{"granted, empty token", stampFunc(func(context.Context, []byte) ([]byte, error) {
			return []byte{0x30, 0x07, 0x30, 0x03, 0x02, 0x01, 0x00, 0x30, 0x00}, nil
		}), "no pkcs7 data in Time-Stamp response"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := NewIssuer(IssuerDeps{Keys: p.km, Chains: p.ca, Renderer: r, TSA: tc.tsa, TSATrust: p.trust,
				TSACerts: []*x509.Certificate{p.tsa.Certificate()}, Revocation: p.rsp, Now: time.Now})
			_, err := is.sign(context.Background(), unsigned, stamp{seal: p.seal, uscc: testUSCC}, time.Now())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("signature: error %v, want one with %q", err, tc.want)
			}
			_, err = AddDocumentTimestamp(context.Background(), signed.PDF, tc.tsa, nil, p.trust)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("document time-stamp: error %v, want one with %q", err, tc.want)
			}
		})
	}
}
