package registry

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// PII seals personal data (ID numbers, photos) for storage and gives keyed
// hashes for lookups, so the database alone reveals neither.
type PII struct {
	aead   cipher.AEAD
	macKey []byte
}

// NewPII derives an encryption key and a lookup key from a 32-byte secret.
func NewPII(secret []byte) (*PII, error) {
	if len(secret) < 32 {
		return nil, errors.New("registry: PII secret must be at least 32 bytes")
	}
	block, err := aes.NewCipher(derive(secret, "certseal pii encryption"))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &PII{aead: aead, macKey: derive(secret, "certseal pii lookup")}, nil
}

func derive(secret []byte, label string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// Seal encrypts plain with a random nonce (nonce || ciphertext).
func (p *PII) Seal(plain []byte) []byte {
	nonce := make([]byte, p.aead.NonceSize(), p.aead.NonceSize()+len(plain)+p.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic(fmt.Sprintf("registry: no randomness: %v", err)) // crypto/rand never fails on supported systems
	}
	return p.aead.Seal(nonce, nonce, plain, nil)
}

// Open reverses Seal.
func (p *PII) Open(sealed []byte) ([]byte, error) {
	n := p.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("registry: sealed personal data is truncated")
	}
	plain, err := p.aead.Open(nil, sealed[:n], sealed[n:], nil)
	if err != nil {
		return nil, fmt.Errorf("registry: open sealed personal data (wrong key?): %w", err)
	}
	return plain, nil
}

// Hash is a keyed hash of a value for equality lookups.
func (p *PII) Hash(parts ...string) []byte {
	m := hmac.New(sha256.New, p.macKey)
	for _, s := range parts {
		fmt.Fprintf(m, "%d:%s;", len(s), s)
	}
	return m.Sum(nil)
}

// HolderHash is the lookup key of a holder's ID number, by which a
// holder's certificates are found: keyed, so the stored value says nothing
// without the KEK; upper-cased, as the check character X may be typed
// either way.
func (p *PII) HolderHash(idNumber string) []byte {
	return p.Hash("holder", strings.ToUpper(strings.TrimSpace(idNumber)))
}

// DedupKey identifies an appointment independent of its photo and wording
// of free-text fields, so a resubmitted row is recognised.
func (a Appointment) DedupKey(p *PII) []byte {
	return p.Hash(fmt.Sprint(a.UnitID), strings.ToUpper(a.IDNumber), a.Series, string(a.Level),
		a.TermFrom.String(), a.TermTo.String())
}

// MaskIDNumber keeps the first 6 and last 4 characters, as the public page
// shows them.
func MaskIDNumber(id string) string {
	n := utf8.RuneCountInString(id)
	if n <= 10 {
		return strings.Repeat("*", n)
	}
	r := []rune(id)
	return string(r[:6]) + strings.Repeat("*", n-10) + string(r[n-4:])
}
