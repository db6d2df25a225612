package keys

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certseal/certseal/registry"
)

// Nothing this package logs, nor any error it returns that the service will
// log, holds key material: not the KEK, not the issuing CA key, not a seal
// key, in PEM, hex, base64 or decimal.
func TestLogsHoldNoKeyMaterial(t *testing.T) {
	ctx := context.Background()
	logger, logs := newLogger()
	dir := t.TempDir()
	now := time.Now()

	kek, err := LoadOrCreateKEK(filepath.Join(dir, "kek"), logger)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := LoadOrCreateDevCA(filepath.Join(dir, "pki"), logger, now)
	if err != nil {
		t.Fatal(err)
	}
	km := NewSoftwareKeys(kek)
	ecSeal := newSeal(t, ca, km, 1, testUnit, 1, ECDSAP256, now, testBase)
	rsaSeal := newSeal(t, ca, km, 2, testUnit, 2, RSA2048, now, testBase)

	// Everything that fails, logged as the service would log it.
	logErr := func(msg string, err error) {
		if err == nil {
			t.Fatalf("%s: no error", msg)
		}
		logger.Error(msg, "err", err)
	}
	for _, s := range []registry.Seal{ecSeal, rsaSeal} {
		_, err := newTestKeys(t).Signer(ctx, s)
		logErr("wrong KEK", err)
		corrupt := s
		corrupt.KeyBlob = append([]byte(nil), s.KeyBlob...)
		corrupt.KeyBlob[len(corrupt.KeyBlob)-1] ^= 1
		_, err = km.Signer(ctx, corrupt)
		logErr("corrupt blob", err)
		moved := s
		moved.UnitID++
		_, err = km.Signer(ctx, moved)
		logErr("moved blob", err)
	}
	mismatch := ecSeal
	mismatch.CertDER, mismatch.Serial = rsaSeal.CertDER, rsaSeal.Serial
	logErr("mismatch", CheckSealKeys(ctx, km, []registry.Seal{mismatch}))
	_, err = LoadCA(filepath.Join(dir, "pki", RootCertFile), filepath.Join(dir, "pki", IssuingCertFile), filepath.Join(dir, "kek"), now)
	logErr("KEK file given as the CA key", err)

	odd := rsaSeal
	odd.State, odd.RevokedAt, odd.Reason = registry.SealRevoked, &now, "stolen"
	src := newFakeSource(ecSeal, odd)
	rsp, err := NewResponder(ca, src, logger, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rsp.CRL(ctx); err != nil { // warns about the odd reason
		t.Fatal(err)
	}
	src.fail(errors.New("database down"))
	rsp.Invalidate()
	req := ocspRequestFor(t, ca, ecSeal)
	rsp.ocspResponse(ctx, req) // logs the failure
	_, err = rsp.CRL(ctx)
	logErr("CRL", err)

	text := logs.String()
	mustContain(t, "log", text, "CREATED A NEW KEY-ENCRYPTION KEY", "DEVELOPMENT CA", "not an RFC 5280 name",
		"OCSP response failed", ErrWrongKEK.Error(), ErrCorruptBlob.Error(), ErrForeignBlob.Error(), ErrKeyMismatch.Error())

	secrets := map[string][]byte{}
	kekFile, _ := os.ReadFile(filepath.Join(dir, "kek"))
	kekBytes, _ := hex.DecodeString(strings.TrimSpace(string(kekFile)))
	secrets["KEK"] = kekBytes
	scalars := map[string]*big.Int{}
	addKey := func(name string, key any) {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		secrets[name] = der
		switch k := key.(type) {
		case *ecdsa.PrivateKey:
			d, _ := k.Bytes()
			secrets[name+" scalar"] = d
			scalars[name+" scalar"] = new(big.Int).SetBytes(d)
		case *rsa.PrivateKey:
			secrets[name+" exponent"] = k.D.Bytes()
			scalars[name+" exponent"], scalars[name+" prime"] = k.D, k.Primes[0]
		}
	}
	issuingKey, err := readKeyFile(filepath.Join(dir, "pki", IssuingKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	addKey("issuing key", issuingKey)
	for _, s := range []registry.Seal{ecSeal, rsaSeal} {
		key, err := openBlob(kek, s.KeyBlob, s.UnitID, s.Version)
		if err != nil {
			t.Fatal(err)
		}
		addKey(fmt.Sprintf("seal %d key", s.ID), key)
	}
	for name, n := range scalars {
		if strings.Contains(text, n.String()[:24]) {
			t.Errorf("log holds the %s in decimal", name)
		}
	}
	if strings.Contains(text, "PRIVATE KEY") {
		t.Error("log holds a PEM private key")
	}
	for name, b := range secrets {
		if enc := leakedIn(text, b); enc != "" {
			t.Errorf("log holds the %s in %s", name, enc)
		}
	}
}

// leakedIn names the encoding in which secret shows in text, or returns "".
// It looks for 16-byte windows every 8 bytes, so any 24 bytes of the secret
// (too many to occur by chance) are found.
func leakedIn(text string, secret []byte) string {
	if b64 := base64.StdEncoding.EncodeToString(secret); strings.Contains(text, b64[8:40]) {
		return "base64"
	}
	lower := strings.ToLower(text)
	for i := 0; i+16 <= len(secret); i += 8 {
		w := secret[i : i+16]
		switch {
		case strings.Contains(lower, hex.EncodeToString(w)):
			return "hex"
		case strings.Contains(text, string(w)):
			return "raw bytes"
		case strings.Contains(text, strings.Trim(fmt.Sprint(w), "[]")):
			return "a printed byte slice"
		}
	}
	return ""
}
