package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// readSecretFile reads a file that holds a key. It refuses a file that
// group or others may access: a key readable by another account is a key
// that may already be copied, and starting quietly would hide that.
func readSecretFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s has mode %04o: a key file must not be accessible by group or others (chmod 600 %s)", path, perm, path)
	}
	return os.ReadFile(path)
}

// writeNewFile creates path with the given mode and fails if it exists, so
// two processes starting at once cannot overwrite each other's keys.
func writeNewFile(path string, data []byte, mode fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return f.Close()
}

// ReadCertFile reads a PEM file holding exactly one certificate (an outside
// TSA's root, say).
func ReadCertFile(path string) (*x509.Certificate, error) { return readCertFile(path) }

// readCertFile reads a PEM file holding exactly one certificate.
func readCertFile(path string) (*x509.Certificate, error) {
	return readPEMCert(path, x509.ParseCertificate)
}

// readPEMCert reads a PEM file holding exactly one certificate, parsed by
// parse (crypto/x509's, or gmsm's for SM2 certificates).
func readPEMCert[C any](path string, parse func([]byte) (*C, error)) (*C, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var cert *C
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("%s: unexpected PEM block %q, want CERTIFICATE", path, b.Type)
		}
		if cert != nil {
			return nil, fmt.Errorf("%s: holds more than one certificate; give exactly one", path)
		}
		if cert, err = parse(b.Bytes); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if cert == nil {
		return nil, fmt.Errorf("%s: no PEM CERTIFICATE block", path)
	}
	return cert, nil
}

// readKeyFile reads a PEM private key (PKCS#8, SEC 1 or PKCS#1, as openssl
// writes them) from a file only its owner may read. Errors never quote the
// file's content.
func readKeyFile(path string) (crypto.Signer, error) {
	b, err := readKeyPEM(path)
	if err != nil {
		return nil, err
	}
	var key any
	switch b.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("%s: unexpected PEM block %q, want a private key", path, b.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: cannot parse the private key: %w", path, err)
	}
	return caSigner(key)
}

// caSigner accepts the key types the CA may use: ECDSA on a NIST curve or RSA
// of at least 2048 bits, the ones every validator and OCSP client knows.
func caSigner(key any) (crypto.Signer, error) {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return k, nil
		}
		return nil, fmt.Errorf("unsupported ECDSA curve %s", k.Curve.Params().Name)
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("RSA key of %d bits is too short (at least 2048)", k.N.BitLen())
		}
		return k, nil
	}
	return nil, fmt.Errorf("unsupported key type %T (want ECDSA or RSA)", key)
}

// readKeyPEM reads the one unencrypted PEM block of a key file only its
// owner may read.
func readKeyPEM(path string) (*pem.Block, error) {
	data, err := readSecretFile(path)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	if _, encrypted := b.Headers["Proc-Type"]; encrypted || b.Type == "ENCRYPTED PRIVATE KEY" {
		return nil, fmt.Errorf("%s: encrypted PEM keys are not supported; protect the file by its permissions", path)
	}
	return b, nil
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func ensureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Clean(dir), err)
	}
	return nil
}

func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
