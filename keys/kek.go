package keys

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// KEKSize is the size of the key-encryption key in bytes.
const KEKSize = 32

// KEK is the key-encryption key under which seal keys are stored. It keeps
// only what it derives from the 32 secret bytes (the AES-256-GCM cipher
// that wraps seal keys and a public fingerprint), so printing or logging a
// KEK by mistake shows no key bytes.
type KEK struct {
	aead cipher.AEAD
	id   [8]byte
	pii  []byte // key for personal data in the registry (registry.NewPII)
	page []byte // key for answers kept in a shared cache (rediscache)
	link []byte // key that signs holders' download links
	peer []byte // key of the hash of verifiers' addresses
}

// PersonalDataKey is the secret under which the registry seals personal
// data (ID numbers, photos): derived from the KEK, so the operator keeps one
// secret, yet independent of the seal-key wrapping key.
func (k *KEK) PersonalDataKey() []byte { return bytes.Clone(k.pii) }

// SharedCacheKey is the key under which a cache shared by the replicas
// (Redis) seals the verification answers it holds: they carry holders'
// names and photos. Derived from the KEK, so every replica has it.
func (k *KEK) SharedCacheKey() []byte { return bytes.Clone(k.page) }

// DownloadLinkKey signs the short-lived links that let a holder download
// their certificate PDF without an API key: derived from the KEK, so every
// replica accepts a link another made.
func (k *KEK) DownloadLinkKey() []byte { return bytes.Clone(k.link) }

// VerifierHashKey keys the hash kept of a verifier's address in the
// holder's list of verifications (never the address itself).
func (k *KEK) VerifierHashKey() []byte { return bytes.Clone(k.peer) }

// ID is a fingerprint of the KEK (16 hex digits): safe to log and stored in
// every sealed key, so a key sealed under another KEK is named as such.
func (k *KEK) ID() string { return hex.EncodeToString(k.id[:]) }

func newKEK(secret []byte) (*KEK, error) {
	if len(secret) != KEKSize {
		return nil, fmt.Errorf("a key-encryption key has %d bytes, not %d", KEKSize, len(secret))
	}
	// Separate keys for wrapping and for the fingerprint, so the published
	// fingerprint says nothing about the wrapping key.
	wrap, err := hkdf.Key(sha256.New, secret, nil, "certseal seal-key wrapping v1", 32)
	if err != nil {
		return nil, err
	}
	fp, err := hkdf.Key(sha256.New, secret, nil, "certseal kek fingerprint v1", 8)
	if err != nil {
		return nil, err
	}
	pii, err := hkdf.Key(sha256.New, secret, nil, "certseal personal data v1", 32)
	if err != nil {
		return nil, err
	}
	page, err := hkdf.Key(sha256.New, secret, nil, "certseal shared cache v1", 32)
	if err != nil {
		return nil, err
	}
	link, err := hkdf.Key(sha256.New, secret, nil, "certseal download links v1", 32)
	if err != nil {
		return nil, err
	}
	peer, err := hkdf.Key(sha256.New, secret, nil, "certseal verifier hash v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(wrap)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	clear(wrap)
	k := &KEK{aead: aead, pii: pii, page: page, link: link, peer: peer}
	copy(k.id[:], fp)
	return k, nil
}

// parseKEKFile reads the file format: 64 hex digits (32 bytes), surrounding
// whitespace allowed, as `openssl rand -hex 32 > kek` writes it. Errors never
// quote the content.
func parseKEKFile(data []byte) ([]byte, error) {
	s := bytes.TrimSpace(data)
	if len(s) != 2*KEKSize {
		return nil, fmt.Errorf("must hold %d hex digits (%d bytes), it holds %d characters", 2*KEKSize, KEKSize, len(s))
	}
	secret := make([]byte, KEKSize)
	if _, err := hex.Decode(secret, s); err != nil {
		return nil, errors.New("must hold only hex digits")
	}
	return secret, nil
}

// LoadKEK reads the key-encryption key from path: 64 hex digits, in a file
// that group and others cannot access (mode 0600 or stricter).
func LoadKEK(path string) (*KEK, error) {
	data, err := readSecretFile(path)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	secret, err := parseKEKFile(data)
	clear(data)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key file %s: %w", path, err)
	}
	defer clear(secret)
	return newKEK(secret)
}

// LoadOrCreateKEK is LoadKEK, except that when path does not exist it first
// writes a new random key there (mode 0600) and warns: from then on that
// file is what keeps every seal key readable, and it must be backed up apart
// from the database.
func LoadOrCreateKEK(path string, logger *slog.Logger) (*KEK, error) {
	logger = orDiscard(logger)
	created, err := createKEKFile(path)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	k, err := LoadKEK(path)
	if err != nil {
		return nil, err
	}
	if created {
		logger.Warn("CREATED A NEW KEY-ENCRYPTION KEY: seal keys are encrypted under it. Back the file up apart from the database; without it no seal can sign again. In production the operator supplies this key",
			"path", path, "kek_id", k.ID())
	}
	return k, nil
}

// createKEKFile writes a new random key to path unless a file is there.
func createKEKFile(path string) (bool, error) {
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	if err := ensureDir(filepath.Dir(path)); err != nil {
		return false, err
	}
	secret := make([]byte, KEKSize)
	rand.Read(secret) // never fails (crypto/rand)
	text := []byte(hex.EncodeToString(secret) + "\n")
	clear(secret)
	err := writeNewFile(path, text, 0o600)
	clear(text)
	if errors.Is(err, fs.ErrExist) { // another process created it first: use that one
		return false, nil
	}
	return err == nil, err
}

// String and GoString print the fingerprint only: a KEK in a log line must
// not show the keys it holds.
func (k *KEK) String() string   { return "KEK(" + k.ID() + ")" }
func (k *KEK) GoString() string { return k.String() }
