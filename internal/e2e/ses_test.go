package e2e

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestVerifyPDFWithSES: the demo's certificate has a 国密 seal signature,
// downloadable with its QR token; verify-pdf reports it, checks a given
// .ses file, and fails on one whose signature was changed.
func TestVerifyPDFWithSES(t *testing.T) {
	s := StartServer(t, t.TempDir())
	env := append(s.Env, "CERTSEAL_BASE_URL="+s.URL)
	out := CLI(t, env, "demo")
	p := regexp.MustCompile(`pdf: (\S+)`).FindStringSubmatch(out)
	v := regexp.MustCompile(`verify: (\S+)/v/(\S+)\?k=(\S+)`).FindStringSubmatch(out)
	if p == nil || v == nil {
		t.Fatalf("demo output:\n%s", out)
	}
	resp, err := http.Get(v[1] + "/v/" + v[2] + "/ses?k=" + v[3])
	if err != nil {
		t.Fatal(err)
	}
	der, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET the seal signature: %d %v", resp.StatusCode, err)
	}
	sesFile := filepath.Join(t.TempDir(), "cert.ses")
	if err := os.WriteFile(sesFile, der, 0o600); err != nil {
		t.Fatal(err)
	}
	if out := CLI(t, env, "verify-pdf", p[1]); !strings.Contains(out, "国密签章: 有效") {
		t.Errorf("verify-pdf does not report the recorded seal signature:\n%s", out)
	}
	if out := CLI(t, env, "verify-pdf", "--ses", sesFile, p[1]); !strings.Contains(out, "国密签章: 有效") || !strings.Contains(out, "time-stamped") {
		t.Errorf("verify-pdf --ses:\n%s", out)
	}
	bad := []byte(string(der))
	bad[len(bad)-1] ^= 1 // in the last field: the time-stamp token, or the signature
	if err := os.WriteFile(sesFile, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := CLIResult(env, "verify-pdf", "--ses", sesFile, p[1]); err == nil || !strings.Contains(out, "国密签章: 无效") {
		t.Errorf("verify-pdf --ses of a changed signature (err %v):\n%s", err, out)
	}
}
