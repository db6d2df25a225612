package verify

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/digitorus/pdf"
	"github.com/digitorus/pdfsign/sign"
	"github.com/digitorus/pkcs7"
)

// Fixtures for the PDF check: a throwaway platform CA, seal certificates,
// a tiny one-page PDF, and that PDF signed with pdfsign at the pinned
// version, as the signer package does.

// pdfTestCA is a platform CA: a root and an issuing CA under it.
type pdfTestCA struct {
	root, issuing *x509.Certificate
	issuingKey    crypto.Signer
}

func newPDFTestKey(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustPDFCert(t testing.TB, tmpl, parent *x509.Certificate, pub crypto.PublicKey, parentKey crypto.Signer) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func pdfCATemplate(cn string) *x509.Certificate {
	now := time.Now()
	return &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{Organization: []string{"certseal test"}, CommonName: cn},
		NotBefore:             now.Add(-24 * time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
}

// newPDFTestCA makes a CA whose root and issuing CA have the given common
// names; two CAs with the same names differ only in their keys.
func newPDFTestCA(t testing.TB, rootCN, issuingCN string) *pdfTestCA {
	t.Helper()
	rootKey, issuingKey := newPDFTestKey(t), newPDFTestKey(t)
	root := mustPDFCert(t, pdfCATemplate(rootCN), pdfCATemplate(rootCN), rootKey.Public(), rootKey)
	issuing := mustPDFCert(t, pdfCATemplate(issuingCN), root, issuingKey.Public(), rootKey)
	return &pdfTestCA{root: root, issuing: issuing, issuingKey: issuingKey}
}

func (ca *pdfTestCA) trust() PDFTrust {
	return PDFTrust{Root: ca.root, Issuing: []*x509.Certificate{ca.issuing}}
}

// pdfSealTemplate is the seal certificate profile of DESIGN §5; edit changes it.
func pdfSealTemplate(edit func(*x509.Certificate)) *x509.Certificate {
	now := time.Now()
	c := &x509.Certificate{
		SerialNumber:       new(big.Int).Lsh(big.NewInt(now.UnixNano()), 60), // long, like keys' 127-bit serials
		Subject:            pkix.Name{Organization: []string{"Test Unit"}, CommonName: "Test Unit 职称专用章 v1"},
		NotBefore:          now.Add(-time.Hour),
		NotAfter:           now.Add(365 * 24 * time.Hour),
		KeyUsage:           x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		ExtKeyUsage:        []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
		UnknownExtKeyUsage: []asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 36}}, // documentSigning
	}
	if edit != nil {
		edit(c)
	}
	return c
}

// seal issues a seal certificate for key under the issuing CA.
func (ca *pdfTestCA) seal(t testing.TB, key crypto.Signer, edit func(*x509.Certificate)) *x509.Certificate {
	t.Helper()
	return mustPDFCert(t, pdfSealTemplate(edit), ca.issuing, key.Public(), ca.issuingKey)
}

// minimalPDF is a hand-written one-page PDF 1.7 with one line of text and
// a correct cross-reference table.
func minimalPDF() []byte {
	content := "BT /F1 24 Tf 72 720 Td (certseal test certificate) Tj ET"
	objects := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(objects))
	for i, o := range objects {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objects)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objects)+1, xref)
	return b.Bytes()
}

// signPDF signs in with pdfsign: an approval signature with the seal
// certificate, chain (without the seal itself) in the CMS.
func signPDF(t testing.TB, in []byte, key crypto.Signer, cert *x509.Certificate, chain []*x509.Certificate, digest crypto.Hash) []byte {
	t.Helper()
	return signPDFStamped(t, in, key, cert, chain, digest, nil)
}

// signPDFStamped is signPDF with a time-stamp token from stamp (a DER
// TimeStampReq in, a TimeStampResp out) when stamp is set.
func signPDFStamped(t testing.TB, in []byte, key crypto.Signer, cert *x509.Certificate, chain []*x509.Certificate, digest crypto.Hash,
	stamp func([]byte) ([]byte, error)) []byte {
	t.Helper()
	rdr, err := pdf.NewReader(bytes.NewReader(in), int64(len(in)))
	if err != nil {
		t.Fatalf("read the PDF to sign: %v", err)
	}
	var out bytes.Buffer
	err = sign.Sign(bytes.NewReader(in), &out, rdr, int64(len(in)), sign.SignData{
		Signature: sign.SignDataSignature{
			CertType:   sign.ApprovalSignature,
			DocMDPPerm: sign.AllowFillingExistingFormFieldsAndSignaturesPerms,
			Info:       sign.SignDataSignatureInfo{Name: "Seal NTRCN-TEST v1", Reason: "test", Date: time.Now()},
		},
		Signer:            key,
		DigestAlgorithm:   digest,
		Certificate:       cert,
		CertificateChains: [][]*x509.Certificate{append([]*x509.Certificate{cert}, chain...)},
		TSA:               sign.TSA{Stamp: stamp},
	})
	if err != nil {
		t.Fatalf("pdfsign: %v", err)
	}
	return out.Bytes()
}

