package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDevCA(t *testing.T) {
	logger, logs := newLogger()
	dir := filepath.Join(t.TempDir(), "pki")
	now := time.Now()

	ca, err := LoadOrCreateDevCA(dir, logger, now)
	if err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]os.FileMode{RootCertFile: 0o644, IssuingCertFile: 0o644, IssuingKeyFile: 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s has mode %04o, want %04o", name, fi.Mode().Perm(), mode)
		}
	}
	mustContain(t, "log after creation", logs.String(), "level=WARN", "NOT FOR PRODUCTION", "created=true")
	if err := ca.Verify(ca.Issuing(), now); err != nil {
		t.Errorf("issuing CA does not chain to the root: %v", err)
	}
	if !ca.Issuing().IsCA || ca.Issuing().MaxPathLen != 0 || !ca.Issuing().MaxPathLenZero {
		t.Error("issuing CA must be a CA that issues only end-entity certificates")
	}
	if _, err := os.Stat(filepath.Join(dir, "root.key")); !errors.Is(err, os.ErrNotExist) {
		t.Error("the root key was kept")
	}

	again, err := LoadOrCreateDevCA(dir, logger, now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if string(again.Root().Raw) != string(ca.Root().Raw) || string(again.Issuing().Raw) != string(ca.Issuing().Raw) {
		t.Error("second start made a new CA instead of loading the first")
	}
	if !publicKeysEqual(again.key.Public(), ca.key.Public()) {
		t.Error("second start loaded another issuing key")
	}
	if got := strings.Count(logs.String(), "NOT FOR PRODUCTION"); got != 2 {
		t.Errorf("%d development-CA warnings after two starts, want one per start", got)
	}
	mustContain(t, "log after reload", logs.String(), "created=false")
	if pem, _ := pem.Decode(ca.RootPEM()); pem == nil || string(pem.Bytes) != string(ca.Root().Raw) {
		t.Error("RootPEM does not hold the root certificate")
	}
	if pem, _ := pem.Decode(ca.IssuingPEM()); pem == nil || string(pem.Bytes) != string(ca.Issuing().Raw) {
		t.Error("IssuingPEM does not hold the issuing certificate")
	}
}

func TestDevCAIncomplete(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadOrCreateDevCA(dir, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, IssuingKeyFile)); err != nil {
		t.Fatal(err)
	}
	_, err := LoadOrCreateDevCA(dir, nil, time.Now())
	if err == nil || !strings.Contains(err.Error(), "incomplete") || !strings.Contains(err.Error(), IssuingKeyFile) {
		t.Fatalf("error %v, want one about the missing %s", err, IssuingKeyFile)
	}
	if _, err := os.Stat(filepath.Join(dir, IssuingKeyFile)); !errors.Is(err, os.ErrNotExist) {
		t.Error("an incomplete CA was silently completed with a new key")
	}
}

