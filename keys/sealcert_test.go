package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"math/big"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certseal/certseal/registry"
)

func TestIssueSealCertProfile(t *testing.T) {
	now := time.Now()
	ca := newTestCA(t, now)
	km := newTestKeys(t)
	for _, alg := range []Alg{ECDSAP256, RSA2048} {
		t.Run(string(alg), func(t *testing.T) {
			seal := newSeal(t, ca, km, 1, testUnit, 3, alg, now, testBase+"/")
			cert, err := x509.ParseCertificate(seal.CertDER)
			if err != nil {
				t.Fatal(err)
			}
			var orgID string
			for _, n := range cert.Subject.Names {
				if n.Type.Equal(asn1.ObjectIdentifier{2, 5, 4, 97}) {
					orgID, _ = n.Value.(string)
				}
			}
			checks := []struct {
				what string
				ok   bool
			}{
				{"O is the unit name", slices.Equal(cert.Subject.Organization, []string{testUnit.Name})},
				{"CN is name + 职称专用章 + version", cert.Subject.CommonName == testUnit.Name+"职称专用章 v3"},
				{"C is CN", slices.Equal(cert.Subject.Country, []string{"CN"})},
				{"organizationIdentifier is NTRCN-<USCC>", orgID == "NTRCN-"+testUnit.USCC},
				{"serial string is the lower-case hex serial", seal.Serial == cert.SerialNumber.Text(16) && seal.Serial == strings.ToLower(seal.Serial)},
				{"serial is positive and about 128 bits", cert.SerialNumber.Sign() > 0 && cert.SerialNumber.BitLen() == 127},
				{"key usage is digitalSignature + nonRepudiation", cert.KeyUsage == x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment},
				{"EKU emailProtection", slices.Equal(cert.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection})},
				{"EKU documentSigning", len(cert.UnknownExtKeyUsage) == 1 && cert.UnknownExtKeyUsage[0].Equal(asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 36})},
				{"not a CA", cert.BasicConstraintsValid && !cert.IsCA},
				{"CRL distribution point", slices.Equal(cert.CRLDistributionPoints, []string{testBase + PathCRL})},
				{"OCSP address", slices.Equal(cert.OCSPServer, []string{testBase + PathOCSP})},
				{"CA issuers address", slices.Equal(cert.IssuingCertificateURL, []string{testBase + PathIssuing})},
				{"subject key identifier", len(cert.SubjectKeyId) == 20},
				{"authority key identifier is the issuing CA's", string(cert.AuthorityKeyId) == string(ca.Issuing().SubjectKeyId)},
				{"valid now", !now.Before(cert.NotBefore) && now.Before(cert.NotAfter)},
				{"valid 10 years", cert.NotAfter.Sub(now) > 10*365*24*time.Hour},
			}
			for _, c := range checks {
				if !c.ok {
					t.Errorf("profile: %s does not hold", c.what)
				}
			}

			// What openssl reads in it.
			path := filepath.Join(t.TempDir(), "seal.pem")
			writeFile(t, path, pemCert(seal.CertDER), 0o644)
			out, err := runTool(t, "openssl", "x509", "-in", path, "-noout", "-text", "-nameopt", "multiline,utf8,-esc_msb")
			if err != nil {
				t.Fatalf("openssl x509: %v\n%s", err, out)
			}
			mustContain(t, "openssl x509 -text", out,
				"organizationIdentifier    = NTRCN-"+testUnit.USCC,
				"organizationName          = "+testUnit.Name,
				"commonName                = "+testUnit.Name+"职称专用章 v3",
				"X509v3 Key Usage: critical\n                Digital Signature, Non Repudiation",
				"E-mail Protection",
				"1.3.6.1.5.5.7.3.36",
				"CA:FALSE",
				"URI:"+testBase+PathCRL,
				"OCSP - URI:"+testBase+PathOCSP,
				"CA Issuers - URI:"+testBase+PathIssuing,
			)
			out, err = runTool(t, "openssl", "x509", "-in", path, "-noout", "-purpose")
			if err != nil {
				t.Fatalf("openssl x509 -purpose: %v\n%s", err, out)
			}
			mustContain(t, "openssl x509 -purpose", out, "S/MIME signing : Yes")
		})
	}
}