var byteRangeRE = regexp.MustCompile(`/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\][ ]*`)

// byteRangeOf reads the /ByteRange of a pdfsign output, independently of
// the parser under test, and where its text is.
func byteRangeOf(t testing.TB, signed []byte) (br [4]int, at [2]int) {
	t.Helper()
	m := byteRangeRE.FindSubmatchIndex(signed)
	if m == nil {
		t.Fatal("fixture has no /ByteRange")
	}
	for i := range br {
		v, err := strconv.Atoi(string(signed[m[2+2*i]:m[3+2*i]]))
		if err != nil {
			t.Fatal(err)
		}
		br[i] = v
	}
	return br, [2]int{m[0], m[1]}
}

// setByteRange rewrites the /ByteRange text in place, padded with spaces to
// the same length, so no other offset moves.
func setByteRange(t testing.TB, signed []byte, text string) []byte {
	t.Helper()
	_, at := byteRangeOf(t, signed)
	if len(text) > at[1]-at[0] {
		t.Fatalf("%q is longer than the %d bytes of the original /ByteRange", text, at[1]-at[0])
	}
	out := bytes.Clone(signed)
	copy(out[at[0]:at[1]], text+string(bytes.Repeat([]byte(" "), at[1]-at[0]-len(text))))
	return out
}

// replaceCMS puts, in place of a signed PDF's CMS, the one mk makes over the
// signed bytes, zero-padded to the space reserved.
func replaceCMS(t testing.TB, signed []byte, mk func(content []byte) []byte) []byte {
	t.Helper()
	br, _ := byteRangeOf(t, signed)
	content := append(bytes.Clone(signed[br[0]:br[0]+br[1]]), signed[br[2]:br[2]+br[3]]...)
	h := hex.EncodeToString(mk(content))
	space := br[2] - br[1] - 2
	if len(h) > space {
		t.Fatalf("CMS of %d hex digits does not fit in %d", len(h), space)
	}
	out := bytes.Clone(signed)
	copy(out[br[1]+1:br[2]-1], h+string(bytes.Repeat([]byte("0"), space-len(h))))
	return out
}

// cmsOptions shape a CMS made with pkcs7 directly, for signatures pdfsign
// would not make.
type cmsOptions struct {
	digest     asn1.ObjectIdentifier // default SHA-256
	extra      []*x509.Certificate   // certificates added besides the signer's
	noSigner   bool                  // leave the signer's certificate out
	noAttrs    bool                  // sign without signed attributes
	twoSigners bool
	essCert    *x509.Certificate // signingCertificateV2 naming this certificate
}

func makeCMS(t testing.TB, content []byte, key crypto.Signer, cert *x509.Certificate, o cmsOptions) []byte {
	t.Helper()
	sd, err := pkcs7.NewSignedData(content)
	if err != nil {
		t.Fatal(err)
	}
	sd.SetDigestAlgorithm(pkcs7.OIDDigestAlgorithmSHA256)
	if o.digest != nil {
		sd.SetDigestAlgorithm(o.digest)
	}
	cfg := pkcs7.SignerInfoConfig{SkipCertificates: o.noSigner}
	if o.essCert != nil {
		// SigningCertificateV2 ::= SEQUENCE { SEQUENCE OF ESSCertIDv2 }, with
		// the default hash SHA-256, as pdfsign writes it
		hash := sha256.Sum256(o.essCert.Raw)
		der, err := asn1.Marshal(struct{ IDs []struct{ Hash []byte } }{[]struct{ Hash []byte }{{hash[:]}}})
		if err != nil {
			t.Fatal(err)
		}
		cfg.ExtraSignedAttributes = []pkcs7.Attribute{{
			Type:  asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47},
			Value: asn1.RawValue{FullBytes: der},
		}}
	}
	switch {
	case o.noAttrs:
		err = sd.SignWithoutAttr(cert, key, cfg)
	default:
		err = sd.AddSigner(cert, key, cfg)
		if err == nil && o.twoSigners {
			err = sd.AddSigner(cert, key, cfg)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range o.extra {
		sd.AddCertificate(c)
	}
	sd.Detach()
	der, err := sd.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return der
}
