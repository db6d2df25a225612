package keys

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// File names of the platform's document-signing certificate and key inside
// the PKI directory, where certseal creates them on first start.
const (
	DocSignCertFile = "docsign.crt" // PEM
	DocSignKeyFile  = "docsign.key" // PEM PKCS#8, mode 0600
)

// oidDocumentSigning is the extended key usage documentSigning (RFC 9336).
var oidDocumentSigning = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 36}

// DocSigner is the platform's own document-signing key: it signs what the
// platform itself vouches for (verification receipts), never a
// certificate, which only a unit's seal signs. Its certificate comes from
// the issuing CA with the profile of a seal certificate (digitalSignature,
// nonRepudiation; documentSigning and emailProtection), so validators
// treat its signatures like the seals', and its subject says it is the
// platform's.
type DocSigner struct {
	cert *x509.Certificate
	ca   *CA
	key  crypto.Signer
}

// OpenDocSigner loads the document signer from certFile and keyFile,
// creating both on first start when create is set, as OpenTSA does. It
// refuses a certificate not issued by ca, not fit for signing documents, or
// not matching the key.
func OpenDocSigner(certFile, keyFile string, ca *CA, baseURL string, create bool, logger *slog.Logger, now func() time.Time) (*DocSigner, error) {
	if now == nil {
		now = time.Now
	}
	cert, key, err := openLeaf(leafFiles{what: "platform document signer", certFile: certFile, keyFile: keyFile,
		variables: "CERTSEAL_DOCSIGN_CERT, CERTSEAL_DOCSIGN_KEY", create: create}, logger, now, func(now time.Time) error {
		return createLeaf(certFile, keyFile, ca, baseURL, now, &x509.Certificate{
			Subject: pkix.Name{Country: []string{"CN"}, Organization: ca.issuing.Subject.Organization,
				CommonName: "certseal platform document signer"},
			KeyUsage:           x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
			ExtKeyUsage:        []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
			UnknownExtKeyUsage: []asn1.ObjectIdentifier{oidDocumentSigning},
		})
	})
	if err != nil {
		return nil, err
	}
	d := &DocSigner{cert: cert, ca: ca, key: key}
	if err := d.check(now()); err != nil {
		return nil, fmt.Errorf("platform document signer %s: %w", certFile, err)
	}
	return d, nil
}

func (d *DocSigner) check(now time.Time) error {
	if !publicKeysEqual(d.key.Public(), d.cert.PublicKey) {
		return ErrKeyMismatch
	}
	if d.cert.IsCA || d.cert.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return errors.New("the certificate is not an end entity with key usage digitalSignature")
	}
	documents := false
	for _, u := range d.cert.UnknownExtKeyUsage {
		documents = documents || u.Equal(oidDocumentSigning)
	}
	if !documents {
		return errors.New("the certificate's extended key usage lacks documentSigning")
	}
	return d.ca.Verify(d.cert, now)
}

// Certificate is the document signer's certificate.
func (d *DocSigner) Certificate() *x509.Certificate { return d.cert }

// Chain is the certificate and its issuers up to (not including) the root.
func (d *DocSigner) Chain() []*x509.Certificate { return []*x509.Certificate{d.cert, d.ca.issuing} }

// Signer is the private key, used only through crypto.Signer.
func (d *DocSigner) Signer() crypto.Signer { return d.key }
