package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/certseal/certseal/registry"
)

// Paths of the PKI endpoints under the service's base URL. Seal
// certificates point at them, so the router must mount the handlers here.
const (
	PathRoot    = "/pki/root.crt"
	PathIssuing = "/pki/issuing.crt"
	PathCRL     = "/pki/crl"
	PathOCSP    = "/pki/ocsp" // POST here, GET PathOCSP + "/" + base64(request)
)

// SealCertYears is how long a seal certificate is valid (capped by the
// issuing CA): certificates are archived for 10 years and their signatures
// should still chain to a valid certificate while they are.
const SealCertYears = 10

// IssueSealCert certifies pub as the key of seal version `version` of unit.
// Subject: C=CN, O=<unit name>, CN=<unit name>职称专用章 v<version>, and
// organizationIdentifier (2.5.4.97) NTRCN-<USCC>, as ETSI EN 319 412-1
// spells a national trade register number. Key usage digitalSignature +
// nonRepudiation; extended key usage documentSigning (RFC 9336) and
// emailProtection (some validators know only that one); CRL, OCSP and
// CA-issuer addresses under baseURL. The certificate is parsed and verified
// against the CA before it is returned; serial is its lower-case hex serial
// (registry.Seal.Serial).
func (ca *CA) IssueSealCert(unit registry.Unit, version int, pub crypto.PublicKey, now time.Time, baseURL string) (der []byte, serial string, err error) {
	if err := checkSealSubject(unit, version); err != nil {
		return nil, "", err
	}
	if err := checkSealPublicKey(pub); err != nil {
		return nil, "", err
	}
	base, err := pkiBase(baseURL)
	if err != nil {
		return nil, "", err
	}
	skid, err := subjectKeyID(pub)
	if err != nil {
		return nil, "", err
	}
	tmpl, err := sealTemplate(unit, version, now, ca.issuing)
	if err != nil {
		return nil, "", err
	}
	sn := tmpl.SerialNumber
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}
	tmpl.UnknownExtKeyUsage = []asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 36}} // documentSigning, RFC 9336
	tmpl.SubjectKeyId = skid
	tmpl.CRLDistributionPoints = []string{base + PathCRL}
	tmpl.OCSPServer = []string{base + PathOCSP}
	tmpl.IssuingCertificateURL = []string{base + PathIssuing}
	der, err = x509.CreateCertificate(rand.Reader, tmpl, ca.issuing, pub, ca.key)
	if err != nil {
		return nil, "", fmt.Errorf("sign seal certificate for unit %d version %d: %w", unit.ID, version, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, "", fmt.Errorf("seal certificate for unit %d version %d does not parse: %w", unit.ID, version, err)
	}
	if err := ca.Verify(cert, now); err != nil {
		return nil, "", fmt.Errorf("seal certificate for unit %d version %d does not verify: %w", unit.ID, version, err)
	}
	if !publicKeysEqual(pub, cert.PublicKey) {
		return nil, "", fmt.Errorf("seal certificate for unit %d version %d: %w", unit.ID, version, ErrKeyMismatch)
	}
	return der, SerialHex(sn), nil
}

// checkSealSubject refuses a unit or version that cannot be certified.
func checkSealSubject(unit registry.Unit, version int) error {
	if strings.TrimSpace(unit.Name) == "" {
		return registry.FieldErr("name", "the unit has no name")
	}
	if !validUSCCChars(unit.USCC) {
		return registry.FieldErr("uscc", "must be 18 characters 0-9 and A-Z to be certified")
	}
	if version <= 0 {
		return registry.FieldErr("version", "must be positive")
	}
	return nil
}

// sealSubject names seal version `version` of unit (see IssueSealCert).
func sealSubject(unit registry.Unit, version int) pkix.Name {
	return pkix.Name{
		Country:      []string{"CN"},
		Organization: []string{unit.Name},
		CommonName:   fmt.Sprintf("%s职称专用章 v%d", unit.Name, version),
		ExtraNames: []pkix.AttributeTypeAndValue{
			{Type: asn1.ObjectIdentifier{2, 5, 4, 97}, Value: "NTRCN-" + unit.USCC},
		},
	}
}

// sealTemplate is what every certificate of seal version `version` of
// unit has: a fresh serial, the subject, the validity from now, key usage
// digitalSignature + nonRepudiation, no CA.
func sealTemplate(unit registry.Unit, version int, now time.Time, issuing *x509.Certificate) (*x509.Certificate, error) {
	notBefore, notAfter, err := sealValidity(now, issuing)
	if err != nil {
		return nil, err
	}
	return &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               sealSubject(unit, version),
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		BasicConstraintsValid: true,
	}, nil
}

// sealValidity is a seal certificate's validity from now: SealCertYears,
// within the issuing CA's. Back-dated a minute so a signature made at once
// on a replica whose clock is a little behind still falls inside it.
func sealValidity(now time.Time, issuing *x509.Certificate) (notBefore, notAfter time.Time, err error) {
	notBefore = now.Add(-time.Minute).Truncate(time.Second)
	if notBefore.Before(issuing.NotBefore) {
		notBefore = issuing.NotBefore
	}
	notAfter = now.AddDate(SealCertYears, 0, 0).Truncate(time.Second)
	if notAfter.After(issuing.NotAfter) {
		notAfter = issuing.NotAfter
	}
	if !notAfter.After(now) {
		return notBefore, notAfter, fmt.Errorf("the issuing CA expired on %s", issuing.NotAfter.UTC().Format(time.RFC3339))
	}
	return notBefore, notAfter, nil
}

func validUSCCChars(s string) bool {
	if len(s) != 18 {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// checkSealPublicKey accepts the key types GenerateSealKey makes.
func checkSealPublicKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return nil
		}
	case *rsa.PublicKey:
		if k.N.BitLen() >= 2048 {
			return nil
		}
	}
	return fmt.Errorf("seal public key %T is not %s or %s", pub, ECDSAP256, RSA2048)
}

// pkiBase checks the service's public base URL and returns it without a
// trailing slash.
func pkiBase(baseURL string) (string, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return "", fmt.Errorf("base URL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("base URL %q must be http(s)://host[:port][/path] without user, query or fragment", baseURL)
	}
	return strings.TrimRight(baseURL, "/"), nil
}

// subjectKeyID is RFC 7093 method 1 (leftmost 160 bits of SHA-256 of the
// subjectPublicKey bits), as Go computes it for CA certificates.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	bits, err := publicKeyBits(spki)
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(bits)
	return h[:20], nil
}

// publicKeyBits extracts the subjectPublicKey BIT STRING from a DER
// SubjectPublicKeyInfo: the input of key identifiers and OCSP key hashes.
func publicKeyBits(spki []byte) ([]byte, error) {
	var info struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(spki, &info); err != nil {
		return nil, fmt.Errorf("subject public key info: %w", err)
	}
	return info.PublicKey.RightAlign(), nil
}
