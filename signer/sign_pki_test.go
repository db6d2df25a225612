package signer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/certseal/certseal/registry"
)

// The test PKI: root → issuing CA → seal certificate, the profile of
// DESIGN §5 (organizationIdentifier NTRCN-<USCC>, KU digitalSignature +
// nonRepudiation, EKU documentSigning + emailProtection).

const testUSCC = "91370000MA3C5XYZ1K"

var (
	oidOrganizationIdentifier = asn1.ObjectIdentifier{2, 5, 4, 97}
	oidEKUDocumentSigning     = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 36}
)

type testPKI struct {
	root, issuing, seal *x509.Certificate
	sealKey             crypto.Signer
	issuingKey          crypto.Signer
}

// opaqueSigner hides the concrete key type: Sign must work with any
// crypto.Signer (a KeyManager or an HSM), not only *ecdsa.PrivateKey.
type opaqueSigner struct{ s crypto.Signer }

func (o opaqueSigner) Public() crypto.PublicKey { return o.s.Public() }
func (o opaqueSigner) Sign(r io.Reader, d []byte, opts crypto.SignerOpts) ([]byte, error) {
	return o.s.Sign(r, d, opts)
}

type keyKind int

const (
	keyECDSA keyKind = iota
	keyRSA2048
	keyRSA4096
)

func genKey(t testing.TB, k keyKind) crypto.Signer {
	t.Helper()
	var (
		key crypto.Signer
		err error
	)
	switch k {
	case keyECDSA:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case keyRSA2048:
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case keyRSA4096:
		key, err = rsa.GenerateKey(rand.Reader, 4096)
	}
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// newTestPKI makes the chain; caKind is the CAs' key type, sealKind the
// seal's. ocspURL, if set, goes into the seal certificate (AIA).
func newTestPKI(t testing.TB, caKind, sealKind keyKind, ocspURL string) *testPKI {
	t.Helper()
	now := time.Now()
	rootKey, issKey, sealKey := genKey(t, caKind), genKey(t, caKind), genKey(t, sealKind)
	mk := func(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	rootT := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "certseal test root CA", Organization: []string{"certseal test"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	root := mk(rootT, rootT, rootKey.Public(), rootKey)
	issT := &x509.Certificate{
		SerialNumber:          big.NewInt(2),
		Subject:               pkix.Name{CommonName: "certseal test issuing CA", Organization: []string{"certseal test"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(5 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	iss := mk(issT, root, issKey.Public(), rootKey)
	sealT := &x509.Certificate{
		SerialNumber: big.NewInt(1001),
		Subject: pkix.Name{
			CommonName:   "威海示范大学职称专用章 v1",
			Organization: []string{"威海示范大学"},
			ExtraNames:   []pkix.AttributeTypeAndValue{{Type: oidOrganizationIdentifier, Value: "NTRCN-" + testUSCC}},
		},
		NotBefore:          now.Add(-time.Hour),
		NotAfter:           now.Add(3 * 365 * 24 * time.Hour),
		KeyUsage:           x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		ExtKeyUsage:        []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
		UnknownExtKeyUsage: []asn1.ObjectIdentifier{oidEKUDocumentSigning},
	}
	if ocspURL != "" {
		sealT.OCSPServer = []string{ocspURL}
	}
	seal := mk(sealT, iss, sealKey.Public(), issKey)
	return &testPKI{root: root, issuing: iss, seal: seal, sealKey: sealKey, issuingKey: issKey}
}

func (p *testPKI) signing(t testing.TB, r *Renderer) SealSigning {
	t.Helper()
	return SealSigning{
		Signer:      opaqueSigner{p.sealKey},
		Certificate: p.seal,
		Chain:       []*x509.Certificate{p.issuing},
		Time:        time.Now(),
		Appearance:  testAppearance(t),
		Rect:        r.Template().SealRect(),
		USCC:        testUSCC,
		SealVersion: 1,
	}
}

// readTestdata reads one of the repository's shared fixtures (testdata/ at the top).
func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testAppearance(t testing.TB) *Appearance {
	t.Helper()
	a, err := PrepareAppearance(readTestdata(t, "seal.png"))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func testRenderer(t testing.TB) *Renderer {
	t.Helper()
	r, err := NewRenderer(DefaultTemplate(), DefaultFont())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

const testVerifyURL = "https://certseal.example.cn/v/372025000001230?k=Qm9vay1vZi1DZXJ0c2VhbC0xMjM"

func testDocument(t testing.TB) Document {
	t.Helper()
	return Document{
		Appointment: registry.Appointment{
			Name:              "张三丰",
			Gender:            registry.Male,
			IDNumber:          "37100219800101123X",
			Series:            "高校教师系列(专业:教师)",
			Specialty:         "材料科学与工程",
			Level:             "副高级",
			Post:              "副教授",
			TermFrom:          registry.Date{Year: 2025, Month: 1, Day: 1},
			TermTo:            registry.Date{Year: 2029, Month: 12, Day: 31},
			Committee:         "威海示范大学高校教师系列高级职称评聘委员会",
			PublicationNumber: "威示大人字〔2024〕15号",
			AppointedOn:       registry.Date{Year: 2024, Month: 12, Day: 20},
			Photo:             readTestdata(t, "photo.jpg"),
		},
		Number:    "372025000001230",
		VerifyURL: testVerifyURL,
		SealLine:  "电子印章第1版 · 2025年1月2日签发",
	}
}
