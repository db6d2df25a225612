package verify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/pkcs7"

	"github.com/certseal/certseal/internal/testenv"
)

// pdfFixtures are the signed files most cases start from.
type pdfFixtures struct {
	ca       *pdfTestCA
	key      crypto.Signer
	seal     *x509.Certificate
	unsigned []byte
	good     []byte // signed by pdfsign with the seal, chain in the CMS
}

func newPDFFixtures(t testing.TB) *pdfFixtures {
	t.Helper()
	f := &pdfFixtures{ca: newPDFTestCA(t, "certseal test root", "certseal test issuing"), key: newPDFTestKey(t), unsigned: minimalPDF()}
	f.seal = f.ca.seal(t, f.key, nil)
	f.good = signPDF(t, f.unsigned, f.key, f.seal, f.chain(), crypto.SHA256)
	return f
}

func (f *pdfFixtures) chain() []*x509.Certificate {
	return []*x509.Certificate{f.ca.issuing, f.ca.root}
}

// signedWith signs the unsigned PDF with a new key and the certificate
// issue makes for it, shipping chain in the CMS.
func (f *pdfFixtures) signedWith(t testing.TB, issue func(crypto.Signer) *x509.Certificate, chain ...*x509.Certificate) []byte {
	key := newPDFTestKey(t)
	return signPDF(t, f.unsigned, key, issue(key), chain, crypto.SHA256)
}

// withCMS replaces the good file's CMS with one made by pkcs7 directly.
func (f *pdfFixtures) withCMS(t testing.TB, key crypto.Signer, cert *x509.Certificate, o cmsOptions) []byte {
	return replaceCMS(t, f.good, func(content []byte) []byte { return makeCMS(t, content, key, cert, o) })
}

// editPDF returns a copy of b with the first old replaced by new, which must
// have the same length so that no offset moves.
func editPDF(t testing.TB, b []byte, old, new string) []byte {
	t.Helper()
	i := bytes.Index(b, []byte(old))
	if i < 0 || len(old) != len(new) {
		t.Fatalf("cannot replace %q by %q", old, new)
	}
	out := bytes.Clone(b)
	copy(out[i:], new)
	return out
}

