package keys

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/certseal/certseal/registry"
)

func TestLoadOrCreateKEK(t *testing.T) {
	logger, logs := newLogger()
	path := filepath.Join(t.TempDir(), "secrets", "kek")

	first, err := LoadOrCreateKEK(path, logger)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("new KEK file has mode %04o, want 0600", fi.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	secret, err := parseKEKFile(data)
	if err != nil || len(secret) != KEKSize {
		t.Fatalf("new KEK file does not hold %d hex bytes: %v", KEKSize, err)
	}
	created := logs.String()
	mustContain(t, "log after creation", created, "level=WARN", "CREATED A NEW KEY-ENCRYPTION KEY", "kek_id="+first.ID())

	second, err := LoadOrCreateKEK(path, logger)
	if err != nil {
		t.Fatal(err)
	}
	if second.ID() != first.ID() {
		t.Errorf("reloaded KEK id %s, want %s", second.ID(), first.ID())
	}
	if logs.String() != created {
		t.Errorf("loading an existing KEK logged a creation warning again:\n%s", logs.String())
	}
	// The same key, not just the same id: what one seals the other opens.
	pub, blob, err := NewSoftwareKeys(first).GenerateSealKey(context.Background(), ECDSAP256, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := NewSoftwareKeys(second).Signer(context.Background(), registry.Seal{ID: 1, UnitID: 1, Version: 1, State: registry.SealActive, KeyBlob: blob})
	if err != nil {
		t.Fatalf("reloaded KEK does not open what the first sealed: %v", err)
	}
	if !publicKeysEqual(signer.Public(), pub) {
		t.Error("reopened key differs from the generated one")
	}
	// The derived keys: the same from the same KEK, apart from each other.
	if !bytes.Equal(first.SharedCacheKey(), second.SharedCacheKey()) || len(first.SharedCacheKey()) != 32 {
		t.Error("the shared-cache key is not the same 32 bytes from the same KEK")
	}
	if bytes.Equal(first.SharedCacheKey(), first.PersonalDataKey()) {
		t.Error("the shared-cache key is the personal-data key")
	}
}

func TestLoadKEKRefuses(t *testing.T) {
	good := strings.Repeat("ab", KEKSize) + "\n"
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		dir     bool
		want    string
	}{
		{name: "group-readable", content: good, mode: 0o640, want: "must not be accessible by group or others"},
		{name: "world-readable", content: good, mode: 0o644, want: "mode 0644"},
		{name: "group-writable", content: good, mode: 0o620, want: "chmod 600"},
		{name: "short", content: strings.Repeat("ab", KEKSize-1), mode: 0o600, want: "must hold 64 hex digits"},
		{name: "long", content: strings.Repeat("ab", KEKSize+1), mode: 0o600, want: "it holds 66 characters"},
		{name: "raw bytes", content: strings.Repeat("\x01", KEKSize), mode: 0o600, want: "must hold 64 hex digits"},
		{name: "not hex", content: strings.Repeat("zz", KEKSize), mode: 0o600, want: "only hex digits"},
		{name: "empty", content: "", mode: 0o600, want: "holds 0 characters"},
		{name: "directory", dir: true, want: "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kek")
			if tt.dir {
				os.Mkdir(path, 0o700)
			} else {
				writeFile(t, path, []byte(tt.content), tt.mode)
			}
			for _, load := range []func(string) (*KEK, error){
				LoadKEK,
				func(p string) (*KEK, error) { return LoadOrCreateKEK(p, nil) },
			} {
				_, err := load(path)
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want one containing %q", err, tt.want)
				}
				if !strings.Contains(err.Error(), path) {
					t.Errorf("error %q does not name the file", err)
				}
				if tt.content != "" && strings.Contains(err.Error(), strings.TrimSpace(tt.content)) {
					t.Errorf("error quotes the file's content: %v", err)
				}
			}
		})
	}
}

func TestLoadKEKMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek")
	if _, err := LoadKEK(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadKEK of a missing file: %v, want a not-exist error", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Error("LoadKEK created a file; only LoadOrCreateKEK may")
	}
}

// A KEK printed by mistake, with any verb, must not show the secret nor the
// derived wrapping key.
func TestKEKPrintsNoSecret(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek")
	kek, err := LoadOrCreateKEK(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	secretHex := strings.TrimSpace(string(data))
	secret, _ := hex.DecodeString(secretHex)
	km := NewSoftwareKeys(kek)
	for _, verb := range []string{"%v", "%+v", "%#v", "%x", "%d", "%s"} {
		for _, v := range []any{kek, *kek, km} {
			out := fmt.Sprintf(verb, v)
			if strings.Contains(strings.ToLower(out), secretHex) || strings.Contains(out, string(secret)) ||
				strings.Contains(out, fmt.Sprint(secret)) {
				t.Errorf("Sprintf(%q, %T) shows the KEK: %s", verb, v, out)
			}
		}
	}
}

// The derived keys are stable for one KEK and apart from each other and
// from the KEK itself, so one leaking says nothing of the others.
func TestKEKDerivedKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek")
	kek, err := LoadOrCreateKEK(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadKEK(path)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	secret, _ := hex.DecodeString(strings.TrimSpace(string(data)))
	derived := map[string][2][]byte{
		"personal data": {kek.PersonalDataKey(), again.PersonalDataKey()},
		"shared cache":  {kek.SharedCacheKey(), again.SharedCacheKey()},
		"download link": {kek.DownloadLinkKey(), again.DownloadLinkKey()},
		"verifier hash": {kek.VerifierHashKey(), again.VerifierHashKey()},
	}
	seen := map[string]string{string(secret): "the KEK"}
	for name, k := range derived {
		if len(k[0]) != 32 || !bytes.Equal(k[0], k[1]) {
			t.Errorf("%s key: %d bytes, stable %v", name, len(k[0]), bytes.Equal(k[0], k[1]))
		}
		if other, dup := seen[string(k[0])]; dup {
			t.Errorf("%s key equals %s", name, other)
		}
		seen[string(k[0])] = name
	}
}
