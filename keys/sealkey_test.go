package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/certseal/certseal/registry"
)

func TestGenerateSealKeyAndSign(t *testing.T) {
	ctx := context.Background()
	km := newTestKeys(t)
	for _, tt := range []struct {
		alg  Alg
		want string
	}{{ECDSAP256, "*ecdsa.PublicKey"}, {RSA2048, "*rsa.PublicKey"}, {"", "*ecdsa.PublicKey"}} {
		t.Run(string(tt.alg), func(t *testing.T) {
			pub, blob, err := km.GenerateSealKey(ctx, tt.alg, 3, 2)
			if err != nil {
				t.Fatal(err)
			}
			seal := registry.Seal{ID: 11, UnitID: 3, Version: 2, State: registry.SealActive, KeyBlob: blob}
			signer, err := km.Signer(ctx, seal)
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprintf("%T", signer.Public()); got != tt.want || !publicKeysEqual(signer.Public(), pub) {
				t.Fatalf("signer's public key is %s (equal to generated: %v), want the generated %s", got, publicKeysEqual(signer.Public(), pub), tt.want)
			}
			switch signer.(type) {
			case *ecdsa.PrivateKey, *rsa.PrivateKey:
				t.Fatal("Signer hands out the private key itself")
			}
			digest := sha256.Sum256([]byte("certificate pdf"))
			sig, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			var ok bool
			switch k := pub.(type) {
			case *ecdsa.PublicKey:
				ok = ecdsa.VerifyASN1(k, digest[:], sig)
			case *rsa.PublicKey:
				ok = rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], sig) == nil
			}
			if !ok {
				t.Error("signature does not verify with the generated public key")
			}
			again, err := km.Signer(ctx, seal)
			if err != nil || again != signer {
				t.Errorf("second Signer call did not return the cached signer (err %v)", err)
			}
		})
	}
}