func TestCheckPDF(t *testing.T) {
	f := newPDFFixtures(t)
	br, _ := byteRangeOf(t, f.good)
	other := newPDFTestCA(t, "other root", "other issuing")
	// an impostor CA with the platform CA's very names, only other keys
	impostor := newPDFTestCA(t, f.ca.root.Subject.CommonName, f.ca.issuing.Subject.CommonName)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	selfKey := newPDFTestKey(t)
	selfSigned := mustPDFCert(t, pdfSealTemplate(nil), pdfSealTemplate(nil), selfKey.Public(), selfKey)
	garbage := make([]byte, 4096)
	mrand.NewChaCha8([32]byte{1}).Read(garbage)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	withSeal := func(edit func(*x509.Certificate)) func(crypto.Signer) *x509.Certificate {
		return func(k crypto.Signer) *x509.Certificate { return f.ca.seal(t, k, edit) }
	}
	rootOnly := PDFTrust{Root: f.ca.root}

	tests := []struct {
		name  string
		pdf   []byte
		trust *PDFTrust // nil: the platform CA
		ctx   context.Context
		want  string
		sub   string
	}{
		{name: "good, ECDSA P-256", pdf: f.good, want: Passed},
		{name: "good, RSA-2048", pdf: signPDF(t, f.unsigned, rsaKey, f.ca.seal(t, rsaKey, nil), f.chain(), crypto.SHA256), want: Passed},
		{name: "good, SHA-512 digest", pdf: signPDF(t, f.unsigned, f.key, f.seal, f.chain(), crypto.SHA512), want: Passed},
		{name: "good, EKU documentSigning only", pdf: f.signedWith(t, withSeal(func(c *x509.Certificate) { c.ExtKeyUsage = nil }), f.chain()...), want: Passed},
		{name: "good, EKU emailProtection only", pdf: f.signedWith(t, withSeal(func(c *x509.Certificate) { c.UnknownExtKeyUsage = nil }), f.chain()...), want: Passed},
		{name: "good, CMS has the seal only, issuing CA from trust", pdf: signPDF(t, f.unsigned, f.key, f.seal, nil, crypto.SHA256), want: Passed},
		{name: "good, issuing CA from the CMS chains to the root", pdf: f.good, trust: &rootOnly, want: Passed},
		{name: "good, pkcs7-made CMS", pdf: f.withCMS(t, f.key, f.seal, cmsOptions{extra: f.chain()}), want: Passed},

		{name: "byte flipped in the page", pdf: editPDF(t, f.good, "test certificate", "test Certificate"), want: Failed, sub: SubHashFailure},
		{name: "byte flipped in the signature dictionary", pdf: editPDF(t, f.good, "/Reason (test)", "/Reason (tesT)"), want: Failed, sub: SubHashFailure},
		{name: "incremental update appended", pdf: append(bytes.Clone(f.good), "1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\nxref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 6 /Root 1 0 R >>\nstartxref\n0\n%%EOF\n"...), want: Failed, sub: SubNotFullyCovered},
		{name: "one byte appended", pdf: append(bytes.Clone(f.good), '\n'), want: Failed, sub: SubNotFullyCovered},
		{name: "signed twice", pdf: signPDF(t, f.good, f.key, f.seal, f.chain(), crypto.SHA256), want: Failed, sub: SubMultipleSignatures},
		{name: "unsigned", pdf: f.unsigned, want: Failed, sub: SubNoSignature},
		{name: "truncated by 10 bytes", pdf: f.good[:len(f.good)-10], want: Failed, sub: SubFormatFailure},
		{name: "truncated inside /Contents", pdf: f.good[:br[1]+100], want: Failed, sub: SubFormatFailure},
		{name: "truncated before the signature", pdf: f.good[:len(f.unsigned)], want: Failed, sub: SubNoSignature},
		{name: "garbage", pdf: garbage, want: Failed, sub: SubFormatFailure},
		{name: "garbage after a PDF header", pdf: append([]byte("%PDF-1.7\n/ByteRange "), garbage...), want: Failed, sub: SubFormatFailure},
		{name: "empty", pdf: nil, want: Failed, sub: SubFormatFailure},

		{name: "/Contents not hex", pdf: editPDF(t, f.good, "<308", "<z08"), want: Failed, sub: SubFormatFailure},
		{name: "non-zero padding after the CMS", pdf: editPDF(t, f.good, "0>", "1>"), want: Failed, sub: SubFormatFailure},
		{name: "/Contents is not a CMS", pdf: replaceCMS(t, f.good, func([]byte) []byte { return []byte("not a CMS") }), want: Failed, sub: SubFormatFailure},
		{name: "/ByteRange past the end", pdf: setByteRange(t, f.good, fmt.Sprintf("/ByteRange [0 %d %d %d]", br[1], br[2], br[3]+1)), want: Failed, sub: SubFormatFailure},
		{name: "/ByteRange far outside", pdf: setByteRange(t, f.good, fmt.Sprintf("/ByteRange [0 %d 999999999 %d]", br[1], br[3])), want: Failed, sub: SubFormatFailure},
		{name: "/ByteRange huge numbers", pdf: setByteRange(t, f.good, "/ByteRange [0 99999999999999999999 0 0]"), want: Failed, sub: SubFormatFailure},
		{name: "/ByteRange max int64", pdf: setByteRange(t, f.good, "/ByteRange [0 1 9223372036854775807 9]"), want: Failed, sub: SubFormatFailure},
		{name: "/ByteRange negative", pdf: setByteRange(t, f.good, fmt.Sprintf("/ByteRange [0 -%d %d %d]", br[1], br[2], br[3])), want: Failed, sub: SubFormatFailure},
		{name: "/ByteRange three numbers", pdf: setByteRange(t, f.good, fmt.Sprintf("/ByteRange [0 %d %d]", br[1], br[2])), want: Failed, sub: SubFormatFailure},
		{name: "/ByteRange gap wider than /Contents", pdf: setByteRange(t, f.good, fmt.Sprintf("/ByteRange [0 %d %d %d]", br[1]-1, br[2], br[3])), want: Failed, sub: SubFormatFailure},
		{name: "/ByteRange not from 0", pdf: setByteRange(t, f.good, fmt.Sprintf("/ByteRange [1 %d %d %d]", br[1]-1, br[2], br[3])), want: Failed, sub: SubNotFullyCovered},
		{name: "/ByteRange an indirect reference", pdf: setByteRange(t, f.good, "/ByteRange 7 0 R"), want: Failed, sub: SubFormatFailure},
		{name: "unsupported /SubFilter", pdf: editPDF(t, f.good, "/SubFilter /adbe.pkcs7.detached", "/SubFilter /adbe.x509.rsa_sha1 "), want: Failed, sub: SubFormatFailure},

		{name: "signature value altered", pdf: replaceCMS(t, f.good, func(content []byte) []byte {
			der := makeCMS(t, content, f.key, f.seal, cmsOptions{extra: f.chain()})
			der[len(der)-1] ^= 1 // the signerInfo's signature is the last element
			return der
		}), want: Failed, sub: SubSigCryptoFailure},
		{name: "signed by another key than the seal's", pdf: f.withCMS(t, newPDFTestKey(t), f.seal, cmsOptions{extra: f.chain()}), want: Failed, sub: SubSigCryptoFailure},
		{name: "two signers in the CMS", pdf: f.withCMS(t, f.key, f.seal, cmsOptions{twoSigners: true}), want: Failed, sub: SubFormatFailure},
		{name: "no signed attributes", pdf: f.withCMS(t, f.key, f.seal, cmsOptions{noAttrs: true, extra: f.chain()}), want: Failed, sub: SubFormatFailure},
		{name: "SHA-1 digest", pdf: f.withCMS(t, f.key, f.seal, cmsOptions{digest: pkcs7.OIDDigestAlgorithmSHA1, extra: f.chain()}), want: Indeterminate, sub: SubCryptoConstraints},
		{name: "seal certificate left out of the CMS", pdf: f.withCMS(t, f.key, f.seal, cmsOptions{noSigner: true, extra: f.chain()}), want: Indeterminate, sub: SubNoSigningCert},
		{name: "signingCertificateV2 names another certificate", pdf: f.withCMS(t, f.key, f.seal, cmsOptions{essCert: f.ca.issuing, extra: f.chain()}), want: Indeterminate, sub: SubNoSigningCert},

		{name: "self-signed seal with the platform CA stuffed into the CMS", pdf: f.withCMS(t, selfKey, selfSigned, cmsOptions{extra: f.chain()}), want: Failed, sub: SubNoCertificateChain},
		{name: "self-signed seal via pdfsign", pdf: signPDF(t, f.unsigned, selfKey, selfSigned, nil, crypto.SHA256), want: Failed, sub: SubNoCertificateChain},
		{name: "seal from another CA", pdf: f.signedWith(t, func(k crypto.Signer) *x509.Certificate { return other.seal(t, k, nil) }, other.issuing, other.root), want: Failed, sub: SubNoCertificateChain},
		{name: "seal from an impostor CA with the platform's names", pdf: f.signedWith(t, func(k crypto.Signer) *x509.Certificate { return impostor.seal(t, k, nil) }, impostor.issuing, impostor.root), want: Failed, sub: SubNoCertificateChain},
		{name: "CMS has the seal only, trust lacks the issuing CA", pdf: signPDF(t, f.unsigned, f.key, f.seal, nil, crypto.SHA256), trust: &rootOnly, want: Failed, sub: SubNoCertificateChain},
		{name: "seal expired at signing time", pdf: f.signedWith(t, withSeal(func(c *x509.Certificate) {
			c.NotBefore, c.NotAfter = time.Now().AddDate(-2, 0, 0), time.Now().AddDate(-1, 0, 0)
		}), f.chain()...), want: Failed, sub: SubExpired},
		{name: "seal not yet valid at signing time", pdf: f.signedWith(t, withSeal(func(c *x509.Certificate) {
			c.NotBefore = time.Now().Add(24 * time.Hour)
		}), f.chain()...), want: Failed, sub: SubNotYetValid},
		{name: "EKU serverAuth only", pdf: f.signedWith(t, withSeal(func(c *x509.Certificate) {
			c.ExtKeyUsage, c.UnknownExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, nil
		}), f.chain()...), want: Failed, sub: SubChainConstraints},
		{name: "key usage keyEncipherment only", pdf: f.signedWith(t, withSeal(func(c *x509.Certificate) {
			c.KeyUsage = x509.KeyUsageKeyEncipherment
		}), f.chain()...), want: Failed, sub: SubChainConstraints},
		{name: "signed with the issuing CA's own key", pdf: signPDF(t, f.unsigned, f.ca.issuingKey, f.ca.issuing, []*x509.Certificate{f.ca.root}, crypto.SHA256), want: Failed, sub: SubChainConstraints},

		{name: "cancelled", pdf: f.good, ctx: cancelled, want: Indeterminate, sub: SubTimeout},
		{name: "larger than MaxBytes", pdf: f.good, trust: &PDFTrust{Root: f.ca.root, MaxBytes: len(f.good) - 1}, want: Indeterminate, sub: SubTooLarge},
		{name: "no root configured", pdf: f.good, trust: &PDFTrust{}, want: Indeterminate, sub: SubChainGeneralFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			trust := f.ca.trust()
			if tt.trust != nil {
				trust = *tt.trust
			}
			ctx := tt.ctx
			if ctx == nil {
				ctx = context.Background()
			}
			got := CheckPDF(ctx, tt.pdf, trust)
			if got.Indication != tt.want || got.SubIndication != tt.sub {
				t.Fatalf("got %s %s (%s), want %s %s", got.Indication, got.SubIndication, got.Detail, tt.want, tt.sub)
			}
			t.Log(got.Detail)
			checkPDFResultShape(t, tt.pdf, got)
		})
	}
}

