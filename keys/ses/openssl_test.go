package ses

import (
	"bytes"
	"encoding/hex"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emmansun/gmsm/sm3"
)

// needOpenSSL skips without openssl, except under CI=true where a missing
// tool is a failure.
func needOpenSSL(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("openssl is not installed (CI=true: needed for the independent SM2 check)")
		}
		t.Skip("openssl is not installed; skipping the independent SM2/SM3 check")
	}
	return path
}

func openssl(t *testing.T, bin string, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// OpenSSL 3's own SM2 and SM3, not gmsm, check a seal signature: the
// signer's SM2 signature over TBS_Sign with the distinguishing ID that
// GM/T 0009 makes the default (given explicitly, so the check does not
// rest on OpenSSL's default), the maker's over SES_SealInfo, and dataHash
// as SM3 of the signed data. A flipped byte must fail the same command.
func TestOpenSSLVerifiesSignature(t *testing.T) {
	bin := needOpenSSL(t)
	f := newFixture(t)
	data := []byte("%PDF-1.7 the signed certificate\n%%EOF\n")
	hash := sm3.Sum(data)
	der, err := Sign(f.seal, f.signerCert, f.signer, SignParams{Time: at, DataHash: hash[:], Property: "/v/2026-1"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSignature(der)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// The public keys come out of the certificates by OpenSSL's parser.
	pubOf := func(name string, cert []byte) string {
		c := write(name+".crt", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert}))
		return write(name+".pub", []byte(openssl(t, bin, "x509", "-in", c, "-noout", "-pubkey")))
	}
	verify := func(pub, msg, sig string) (string, error) {
		out, err := exec.Command(bin, "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-in", msg, "-sigfile", sig,
			"-digest", "sm3", "-pkeyopt", "distid:1234567812345678").CombinedOutput()
		return string(out), err
	}
	signerPub, makerPub := pubOf("signer", s.Cert), pubOf("maker", s.ToSign.ESeal.Cert)
	tbs, sig := write("tbs.der", s.ToSign.Raw), write("sig.der", s.Signature.Bytes)
	if out, err := verify(signerPub, tbs, sig); err != nil || !strings.Contains(out, "Signature Verified Successfully") {
		t.Errorf("openssl does not verify the SES_Signature: %v\n%s", err, out)
	}
	info, sealSig := write("sealinfo.der", s.ToSign.ESeal.Info.Raw), write("sealsig.der", s.ToSign.ESeal.SignedValue.Bytes)
	if out, err := verify(makerPub, info, sealSig); err != nil || !strings.Contains(out, "Signature Verified Successfully") {
		t.Errorf("openssl does not verify the SES_Seal's maker signature: %v\n%s", err, out)
	}
	tampered := bytes.Clone(s.ToSign.Raw)
	tampered[len(tampered)-1] ^= 1
	if out, err := verify(signerPub, write("tampered.der", tampered), sig); err == nil {
		t.Errorf("openssl verifies a changed TBS_Sign:\n%s", out)
	}
	// Another ID changes Z_A, so the signature must not verify under it:
	// the ID is really part of what was signed.
	out, err := exec.Command(bin, "pkeyutl", "-verify", "-pubin", "-inkey", signerPub, "-rawin", "-in", tbs, "-sigfile", sig,
		"-digest", "sm3", "-pkeyopt", "distid:1234567812345679").CombinedOutput()
	if err == nil {
		t.Errorf("openssl verifies under another distinguishing ID:\n%s", out)
	}
	got := openssl(t, bin, "dgst", "-sm3", "-r", write("data.pdf", data))
	if h, _, _ := strings.Cut(got, " "); h != hex.EncodeToString(s.ToSign.DataHash.Bytes) {
		t.Errorf("openssl dgst -sm3 = %s, dataHash %x", h, s.ToSign.DataHash.Bytes)
	}
}