// A seal row whose blob changed under the same id (a restored backup, a
// re-keyed seal) is opened again, not served from the cache.
func TestSignerCacheFollowsBlob(t *testing.T) {
	ctx := context.Background()
	km := newTestKeys(t)
	seal := registry.Seal{ID: 5, UnitID: 1, Version: 1, State: registry.SealActive}
	for range 2 {
		pub, blob, err := km.GenerateSealKey(ctx, ECDSAP256, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		seal.KeyBlob = blob
		signer, err := km.Signer(ctx, seal)
		if err != nil {
			t.Fatal(err)
		}
		if !publicKeysEqual(signer.Public(), pub) {
			t.Fatal("Signer served a cached key for a changed blob")
		}
	}
}

func TestGenerateSealKeyRefuses(t *testing.T) {
	km := newTestKeys(t)
	for _, tt := range []struct {
		name          string
		alg           Alg
		unit, version int
		want          string
	}{
		{"unknown algorithm", "ed25519", 1, 1, `"ed25519" is not supported`},
		{"version 0", ECDSAP256, 1, 0, "must be positive"},
		{"unit 0", ECDSAP256, 0, 1, "must be positive"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := km.GenerateSealKey(context.Background(), tt.alg, int64(tt.unit), tt.version)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := km.GenerateSealKey(ctx, RSA2048, 1, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("GenerateSealKey with a cancelled context: %v", err)
	}
}

func TestSignerErrors(t *testing.T) {
	ctx := context.Background()
	km := newTestKeys(t)
	_, blob, err := km.GenerateSealKey(ctx, ECDSAP256, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	active := registry.Seal{ID: 42, UnitID: 3, Version: 2, State: registry.SealActive, KeyBlob: blob}
	flip := func(i int) []byte {
		b := append([]byte(nil), blob...)
		b[i] ^= 0x01
		return b
	}
	tests := []struct {
		name string
		km   *SoftwareKeys
		edit func(s *registry.Seal)
		want error
		text string
	}{
		{"ciphertext bit flipped", km, func(s *registry.Seal) { s.KeyBlob = flip(len(blob) - 20) }, ErrCorruptBlob, "authentication failed"},
		{"nonce bit flipped", km, func(s *registry.Seal) { s.KeyBlob = flip(blobHeader - 1) }, ErrCorruptBlob, "authentication failed"},
		{"truncated", km, func(s *registry.Seal) { s.KeyBlob = blob[:blobHeader+3] }, ErrCorruptBlob, "not a certseal sealed key"},
		{"empty", km, func(s *registry.Seal) { s.KeyBlob = nil }, ErrCorruptBlob, "0 bytes"},
		{"not a sealed key", km, func(s *registry.Seal) { s.KeyBlob = []byte(strings.Repeat("x", 200)) }, ErrCorruptBlob, "not a certseal sealed key"},
		{"wrong KEK", newTestKeys(t), nil, ErrWrongKEK, "this service has KEK"},
		{"moved to another unit", km, func(s *registry.Seal) { s.UnitID = 4 }, ErrForeignBlob, "sealed for unit 3 version 2"},
		{"moved to another version", km, func(s *registry.Seal) { s.Version = 3 }, ErrForeignBlob, "sealed for unit 3 version 2"},
		{"binding edited in the header", km, func(s *registry.Seal) {
			s.KeyBlob = flip(19) // unit id 3 -> 2
			s.UnitID = 2
		}, ErrCorruptBlob, "authentication failed"},
		{"revoked seal", km, func(s *registry.Seal) { s.State = registry.SealRevoked }, registry.ErrSealNotActive, "cannot sign"},
		{"superseded seal", km, func(s *registry.Seal) { s.State = registry.SealSuperseded }, registry.ErrSealNotActive, "cannot sign"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := active
			if tt.edit != nil {
				tt.edit(&s)
			}
			_, err := tt.km.Signer(ctx, s)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			msg := err.Error()
			mustContain(t, "error", msg, "seal 42", tt.text)
			if strings.Contains(msg, hex.EncodeToString(blob[blobHeader:blobHeader+8])) {
				t.Errorf("error quotes the sealed key: %s", msg)
			}
		})
	}
	// A refused seal is dropped from the cache: once revoked, the same row
	// made active again by mistake would have to be opened afresh.
	if _, err := km.Signer(ctx, active); err != nil {
		t.Fatal(err)
	}
	revoked := active
	revoked.State = registry.SealRevoked
	km.Signer(ctx, revoked)
	km.mu.RLock()
	_, cached := km.signers[active.ID]
	km.mu.RUnlock()
	if cached {
		t.Error("a revoked seal's signer stayed cached")
	}
}

func TestCheckSealKeys(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	ca := newTestCA(t, now)
	km := newTestKeys(t)
	unit2 := registry.Unit{ID: 8, Name: "威海职业学院", USCC: "12371000MB1234567X"}

	good1 := newSeal(t, ca, km, 1, testUnit, 1, ECDSAP256, now, testBase)
	good2 := newSeal(t, ca, km, 2, unit2, 1, RSA2048, now, testBase)
	if err := CheckSealKeys(ctx, km, []registry.Seal{good1, good2}); err != nil {
		t.Fatalf("good seals fail the check: %v", err)
	}

	other := newSeal(t, ca, km, 3, testUnit, 2, ECDSAP256, now, testBase)
	mismatch := good1 // key of good1, certificate of another key
	mismatch.ID, mismatch.CertDER, mismatch.Serial = 4, other.CertDER, other.Serial
	badSerial := good2
	badSerial.ID, badSerial.Serial = 5, "abc"
	wrongKEK := newSeal(t, ca, newTestKeys(t), 6, unit2, 2, ECDSAP256, now, testBase)
	brokenButRetired := wrongKEK
	brokenButRetired.ID, brokenButRetired.State = 7, registry.SealSuperseded

	err := CheckSealKeys(ctx, km, []registry.Seal{good1, mismatch, badSerial, wrongKEK, brokenButRetired})
	if !errors.Is(err, ErrKeyMismatch) || !errors.Is(err, ErrWrongKEK) {
		t.Fatalf("error %v, want key mismatch and wrong KEK together", err)
	}
	msg := err.Error()
	mustContain(t, "error", msg, "seal 4 (unit 7, version 1)", "seal 5 (unit 8, version 1): certificate serial", "seal 6 (unit 8, version 2)")
	if strings.Contains(msg, "seal 1 ") || strings.Contains(msg, "seal 7 ") {
		t.Errorf("error blames a good or retired seal: %s", msg)
	}
}

func TestParseAlg(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Alg
		ok   bool
	}{{"", ECDSAP256, true}, {"ecdsa-p256", ECDSAP256, true}, {"rsa-2048", RSA2048, true}, {"RSA-2048", "", false}, {"rsa-1024", "", false}} {
		got, err := ParseAlg(tt.in)
		if got != tt.want || (err == nil) != tt.ok {
			t.Errorf("ParseAlg(%q) = %q, %v", tt.in, got, err)
		}
	}
}
