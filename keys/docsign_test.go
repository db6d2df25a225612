package keys

import (
	"bytes"
	"crypto/x509"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestOpenDocSigner(t *testing.T) {
	now := time.Now()
	ca := newTestCA(t, now)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, DocSignCertFile), filepath.Join(dir, DocSignKeyFile)
	if _, err := OpenDocSigner(certFile, keyFile, ca, testBase, false, nil, nil); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("an inspecting open of a missing document signer: %v, want fs.ErrNotExist", err)
	}
	first, err := OpenDocSigner(certFile, keyFile, ca, testBase, true, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	again, err := OpenDocSigner(certFile, keyFile, ca, testBase, false, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := first.Certificate()
	if !bytes.Equal(c.Raw, again.Certificate().Raw) {
		t.Fatal("a second start made another document-signing certificate")
	}
	if c.KeyUsage&x509.KeyUsageDigitalSignature == 0 || len(c.ExtKeyUsage) != 1 || c.ExtKeyUsage[0] != x509.ExtKeyUsageEmailProtection ||
		len(c.UnknownExtKeyUsage) != 1 || !c.UnknownExtKeyUsage[0].Equal(oidDocumentSigning) {
		t.Fatalf("profile: key usage %b, EKU %v %v", c.KeyUsage, c.ExtKeyUsage, c.UnknownExtKeyUsage)
	}
	if len(c.OCSPServer) != 1 || c.OCSPServer[0] != testBase+PathOCSP {
		t.Fatalf("OCSP address %v", c.OCSPServer)
	}
	if ch := first.Chain(); len(ch) != 2 || !bytes.Equal(ch[1].Raw, ca.Issuing().Raw) {
		t.Fatalf("chain %v", ch)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", fi.Mode(), err)
	}
	other := newTestCA(t, now)
	if _, err := OpenDocSigner(certFile, keyFile, other, testBase, false, nil, nil); err == nil {
		t.Fatal("a document-signing certificate of another CA was accepted")
	}
	// The TSA's files are not a document signer.
	tsaDir := t.TempDir()
	tsaCert, tsaKey := filepath.Join(tsaDir, TSACertFile), filepath.Join(tsaDir, TSAKeyFile)
	if _, err := OpenTSA(tsaCert, tsaKey, ca, testBase, true, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenDocSigner(tsaCert, tsaKey, ca, testBase, false, nil, nil); err == nil {
		t.Fatal("the TSA's certificate was accepted as the document signer")
	}
	os.Remove(certFile)
	if _, err := OpenDocSigner(certFile, keyFile, ca, testBase, true, nil, nil); err == nil {
		t.Fatal("a key without its certificate was accepted (or replaced)")
	}
}
