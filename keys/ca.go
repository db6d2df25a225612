// Package keys holds certseal's trust material: the platform CA (a root and
// an issuing CA), the seal keys (encrypted at rest under a key-encryption
// key and handed out only as crypto.Signer), the seal certificates, and the
// revocation data (CRL and OCSP) that lets standard validators see a revoked
// seal.
package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// File names of a development CA inside its directory.
const (
	RootCertFile    = "root.crt"    // PEM
	IssuingCertFile = "issuing.crt" // PEM
	IssuingKeyFile  = "issuing.key" // PEM PKCS#8, mode 0600
)

// CA is the platform CA. The root only anchors trust; the issuing CA's key
// signs seal certificates, CRLs and OCSP responses. A CA is immutable and
// safe for concurrent use.
type CA struct {
	root, issuing *x509.Certificate
	key           crypto.Signer
	roots, inter  *x509.CertPool
}

// LoadCA loads an operator-supplied CA from PEM files: the root certificate,
// the issuing CA certificate, and the issuing CA's private key (PKCS#8, SEC 1
// or PKCS#1, unencrypted, mode 0600 or stricter). It refuses a set that does
// not hold together at now: the issuing certificate must be a CA allowed to
// sign certificates and CRLs, chain to the root, and match the key.
func LoadCA(rootCertFile, issuingCertFile, issuingKeyFile string, now time.Time) (*CA, error) {
	root, err := readCertFile(rootCertFile)
	if err != nil {
		return nil, fmt.Errorf("root CA certificate: %w", err)
	}
	issuing, err := readCertFile(issuingCertFile)
	if err != nil {
		return nil, fmt.Errorf("issuing CA certificate: %w", err)
	}
	key, err := readKeyFile(issuingKeyFile)
	if err != nil {
		return nil, fmt.Errorf("issuing CA key: %w", err)
	}
	ca, err := newCA(root, issuing, key, now)
	if err != nil {
		return nil, fmt.Errorf("CA from %s, %s, %s: %w", rootCertFile, issuingCertFile, issuingKeyFile, err)
	}
	return ca, nil
}

func newCA(root, issuing *x509.Certificate, key crypto.Signer, now time.Time) (*CA, error) {
	if !root.BasicConstraintsValid || !root.IsCA {
		return nil, errors.New("the root certificate is not a CA (basic constraints)")
	}
	if err := root.CheckSignatureFrom(root); err != nil {
		return nil, fmt.Errorf("the root certificate is not self-signed: %w", err)
	}
	if !issuing.BasicConstraintsValid || !issuing.IsCA {
		return nil, errors.New("the issuing certificate is not a CA (basic constraints)")
	}
	const need = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	if issuing.KeyUsage&need != need {
		return nil, errors.New("the issuing CA certificate must allow keyCertSign and cRLSign")
	}
	if len(issuing.SubjectKeyId) == 0 {
		// CRLs name their issuer by this identifier (RFC 5280 5.2.1).
		return nil, errors.New("the issuing CA certificate has no subject key identifier")
	}
	ca := &CA{root: root, issuing: issuing, key: key, roots: x509.NewCertPool(), inter: x509.NewCertPool()}
	ca.roots.AddCert(root)
	ca.inter.AddCert(issuing)
	if _, err := issuing.Verify(x509.VerifyOptions{
		Roots: ca.roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		return nil, fmt.Errorf("the issuing CA does not chain to the root at %s: %w", now.UTC().Format(time.RFC3339), err)
	}
	if !publicKeysEqual(key.Public(), issuing.PublicKey) {
		return nil, fmt.Errorf("issuing CA: %w", ErrKeyMismatch)
	}
	return ca, nil
}

// LoadOrCreateDevCA loads the development CA kept in dir (for example
// <data dir>/pki), creating it on first start: root.crt, issuing.crt and
// issuing.key (mode 0600). The root key is discarded once it has signed the
// issuing CA, so it cannot leak. Every start logs a warning: nobody outside
// this installation trusts such a CA.
func LoadOrCreateDevCA(dir string, logger *slog.Logger, now time.Time) (*CA, error) {
	return openDevCA(dir, logger, now, true)
}

// LoadDevCA is LoadOrCreateDevCA for commands that inspect an existing
// installation: where dir holds no CA it fails with an fs.ErrNotExist
// error, since a new CA would make every existing seal look foreign.
func LoadDevCA(dir string, logger *slog.Logger, now time.Time) (*CA, error) {
	return openDevCA(dir, logger, now, false)
}

func openDevCA(dir string, logger *slog.Logger, now time.Time, create bool) (*CA, error) {
	logger = orDiscard(logger)
	paths := []string{filepath.Join(dir, RootCertFile), filepath.Join(dir, IssuingCertFile), filepath.Join(dir, IssuingKeyFile)}
	created, err := devFiles(dir, paths, create, func() error { return createDevCA(paths, now) })
	if err != nil {
		return nil, fmt.Errorf("development CA: %w", err)
	}
	ca, err := LoadCA(paths[0], paths[1], paths[2], now)
	if err != nil {
		return nil, fmt.Errorf("development CA: %w", err)
	}
	fp := sha256.Sum256(ca.root.Raw)
	logger.Warn("DEVELOPMENT CA IN USE: NOT FOR PRODUCTION. Seal certificates are issued by a CA nobody else trusts; supply the operator's root certificate, issuing certificate and issuing key instead",
		"dir", dir, "created", created, "root_sha256", hex.EncodeToString(fp[:]))
	return ca, nil
}

// devFiles makes sure the files of a development CA in dir are all there,
// making them with mk when none is and create allows: half a CA is an
// error, never silently replaced.
func devFiles(dir string, paths []string, create bool, mk func() error) (created bool, err error) {
	var missing []string
	for _, p := range paths {
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			missing = append(missing, p)
		} else if err != nil {
			return false, err
		}
	}
	switch len(missing) {
	case 0:
		return false, nil
	case len(paths):
		if !create {
			return false, fmt.Errorf("none in %s: %w", dir, fs.ErrNotExist)
		}
		if err := ensureDir(dir); err != nil {
			return false, err
		}
		if err := mk(); err != nil {
			return false, fmt.Errorf("in %s: %w", dir, err)
		}
		return true, nil
	}
	return false, fmt.Errorf("%s is incomplete (missing %v); restore the files or remove them to start a new CA", dir, missing)
}