// checkPDFResultShape checks what holds for every verdict.
func checkPDFResultShape(t *testing.T, pdf []byte, got PDFResult) {
	t.Helper()
	if (got.Indication == Passed) != (got.SubIndication == "") || (got.Indication == Passed) != (got.Detail == "") {
		t.Errorf("indication %q with sub-indication %q and detail %q", got.Indication, got.SubIndication, got.Detail)
	}
	if !strings.Contains(got.Message, "。/ ") || strings.Contains(got.Message, "could not be checked") {
		t.Errorf("message %q is not a specific Chinese / English text", got.Message)
	}
	if got.SubIndication != SubTooLarge && got.SubIndication != SubTimeout && got.SHA256 != sha256.Sum256(pdf) {
		t.Error("SHA256 is not the file's")
	}
	if got.Number != "" {
		t.Errorf("Number %q: the number is not in the signature", got.Number)
	}
}

func TestCheckPDFFacts(t *testing.T) {
	f := newPDFFixtures(t)
	before := time.Now().Truncate(time.Second)
	good := signPDF(t, f.unsigned, f.key, f.seal, f.chain(), crypto.SHA256)
	after := time.Now()
	got := CheckPDF(context.Background(), good, f.ca.trust())
	if got.Indication != Passed {
		t.Fatalf("%s %s: %s", got.Indication, got.SubIndication, got.Detail)
	}
	if got.SHA256 != sha256.Sum256(good) || got.Signatures != 1 || !got.Seal.Equal(f.seal) ||
		got.SealSerial != f.seal.SerialNumber.Text(16) || got.SealSubject != f.seal.Subject.String() {
		t.Errorf("facts: %+v", got)
	}
	if got.SigningTime.Before(before) || got.SigningTime.After(after) || got.SigningTime.Location() != time.UTC {
		t.Errorf("signing time %v, signed between %v and %v", got.SigningTime, before, after)
	}

	// A failed file still says what it claims: who sealed it and when.
	twice := CheckPDF(context.Background(), signPDF(t, good, f.key, f.seal, f.chain(), crypto.SHA256), f.ca.trust())
	if twice.Signatures != 2 {
		t.Errorf("signed twice: %d signatures", twice.Signatures)
	}
	tampered := CheckPDF(context.Background(), editPDF(t, good, "test certificate", "test Certificate"), f.ca.trust())
	if tampered.SubIndication != SubHashFailure || !tampered.Seal.Equal(f.seal) || !tampered.SigningTime.Equal(got.SigningTime) {
		t.Errorf("tampered: %+v", tampered)
	}
	if unsigned := CheckPDF(context.Background(), f.unsigned, f.ca.trust()); unsigned.Signatures != 0 || unsigned.Seal != nil {
		t.Errorf("unsigned: %+v", unsigned)
	}
}