// A seal certificate never outlives the issuing CA.
func TestIssueSealCertCappedByIssuer(t *testing.T) {
	now := time.Now()
	rootKey, issKey := newKey(t), newKey(t)
	root := signCert(t, caTemplate("root", now), nil, rootKey.Public(), rootKey)
	issTmpl := caTemplate("issuing", now)
	issTmpl.NotAfter = now.AddDate(2, 0, 0).Truncate(time.Second)
	ca, err := newCA(root, signCert(t, issTmpl, root, issKey.Public(), rootKey), issKey, now)
	if err != nil {
		t.Fatal(err)
	}
	seal := newSeal(t, ca, newTestKeys(t), 1, testUnit, 1, ECDSAP256, now, testBase)
	cert, _ := x509.ParseCertificate(seal.CertDER)
	if !cert.NotAfter.Equal(issTmpl.NotAfter) {
		t.Errorf("seal certificate valid until %s, want the issuing CA's %s", cert.NotAfter, issTmpl.NotAfter)
	}
	if _, _, err := ca.IssueSealCert(testUnit, 2, cert.PublicKey, now.AddDate(3, 0, 0), testBase); err == nil {
		t.Error("issued a seal certificate after the issuing CA expired")
	}
}

func TestIssueSealCertRefuses(t *testing.T) {
	now := time.Now()
	ca := newTestCA(t, now)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsa1024 := &rsa.PublicKey{N: new(big.Int).Lsh(big.NewInt(1), 1023), E: 65537} // only its size matters
	unit := func(name, uscc string) registry.Unit { return registry.Unit{ID: 1, Name: name, USCC: uscc} }
	tests := []struct {
		name    string
		unit    registry.Unit
		version int
		pub     crypto.PublicKey
		base    string
		want    string
	}{
		{"no unit name", unit(" ", testUnit.USCC), 1, p256.Public(), testBase, "has no name"},
		{"short USCC", unit("甲", "1237100049436501"), 1, p256.Public(), testBase, "uscc"},
		{"lower-case USCC", unit("甲", "12371000494365014x"), 1, p256.Public(), testBase, "uscc"},
		{"version 0", testUnit, 0, p256.Public(), testBase, "version"},
		{"P-384 key", testUnit, 1, p384.Public(), testBase, "is not ecdsa-p256 or rsa-2048"},
		{"RSA-1024 key", testUnit, 1, rsa1024, testBase, "is not ecdsa-p256 or rsa-2048"},
		{"no base URL", testUnit, 1, p256.Public(), "", "base URL"},
		{"ftp base URL", testUnit, 1, p256.Public(), "ftp://example.cn", "base URL"},
		{"base URL with query", testUnit, 1, p256.Public(), testBase + "?x=1", "base URL"},
		{"relative base URL", testUnit, 1, p256.Public(), "/pki", "base URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ca.IssueSealCert(tt.unit, tt.version, tt.pub, now, tt.base)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	// Bad input is a domain error the API can map to 400.
	if _, _, err := ca.IssueSealCert(unit("甲", "x"), 1, p256.Public(), now, testBase); registry.CodeOf(err) != registry.CodeInvalid {
		t.Errorf("bad USCC gives %v, want a registry invalid error", err)
	}
}

func TestSealChain(t *testing.T) {
	now := time.Now()
	ca, other := newTestCA(t, now), newTestCA(t, now)
	km := newTestKeys(t)
	seal := newSeal(t, ca, km, 1, testUnit, 1, ECDSAP256, now, testBase)
	chain, err := ca.SealChain(seal.CertDER)
	if err != nil {
		t.Fatal(err)
	}
	if len(chain) != 3 || string(chain[0].Raw) != string(seal.CertDER) || chain[1] != ca.Issuing() || chain[2] != ca.Root() {
		t.Fatal("chain is not seal, issuing, root")
	}
	if err := ca.Verify(chain[0], now); err != nil {
		t.Errorf("seal certificate does not verify: %v", err)
	}
	foreign := newSeal(t, other, km, 2, testUnit, 2, ECDSAP256, now, testBase)
	if _, err := ca.SealChain(foreign.CertDER); err == nil || !strings.Contains(err.Error(), "not issued by this issuing CA") {
		t.Errorf("chain of another CA's certificate: %v", err)
	}
	if err := ca.Verify(mustParse(t, foreign.CertDER), now); err == nil {
		t.Error("another CA's certificate verifies")
	}
	if _, err := ca.SealChain([]byte("junk")); err == nil {
		t.Error("junk makes a chain")
	}
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