// createDevCA writes a fresh root and issuing CA to paths (root cert,
// issuing cert, issuing key).
func createDevCA(paths []string, now time.Time) (err error) {
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	issKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	rootTmpl, issTmpl := devCATemplates(now, "certseal development")
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		return fmt.Errorf("create root certificate: %w", err)
	}
	root, err := x509.ParseCertificate(rootDER)
	if err != nil {
		return err
	}
	issDER, err := x509.CreateCertificate(rand.Reader, issTmpl, root, issKey.Public(), rootKey)
	if err != nil {
		return fmt.Errorf("create issuing certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(issKey)
	if err != nil {
		return err
	}
	return writeCAFiles(paths, rootDER, issDER, keyDER)
}

// devCATemplates are the root and issuing certificates of a development
// CA named by label.
func devCATemplates(now time.Time, label string) (root, issuing *x509.Certificate) {
	notBefore := now.Add(-time.Hour).Truncate(time.Second)
	name := func(cn string) pkix.Name {
		return pkix.Name{Country: []string{"CN"}, Organization: []string{label + " CA"}, CommonName: cn}
	}
	rootTmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               name(label + " root CA - NOT FOR PRODUCTION"),
		NotBefore:             notBefore,
		NotAfter:              now.AddDate(25, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
	}
	issTmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      name(label + " issuing CA - NOT FOR PRODUCTION"),
		NotBefore:    notBefore,
		NotAfter:     now.AddDate(20, 0, 0),
		// digitalSignature because this CA signs OCSP responses itself.
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	return rootTmpl, issTmpl
}

// writeCAFiles writes a CA's root and issuing certificates (PEM, 0644) and
// issuing key (PEM PKCS#8, 0600) to paths. On failure it removes what it
// wrote so the next start does not meet half a CA.
func writeCAFiles(paths []string, rootDER, issDER, keyPKCS8 []byte) error {
	files := []struct {
		data []byte
		mode fs.FileMode
	}{
		{pemCert(rootDER), 0o644},
		{pemCert(issDER), 0o644},
		{pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyPKCS8}), 0o600},
	}
	for i, f := range files {
		if err := writeNewFile(paths[i], f.data, f.mode); err != nil {
			for _, p := range paths[:i] {
				os.Remove(p)
			}
			return err
		}
	}
	return nil
}

// Root is the root CA certificate (its DER is Root().Raw).
func (ca *CA) Root() *x509.Certificate { return ca.root }

// Issuing is the issuing CA certificate (its DER is Issuing().Raw).
func (ca *CA) Issuing() *x509.Certificate { return ca.issuing }

// RootPEM is the root certificate in PEM, as trust stores import it.
func (ca *CA) RootPEM() []byte { return pemCert(ca.root.Raw) }

// IssuingPEM is the issuing CA certificate in PEM.
func (ca *CA) IssuingPEM() []byte { return pemCert(ca.issuing.Raw) }

// Verify checks that cert chains through the issuing CA to the root at the
// given time. Any extended key usage is accepted: the chain, not the
// purpose, is what is checked here.
func (ca *CA) Verify(cert *x509.Certificate, at time.Time) error {
	_, err := cert.Verify(x509.VerifyOptions{
		Roots: ca.roots, Intermediates: ca.inter, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	return err
}

// SealChain returns the chain to embed in a PDF signature: the seal
// certificate, the issuing CA, the root. It refuses a certificate this
// issuing CA did not sign.
func (ca *CA) SealChain(sealCertDER []byte) ([]*x509.Certificate, error) {
	cert, err := x509.ParseCertificate(sealCertDER)
	if err != nil {
		return nil, fmt.Errorf("seal certificate: %w", err)
	}
	if err := cert.CheckSignatureFrom(ca.issuing); err != nil {
		return nil, fmt.Errorf("seal certificate %s was not issued by this issuing CA: %w", SerialHex(cert.SerialNumber), err)
	}
	return []*x509.Certificate{cert, ca.issuing, ca.root}, nil
}

// issued reports whether cert names this issuing CA as its issuer, by name
// and key identifier: cheap enough for every CRL entry, and it keeps
// certificates of a replaced CA out of this CA's revocation data.
func (ca *CA) issued(cert *x509.Certificate) bool {
	return string(cert.RawIssuer) == string(ca.issuing.RawSubject) &&
		string(cert.AuthorityKeyId) == string(ca.issuing.SubjectKeyId)
}

// randomSerial returns a random positive serial of exactly 127 bits, so every
// serial has the same length: 16 DER bytes, 32 hex digits.
func randomSerial() *big.Int {
	b := make([]byte, 16)
	rand.Read(b) // never fails (crypto/rand)
	b[0] = b[0]&0x7f | 0x40
	return new(big.Int).SetBytes(b)
}

// SerialHex is the spelling of a certificate serial used in
// registry.Seal.Serial: lower-case hex without leading zeros.
func SerialHex(n *big.Int) string { return n.Text(16) }

func publicKeysEqual(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}