// TestCheckPDFAgreesWithValidators cross-checks the byte-range and digest
// verdicts with two independent validators. Both exit 0 whatever they
// find, so their words are read.
func TestCheckPDFAgreesWithValidators(t *testing.T) {
	f := newPDFFixtures(t)
	files := []struct {
		name string
		pdf  []byte
		good bool
	}{
		{"good", f.good, true},
		{"tampered", editPDF(t, f.good, "test certificate", "test Certificate"), false},
		{"appended", append(bytes.Clone(f.good), "% added later\n"...), false},
	}
	validators := []struct {
		tool string
		args []string
		good func(out string) bool
	}{
		{"mutool", []string{"sign", "-v"}, func(out string) bool {
			return strings.Contains(out, "The document is unchanged since signing.")
		}},
		// -nocert: pdfsig checks the chain through NSS, which the signer's
		// tests set up; here only the digest and the coverage matter.
		{"pdfsig", []string{"-nocert"}, func(out string) bool {
			return strings.Contains(out, "Signature is Valid.") && strings.Contains(out, "\n  - Total document signed")
		}},
	}
	dir := t.TempDir()
	for _, v := range validators {
		t.Run(v.tool, func(t *testing.T) {
			tool := testenv.Tool(t, v.tool)
			for _, file := range files {
				path := filepath.Join(dir, file.name+".pdf")
				if err := os.WriteFile(path, file.pdf, 0o600); err != nil {
					t.Fatal(err)
				}
				out, err := exec.Command(tool, append(v.args, path)...).CombinedOutput()
				if err != nil {
					t.Fatalf("%s %s: %v\n%s", v.tool, file.name, err, out)
				}
				theirs := v.good(string(out))
				ours := CheckPDF(context.Background(), file.pdf, f.ca.trust()).Indication == Passed
				if theirs != file.good || ours != file.good {
					t.Errorf("%s: %s good=%v, certseal passed=%v, want %v\n%s", file.name, v.tool, theirs, ours, file.good, out)
				}
			}
		})
	}
}

func BenchmarkCheckPDF(b *testing.B) {
	f := newPDFFixtures(b)
	trust := f.ca.trust()
	for b.Loop() {
		if got := CheckPDF(context.Background(), f.good, trust); got.Indication != Passed {
			b.Fatal(got.Detail)
		}
	}
}
