package keys

import (
	"bytes"
	"context"
	"crypto/x509"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/certseal/certseal/internal/testenv"
	"github.com/certseal/certseal/registry"
)

// logBuf collects slog output so tests can read every line that was logged.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newLogger() (*slog.Logger, *logBuf) {
	buf := &logBuf{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// clock is a settable time source for the responder.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fakeSource is an in-memory SealSource that counts lookups.
type fakeSource struct {
	mu      sync.Mutex
	seals   map[string]registry.Seal
	err     error // returned by every call when set
	lookups int
	during  func() // called inside every call, before it reads: a change racing with the read
}

func newFakeSource(seals ...registry.Seal) *fakeSource {
	f := &fakeSource{seals: make(map[string]registry.Seal)}
	for _, s := range seals {
		f.seals[s.Serial] = s
	}
	return f
}

func (f *fakeSource) RevokedSeals(context.Context) ([]registry.Seal, error) {
	f.race()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	var out []registry.Seal
	for _, s := range f.seals {
		if s.State == registry.SealRevoked {
			out = append(out, s)
		}
	}
	return out, nil
}

func (f *fakeSource) SealBySerial(_ context.Context, serial string) (registry.Seal, error) {
	f.race()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	if f.err != nil {
		return registry.Seal{}, f.err
	}
	s, ok := f.seals[serial]
	if !ok {
		return registry.Seal{}, registry.Errf(registry.CodeNotFound, "no seal with serial %s", serial)
	}
	return s, nil
}

func (f *fakeSource) race() {
	f.mu.Lock()
	during := f.during
	f.during = nil // once
	f.mu.Unlock()
	if during != nil {
		during()
	}
}

func (f *fakeSource) put(s registry.Seal) {
	f.mu.Lock()
	f.seals[s.Serial] = s
	f.mu.Unlock()
}

func (f *fakeSource) fail(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

// update applies a registry transition to the stored seal.
func (f *fakeSource) update(t *testing.T, serial string, fn func(*registry.Seal) error) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.seals[serial]
	if err := fn(&s); err != nil {
		t.Fatal(err)
	}
	f.seals[serial] = s
}

func (f *fakeSource) lookupCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lookups
}

var testUnit = registry.Unit{ID: 7, Name: "威海市立医院", USCC: "12371000494365014X"}

const testBase = "https://certseal.example.cn"

func newTestCA(t testing.TB, now time.Time) *CA {
	t.Helper()
	ca, err := LoadOrCreateDevCA(t.TempDir(), nil, now)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func newTestKeys(t testing.TB) *SoftwareKeys {
	t.Helper()
	kek, err := LoadOrCreateKEK(filepath.Join(t.TempDir(), "kek"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return NewSoftwareKeys(kek)
}

// newSeal makes an active seal of unit with a fresh key and certificate.
func newSeal(t testing.TB, ca *CA, km *SoftwareKeys, id int64, unit registry.Unit, version int, alg Alg, now time.Time, base string) registry.Seal {
	t.Helper()
	pub, blob, err := km.GenerateSealKey(context.Background(), alg, unit.ID, version)
	if err != nil {
		t.Fatal(err)
	}
	der, serial, err := ca.IssueSealCert(unit, version, pub, now, base)
	if err != nil {
		t.Fatal(err)
	}
	return registry.Seal{
		ID: id, UnitID: unit.ID, Version: version, State: registry.SealActive,
		KeyBlob: blob, CertDER: der, Serial: serial, CreatedAt: now,
	}
}

func ocspRequestFor(t testing.TB, ca *CA, s registry.Seal) []byte {
	t.Helper()
	cert, err := x509.ParseCertificate(s.CertDER)
	if err != nil {
		t.Fatal(err)
	}
	req, err := ocsp.CreateRequest(cert, ca.Issuing(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// runTool runs an outside program and returns its combined output.
func runTool(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	out, err := exec.Command(testenv.Tool(t, name), args...).CombinedOutput()
	return string(out), err
}

func writeFile(t testing.TB, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // WriteFile's mode is subject to umask
		t.Fatal(err)
	}
}

func mustContain(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
}