func TestLoadDevCANeverCreates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	if _, err := LoadDevCA(dir, nil, time.Now()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadDevCA of an empty place: %v, want fs.ErrNotExist", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadDevCA left %s behind (%v)", dir, err)
	}
	made, err := LoadOrCreateDevCA(dir, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadDevCA(dir, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !loaded.Root().Equal(made.Root()) {
		t.Error("LoadDevCA loaded another root than the one created")
	}
}

// caParts builds CA certificates for LoadCA tests.
type caParts struct {
	root, issuing       *x509.Certificate
	rootKey, issuingKey *ecdsa.PrivateKey
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func caTemplate(cn string, now time.Time) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber: randomSerial(), Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(5, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true, IsCA: true,
	}
}

func signCert(t *testing.T, tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) *x509.Certificate {
	t.Helper()
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLoadCARefuses(t *testing.T) {
	now := time.Now()
	good := func(t *testing.T, change func(issTmpl *x509.Certificate)) caParts {
		p := caParts{rootKey: newKey(t), issuingKey: newKey(t)}
		p.root = signCert(t, caTemplate("root", now), nil, p.rootKey.Public(), p.rootKey)
		tmpl := caTemplate("issuing", now)
		if change != nil {
			change(tmpl)
		}
		p.issuing = signCert(t, tmpl, p.root, p.issuingKey.Public(), p.rootKey)
		return p
	}
	keyPEM := func(t *testing.T, k crypto.Signer) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	type files struct {
		root, issuing, key []byte
		keyMode            os.FileMode
	}
	from := func(t *testing.T, p caParts) files {
		return files{pemCert(p.root.Raw), pemCert(p.issuing.Raw), keyPEM(t, p.issuingKey), 0o600}
	}
	tests := []struct {
		name  string
		files func(t *testing.T) files
		want  string
	}{
		{"key of another certificate", func(t *testing.T) files {
			f := from(t, good(t, nil))
			f.key = keyPEM(t, newKey(t))
			return f
		}, ErrKeyMismatch.Error()},
		{"issuing not signed by the root", func(t *testing.T) files {
			f := from(t, good(t, nil))
			f.root = pemCert(good(t, nil).root.Raw)
			return f
		}, "does not chain to the root"},
		{"issuing not a CA", func(t *testing.T) files {
			return from(t, good(t, func(c *x509.Certificate) { c.IsCA = false }))
		}, "issuing certificate is not a CA"},
		{"issuing may not sign CRLs", func(t *testing.T) files {
			return from(t, good(t, func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageCertSign }))
		}, "keyCertSign and cRLSign"},
		{"issuing expired", func(t *testing.T) files {
			return from(t, good(t, func(c *x509.Certificate) { c.NotAfter = now.Add(-time.Minute) }))
		}, "expired"},
		{"root not self-signed", func(t *testing.T) files {
			p := good(t, nil)
			f := from(t, p)
			f.root = f.issuing
			return f
		}, "root certificate is not self-signed"},
		{"key readable by others", func(t *testing.T) files {
			f := from(t, good(t, nil))
			f.keyMode = 0o644
			return f
		}, "must not be accessible by group or others"},
		{"two certificates in the issuing file", func(t *testing.T) files {
			f := from(t, good(t, nil))
			f.issuing = append(f.issuing, f.root...)
			return f
		}, "more than one certificate"},
		{"key file holds a certificate", func(t *testing.T) files {
			f := from(t, good(t, nil))
			f.key = f.issuing
			return f
		}, "want a private key"},
		{"encrypted key", func(t *testing.T) files {
			f := from(t, good(t, nil))
			f.key = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: []byte{1}})
			return f
		}, "encrypted PEM keys are not supported"},
		{"no certificate", func(t *testing.T) files {
			f := from(t, good(t, nil))
			f.root = []byte("not PEM")
			return f
		}, "no PEM CERTIFICATE block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.files(t)
			dir := t.TempDir()
			paths := []string{filepath.Join(dir, "root.pem"), filepath.Join(dir, "issuing.pem"), filepath.Join(dir, "issuing.key")}
			writeFile(t, paths[0], f.root, 0o644)
			writeFile(t, paths[1], f.issuing, 0o644)
			writeFile(t, paths[2], f.key, f.keyMode)
			_, err := LoadCA(paths[0], paths[1], paths[2], now)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// An operator's CA made with openssl, with the key formats openssl writes
// (SEC 1 for EC, PKCS#1 for RSA), loads and issues seal certificates that
// openssl verifies, and signs CRLs openssl accepts.
func TestLoadCAFromOpenSSL(t *testing.T) {
	openssl := func(t *testing.T, args ...string) {
		t.Helper()
		if out, err := runTool(t, "openssl", args...); err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	const cnf = `[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[root_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[iss_ext]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
`
	for _, tt := range []struct {
		name   string
		genKey []string // writes iss.key
		pemTag string
	}{
		{"ec-sec1", []string{"ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out"}, "EC PRIVATE KEY"},
		{"rsa-pkcs1", []string{"genrsa", "-traditional", "-out"}, "RSA PRIVATE KEY"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := func(name string) string { return filepath.Join(dir, name) }
			writeFile(t, p("ca.cnf"), []byte(cnf), 0o644)
			openssl(t, "req", "-x509", "-config", p("ca.cnf"), "-extensions", "root_ext", "-newkey", "ec",
				"-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", p("root.key"), "-out", p("root.crt"),
				"-subj", "/C=CN/O=Operator/CN=Operator Root", "-days", "3650")
			genArgs := append(append([]string{}, tt.genKey...), p("iss.key"))
			if tt.name == "rsa-pkcs1" {
				genArgs = append(genArgs, "2048")
			}
			openssl(t, genArgs...)
			openssl(t, "req", "-new", "-config", p("ca.cnf"), "-key", p("iss.key"), "-subj", "/C=CN/O=Operator/CN=Operator Issuing", "-out", p("iss.csr"))
			openssl(t, "x509", "-req", "-in", p("iss.csr"), "-CA", p("root.crt"), "-CAkey", p("root.key"), "-set_serial", "4660",
				"-days", "3650", "-extfile", p("ca.cnf"), "-extensions", "iss_ext", "-out", p("iss.crt"))
			if err := os.Chmod(p("iss.key"), 0o600); err != nil {
				t.Fatal(err)
			}
			if data, _ := os.ReadFile(p("iss.key")); !strings.Contains(string(data), tt.pemTag) {
				t.Fatalf("openssl wrote no %s", tt.pemTag)
			}

			now := time.Now()
			ca, err := LoadCA(p("root.crt"), p("iss.crt"), p("iss.key"), now)
			if err != nil {
				t.Fatal(err)
			}
			seal := newSeal(t, ca, newTestKeys(t), 1, testUnit, 1, ECDSAP256, now, testBase)
			writeFile(t, p("seal.pem"), pemCert(seal.CertDER), 0o644)
			openssl(t, "verify", "-CAfile", p("root.crt"), "-untrusted", p("iss.crt"), p("seal.pem"))

			rsp, err := NewResponder(ca, newFakeSource(seal), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			crl, err := rsp.CRL(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, p("crl.der"), crl, 0o644)
			writeFile(t, p("chain.pem"), append(ca.IssuingPEM(), ca.RootPEM()...), 0o644)
			openssl(t, "crl", "-inform", "DER", "-in", p("crl.der"), "-CAfile", p("chain.pem"), "-noout")
		})
	}
}
