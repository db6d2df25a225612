package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestArchiveTimestamp: certificates in an exported archive get a
// long-term copy with a document time-stamp and DSS, the originals stay
// as they were, a second run adds nothing, and archive verify checks the
// seal signatures, their time-stamps and the document time-stamps, and
// names a copy that was tampered with.
func TestArchiveTimestamp(t *testing.T) {
	s := StartServer(t, t.TempDir())
	env := append(s.Env, "CERTSEAL_BASE_URL="+s.URL)
	out := CLI(t, env, "demo")
	p := regexp.MustCompile(`pdf: (\S+)`).FindStringSubmatch(out)
	if p == nil {
		t.Fatalf("demo output:\n%s", out)
	}
	// The service stamps every signature: verify-pdf says so.
	if out := CLI(t, env, "verify-pdf", p[1]); !strings.Contains(out, "timestamp: valid") {
		t.Fatalf("verify-pdf of a new certificate:\n%s", out)
	}
	arch := filepath.Join(t.TempDir(), "archive")
	CLI(t, env, "archive", "export", "--unit", "1", "--out", arch)
	pdfs, _ := filepath.Glob(filepath.Join(arch, "certificates", "*", "v1.pdf"))
	if len(pdfs) != 1 {
		t.Fatalf("archived PDFs: %v", pdfs)
	}
	original, err := os.ReadFile(pdfs[0])
	if err != nil {
		t.Fatal(err)
	}
	if out := CLI(t, env, "archive", "timestamp", arch); !strings.Contains(out, "1 certificate PDFs time-stamped") {
		t.Fatalf("archive timestamp:\n%s", out)
	}
	if out := CLI(t, env, "archive", "timestamp", arch); !strings.Contains(out, "0 certificate PDFs time-stamped") {
		t.Fatalf("archive timestamp a second time:\n%s", out)
	}
	copyPath := strings.TrimSuffix(pdfs[0], ".pdf") + ".ltv.pdf"
	stamped, err := os.ReadFile(copyPath)
	if err != nil {
		t.Fatal(err)
	}
	if now, _ := os.ReadFile(pdfs[0]); string(now) != string(original) || !strings.HasPrefix(string(stamped), string(original)) {
		t.Fatal("the original changed, or the copy does not begin with its signed bytes")
	}
	out, err = CLIResult(env, "archive", "verify", arch)
	if err != nil || !strings.Contains(out, "is intact") {
		t.Fatalf("archive verify (%v):\n%s", err, out)
	}

	// A copy whose document time-stamp was tampered with, its manifest
	// entry rewritten to match, is named: another hex digit inside the
	// token, or a character that is no hex digit at all.
	at := strings.LastIndex(string(stamped), "/Contents<") + len("/Contents<") + 200
	other := byte('0')
	if stamped[at] == '0' {
		other = '1'
	}
	for _, c := range []byte{other, 'x'} {
		bad := []byte(string(stamped))
		bad[at] = c
		if err := os.WriteFile(copyPath, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		rewriteManifest(t, arch, copyPath, bad)
		out, err = CLIResult(env, "archive", "verify", arch)
		if err == nil || !strings.Contains(out, "v1.ltv.pdf: document time-stamp") || strings.Contains(out, "panic") {
			t.Fatalf("archive verify of a time-stamp with %q written into it (%v):\n%s", c, err, out)
		}
	}
}

// rewriteManifest makes the archive's manifest agree with a file changed
// on purpose, as someone who rewrites both would.
func rewriteManifest(t *testing.T, arch, file string, data []byte) {
	t.Helper()
	mf := filepath.Join(arch, "manifest.json")
	b, err := os.ReadFile(mf)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(arch, file)
	sum := sha256.Sum256(data)
	for _, f := range m["files"].([]any) {
		if e := f.(map[string]any); e["path"] == filepath.ToSlash(rel) {
			e["sha256"], e["size"] = hex.EncodeToString(sum[:]), len(data)
		}
	}
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mf, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
