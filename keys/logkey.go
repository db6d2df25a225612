package keys

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// LogKey signs the transparency log's checkpoints: an Ed25519 note key
// (golang.org/x/mod/sumdb/note) whose name is the log's origin line.
type LogKey struct {
	signer   note.Signer
	verifier note.Verifier
	vkey     string
}

// Signer signs checkpoints.
func (k *LogKey) Signer() note.Signer { return k.signer }

// Verifier checks checkpoints signed by this key.
func (k *LogKey) Verifier() note.Verifier { return k.verifier }

// VerifierKey is the public key in note form (origin+hash+key), what an
// auditor is given to check checkpoints with.
func (k *LogKey) VerifierKey() string { return k.vkey }

// Origin is the log's name, the first line of its checkpoints.
func (k *LogKey) Origin() string { return k.signer.Name() }

// LogOrigin is the origin a new log key gets from the public address: its
// host and path, then /log (C2SP asks for a schema-less URL).
func LogOrigin(baseURL string) (string, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("log origin: base URL %q has no host", baseURL)
	}
	return u.Host + strings.TrimRight(u.Path, "/") + "/log", nil
}

// OpenOperatorLogKey reads the operator's log key: a file holding the note
// private key (PRIVATE+KEY+origin+hash+key, as note.GenerateKey writes it
// and `certseal log keygen` prints it), mode 0600.
func OpenOperatorLogKey(path string) (*LogKey, error) {
	data, err := readSecretFile(path)
	if err != nil {
		return nil, fmt.Errorf("log key: %w", err)
	}
	defer clear(data)
	k, err := logKeyFrom(string(bytes.TrimSpace(data)))
	if err != nil {
		return nil, fmt.Errorf("log key file %s: %w", path, err)
	}
	return k, nil
}

// OpenDevLogKey loads the log key kept at path sealed under kek (like seal
// keys). Where there is none and create is set, it makes one for origin
// and warns; an inspecting command passes create=false and gets an
// fs.ErrNotExist error instead.
func OpenDevLogKey(path string, kek *KEK, origin string, create bool, logger *slog.Logger) (*LogKey, error) {
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		if !create {
			return nil, fmt.Errorf("no transparency log key at %s: %w", path, err)
		}
		if err := createLogKey(path, kek, origin); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("log key: %w", err)
		}
		orDiscard(logger).Warn("created the transparency log's key: it signs every checkpoint, so back it up with the KEK and give every replica the same key (CERTSEAL_LOG_KEY)",
			"path", path, "origin", origin)
	}
	blob, err := readSecretFile(path)
	if err != nil {
		return nil, fmt.Errorf("log key: %w", err)
	}
	skey, err := openLogBlob(kek, blob)
	if err != nil {
		return nil, fmt.Errorf("log key %s: %w", path, err)
	}
	defer clear(skey)
	return logKeyFrom(string(skey))
}

// GenerateLogKey makes a new note key pair for origin.
func GenerateLogKey(origin string) (skey, vkey string, err error) {
	if skey, vkey, err = note.GenerateKey(rand.Reader, origin); err != nil {
		return "", "", err
	}
	// note makes a key of any name but reads back only valid ones.
	if _, err := note.NewSigner(skey); err != nil {
		return "", "", fmt.Errorf("a log origin has no spaces or '+': %w", err)
	}
	return skey, vkey, nil
}

func createLogKey(path string, kek *KEK, origin string) error {
	skey, _, err := GenerateLogKey(origin)
	if err != nil {
		return err
	}
	if err := ensureDir(filepath.Dir(path)); err != nil {
		return err
	}
	return writeNewFile(path, sealLogBlob(kek, []byte(skey)), 0o600)
}

func logKeyFrom(skey string) (*LogKey, error) {
	s, err := note.NewSigner(skey)
	if err != nil {
		// note's errors never quote the key.
		return nil, fmt.Errorf("not a note private key (PRIVATE+KEY+...): %w", err)
	}
	vkey, err := verifierKeyOf(skey, s.Name())
	if err != nil {
		return nil, err
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, err
	}
	// A key whose checkpoints would not verify must stop the start.
	msg, err := note.Sign(&note.Note{Text: "certseal log key check\n"}, s)
	if err == nil {
		_, err = note.Open(msg, note.VerifierList(v))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: its checkpoints would not verify: %v", ErrKeyMismatch, err)
	}
	return &LogKey{signer: s, verifier: v, vkey: vkey}, nil
}

// A sealed log key:
//
//	"CSL" 0x01 | KEK id (8) | nonce (12) | AES-256-GCM(note private key)
const (
	logBlobMagic  = "CSL\x01"
	logBlobHeader = len(logBlobMagic) + 8 + 12
)

func sealLogBlob(kek *KEK, skey []byte) []byte {
	out := make([]byte, logBlobHeader, logBlobHeader+len(skey)+kek.aead.Overhead())
	copy(out, logBlobMagic)
	copy(out[4:], kek.id[:])
	rand.Read(out[12:logBlobHeader]) // never fails (crypto/rand)
	return kek.aead.Seal(out, out[12:logBlobHeader], skey, out[:logBlobHeader])
}

func openLogBlob(kek *KEK, blob []byte) ([]byte, error) {
	if len(blob) < logBlobHeader+kek.aead.Overhead() || string(blob[:4]) != logBlobMagic {
		return nil, fmt.Errorf("%w: %d bytes, not a certseal sealed log key", ErrCorruptBlob, len(blob))
	}
	if id := blob[4:12]; !bytes.Equal(id, kek.id[:]) {
		return nil, fmt.Errorf("%w: sealed under KEK %s, this service has KEK %s", ErrWrongKEK, hex.EncodeToString(id), kek.ID())
	}
	plain, err := kek.aead.Open(nil, blob[12:logBlobHeader], blob[logBlobHeader:], blob[:logBlobHeader])
	if err != nil {
		return nil, fmt.Errorf("%w: authentication failed", ErrCorruptBlob)
	}
	return plain, nil
}

// verifierKeyOf derives the public note key from a private one (note has
// no call for it): PRIVATE+KEY+name+hash+base64(0x01 | Ed25519 seed).
func verifierKeyOf(skey, name string) (string, error) {
	parts := strings.SplitN(skey, "+", 5) // the key's base64 may hold '+'
	if len(parts) != 5 {
		return "", errors.New("not an Ed25519 note private key")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return "", errors.New("not an Ed25519 note private key")
	}
	defer clear(raw)
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	return note.NewEd25519VerifierKey(name, pub)
}
