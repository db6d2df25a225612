package keys

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

func TestLogOrigin(t *testing.T) {
	for _, tc := range []struct{ base, want string }{
		{"http://127.0.0.1:8080", "127.0.0.1:8080/log"},
		{"https://zc.example.gov.cn/", "zc.example.gov.cn/log"},
		{"https://example.gov.cn/certseal", "example.gov.cn/certseal/log"},
	} {
		got, err := LogOrigin(tc.base)
		if err != nil || got != tc.want {
			t.Errorf("LogOrigin(%q) = %q, %v; want %q", tc.base, got, err, tc.want)
		}
	}
	if _, err := LogOrigin("not a url"); err == nil {
		t.Error("an address without a host gave an origin")
	}
}

func TestDevLogKeySealedUnderKEK(t *testing.T) {
	dir := t.TempDir()
	kek, err := LoadOrCreateKEK(filepath.Join(dir, "kek"), nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "pki", "log.key")
	if _, err := OpenDevLogKey(path, kek, "example.org/log", false, nil); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("an inspecting open made a key: %v", err)
	}
	logger, logs := newLogger()
	k, err := OpenDevLogKey(path, kek, "example.org/log", true, logger)
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, "first-start log", logs.String(), "created the transparency log's key", "CERTSEAL_LOG_KEY")
	blob, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(blob, []byte("PRIVATE+KEY")) || bytes.Contains(blob, []byte("example.org")) {
		t.Error("the log key is stored in clear")
	}
	again, err := OpenDevLogKey(path, kek, "other.org/log", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.VerifierKey() != k.VerifierKey() || again.Origin() != "example.org/log" {
		t.Errorf("reopened key %q, want %q: a key keeps its origin", again.VerifierKey(), k.VerifierKey())
	}
	msg, err := note.Sign(&note.Note{Text: "x\n"}, k.Signer())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(msg, note.VerifierList(again.Verifier())); err != nil {
		t.Errorf("reopened key does not verify what the first signed: %v", err)
	}
	other, err := LoadOrCreateKEK(filepath.Join(dir, "kek2"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenDevLogKey(path, other, "example.org/log", true, nil); !errors.Is(err, ErrWrongKEK) {
		t.Errorf("another KEK opened the log key: %v", err)
	}
}

func TestOperatorLogKey(t *testing.T) {
	skey, vkey, err := GenerateLogKey("zc.example.gov.cn/log")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "log.key")
	writeFile(t, good, []byte(skey+"\n"), 0o600)
	k, err := OpenOperatorLogKey(good)
	if err != nil {
		t.Fatal(err)
	}
	if k.VerifierKey() != vkey {
		t.Errorf("derived verifier key %q, note made %q", k.VerifierKey(), vkey)
	}
	for _, tc := range []struct {
		name, text string
		mode       os.FileMode
		want       string
	}{
		{"readable by others", skey, 0o644, "must not be accessible"},
		{"a verifier key", vkey, 0o600, "not a note private key"},
		{"garbage", "PRIVATE+KEY+x+00000000+AAAA", 0o600, "not a note private key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"))
			writeFile(t, p, []byte(tc.text), tc.mode)
			_, err := OpenOperatorLogKey(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), skey) {
				t.Error("the error quotes the key")
			}
		})
	}
}
