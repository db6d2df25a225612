package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// leafFiles names the key and certificate files of one of the platform's
// own signers (the TSA, the document signer) and what to say about them.
type leafFiles struct {
	what, certFile, keyFile string
	variables               string // the settings that supply them, for the first-start warning
	create                  bool
}

// openLeaf loads a platform signer's certificate and key. Where both files
// are missing and f.create is set, write makes them first; an inspecting
// command passes create=false and gets an fs.ErrNotExist error instead.
func openLeaf(f leafFiles, logger *slog.Logger, now func() time.Time, write func(time.Time) error) (*x509.Certificate, crypto.Signer, error) {
	_, errCert := os.Lstat(f.certFile)
	_, errKey := os.Lstat(f.keyFile)
	switch {
	case errors.Is(errCert, fs.ErrNotExist) && errors.Is(errKey, fs.ErrNotExist):
		if !f.create {
			return nil, nil, fmt.Errorf("no %s at %s: %w", f.what, f.certFile, fs.ErrNotExist)
		}
		if err := write(now()); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", f.what, err)
		}
		orDiscard(logger).Warn("created the "+f.what+"'s key and certificate: back them up with the CA, and give every replica the same files ("+f.variables+")",
			"cert", f.certFile, "key", f.keyFile)
	case errCert != nil || errKey != nil:
		return nil, nil, fmt.Errorf("%s: need both %s and %s (%v; %v)", f.what, f.certFile, f.keyFile, errCert, errKey)
	}
	cert, err := readCertFile(f.certFile)
	if err != nil {
		return nil, nil, fmt.Errorf("%s certificate: %w", f.what, err)
	}
	key, err := readKeyFile(f.keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("%s key: %w", f.what, err)
	}
	return cert, key, nil
}

// createLeaf writes a new P-256 key and its certificate from the issuing
// CA, with the profile in tmpl (subject, key usages) and certseal's own
// CRL, OCSP and CA addresses under baseURL. The certificate runs as long
// as the issuing CA does: its signatures are checked at their own time,
// and the archive keeps them ten years.
func createLeaf(certFile, keyFile string, ca *CA, baseURL string, now time.Time, tmpl *x509.Certificate) error {
	base, err := pkiBase(baseURL)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	if tmpl.SubjectKeyId, err = subjectKeyID(key.Public()); err != nil {
		return err
	}
	tmpl.SerialNumber = randomSerial()
	tmpl.NotBefore = now.Add(-time.Minute).Truncate(time.Second)
	tmpl.NotAfter = ca.issuing.NotAfter
	tmpl.BasicConstraintsValid = true
	tmpl.CRLDistributionPoints = []string{base + PathCRL}
	tmpl.OCSPServer = []string{base + PathOCSP} // the responder vouches for it (Responder.Vouch)
	tmpl.IssuingCertificateURL = []string{base + PathIssuing}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.issuing, key.Public(), ca.key)
	if err != nil {
		return fmt.Errorf("certify the key: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := ensureDir(filepath.Dir(keyFile)); err != nil {
		return err
	}
	if err := ensureDir(filepath.Dir(certFile)); err != nil {
		return err
	}
	if err := writeNewFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	if err := writeNewFile(certFile, pemCert(der), 0o644); err != nil {
		os.Remove(keyFile)
		return err
	}
	return nil
}
