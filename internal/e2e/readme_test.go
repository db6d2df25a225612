package e2e

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/certseal/certseal/internal/testenv"
)

// readme returns README.md of the repository.
func readme(t *testing.T) string {
	t.Helper()
	return string(readRepoFile(t, "README.md"))
}

// walkthrough extracts the README's lifecycle walkthrough: the ```sh block
// right after the <!-- walkthrough --> marker.
func walkthrough(t *testing.T, doc string) string {
	t.Helper()
	m := regexp.MustCompile("(?s)<!-- walkthrough -->\n```sh\n(.*?)\n```\n").FindStringSubmatch(doc)
	if m == nil {
		t.Fatal("README.md has no ```sh block after <!-- walkthrough -->")
	}
	return m[1]
}

// TestREADMEWalkthrough runs the README's lifecycle walkthrough, unchanged,
// against a fresh server: the same text a new user pastes. Only its
// variables differ: BASE is the server's address, CERTSEAL the binary built
// for the tests (instead of `go run`), CERTSEAL_DATA_DIR the server's data
// directory. It runs from the repository root, where the walkthrough finds
// the demo photo and seal imprint.
func TestREADMEWalkthrough(t *testing.T) {
	testenv.Tool(t, "curl")
	bash := testenv.Tool(t, "bash")
	script := walkthrough(t, readme(t))
	data := t.TempDir()
	s := StartServer(t, data)
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bash, "-euo", "pipefail", "-c", script)
	cmd.Dir = root
	cmd.Env = append(s.Env, "BASE="+s.URL, "CERTSEAL="+bin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the README walkthrough failed: %v\nstdout:\n%s\nstderr:\n%s\nserver log:\n%s", err, &stdout, &stderr, s.Log)
	}
	out := stdout.String()
	t.Logf("walkthrough output:\n%s", out)

	// In order: issued, checked offline and by upload, listed and downloaded by the
	// holder, valid, revoked, the unit key revoked and refused, audit clean.
	steps := []string{`certificate 37`, `pdf: `, "passed", `"indication":"passed"`, `"download_url":"` + s.URL + `/download/`,
		"the holder's download is the signed PDF", "<h1>有效</h1>", `"status":"valid"`,
		`"receipt":{"indication":"passed"`, `"indication":"passed"`, // the receipt, by upload and by its JWS
		`"version":2`, "the leaked address now: 404", "rotated: ", `"status_text":"已更正"`,
		`"status":"revoked"`, "<h1>已撤销</h1>", `"status_then_text":"有效"`, `"status_text":"已撤销"`,
		"人事处", "the unit key after its revocation: 401", "audit chain intact",
		`"kind":"scan"`, `"kind":"upload"`, `"kind":"receipt"`}
	rest := out
	for _, want := range steps {
		i := strings.Index(rest, want)
		if i < 0 {
			t.Fatalf("the walkthrough's output lacks %q after the earlier steps:\n%s", want, out)
		}
		rest = rest[i+len(want):]
	}
	if strings.Contains(rest, "<h1>") {
		t.Errorf("the walkthrough shows another status after 已撤销:\n%s", out)
	}

	// What it produced is real: the PDF it saved is the one registered,
	// and the address it printed answers revoked.
	m := regexp.MustCompile(`certificate (\d+): (\S+)`).FindStringSubmatch(out)
	p := regexp.MustCompile(`pdf: (\S+)`).FindStringSubmatch(out)
	if m == nil || p == nil {
		t.Fatalf("the walkthrough printed no certificate number, address or PDF path:\n%s", out)
	}
	rotated := regexp.MustCompile(`rotated: (\S+)`).FindStringSubmatch(out)
	if rotated == nil {
		t.Fatalf("the walkthrough printed no rotated address:\n%s", out)
	}
	number, leaked, address, pdf := m[1], m[2], rotated[1], p[1]
	if !strings.HasPrefix(leaked, s.URL+"/v/"+number+"?k=") || leaked == address {
		t.Errorf("first address %s, rotated %s", leaked, address)
	}
	if !strings.HasPrefix(address, s.URL+"/v/"+number+"?k=") {
		t.Errorf("verification address %s is not on the server %s", address, s.URL)
	}
	if !filepath.IsAbs(pdf) {
		pdf = filepath.Join(root, pdf)
	}
	if want := filepath.Join(data, "walkthrough", number+".pdf"); pdf != want {
		t.Errorf("the PDF went to %s, want %s (inside the data directory)", pdf, want)
	}
	if !bytes.HasPrefix(readFile(t, pdf), []byte("%PDF-")) {
		t.Errorf("%s is not a PDF", pdf)
	}
	// The first PDF was superseded by the token's rotation: the command says so and fails.
	if out, err := CLIResult(s.Env, "verify-pdf", pdf); err == nil || !strings.Contains(out, "已更正") {
		t.Errorf("certseal verify-pdf of the walkthrough's PDF after revocation (err %v):\n%s", err, out)
	}
	// The receipt it saved is one, offline too.
	if out, err := CLIResult(s.Env, "verify-pdf", filepath.Join(data, "walkthrough", "receipt.pdf")); err != nil || !strings.Contains(out, "回执真实") {
		t.Errorf("certseal verify-pdf of the walkthrough's receipt (err %v):\n%s", err, out)
	}
	c := &client{t: t, base: s.URL}
	if a := c.verifyJSON(address); a.Status != "revoked" || a.Name != "李华" {
		t.Errorf("the walkthrough's certificate answers %+v, want revoked", a)
	}
	if status, body, _ := c.do("", "GET", leaked, "", nil, http.Header{"Accept": {"application/json"}}); status != 404 || !strings.Contains(string(body), `"status":"unknown"`) {
		t.Errorf("the leaked address after the rotation: %d %s", status, body)
	}
}

// TestREADMECommands checks that what README.md names exists: the two
// commands for a fresh machine, every CERTSEAL_* setting of
// internal/config, and every subcommand of the binary.
func TestREADMECommands(t *testing.T) {
	doc := readme(t)
	for _, cmd := range []string{"```sh\ngo run ./cmd/certseal serve\n```", "```sh\ngo test ./...\n```", "```sh\ngo run ./cmd/certseal demo\n```"} {
		if !strings.Contains(doc, cmd) {
			t.Errorf("README.md lacks the block %q", cmd)
		}
	}
	config := string(readRepoFile(t, "internal/config/config.go"))
	vars := regexp.MustCompile(`"(CERTSEAL_[A-Z_]+)"`).FindAllStringSubmatch(config, -1)
	if len(vars) < 10 {
		t.Fatalf("found only %d CERTSEAL_* variables in internal/config/config.go", len(vars))
	}
	for _, v := range vars {
		if !strings.Contains(doc, "`"+v[1]+"`") {
			t.Errorf("README.md does not document %s", v[1])
		}
	}
	// The binary lists its commands when run without one, and succeeds; a
	// command it does not know is a usage error, exit status 2.
	usage, err := CLIResult(os.Environ())
	if err != nil {
		t.Fatalf("certseal without a command: %v\n%s", err, usage)
	}
	var exit *exec.ExitError
	if out, err := CLIResult(os.Environ(), "nonsense"); !errors.As(err, &exit) || exit.ExitCode() != 2 || strings.Count(out, "\n") != 1 {
		t.Errorf("certseal nonsense: %v, want exit status 2 and one line:\n%s", err, out)
	}
	cmds := regexp.MustCompile(`(?m)^  certseal ([a-z-]+)`).FindAllStringSubmatch(usage, -1)
	if len(cmds) < 5 {
		t.Fatalf("certseal's usage lists %d commands:\n%s", len(cmds), usage)
	}
	for _, c := range cmds {
		if !strings.Contains(doc, "`certseal "+c[1]) {
			t.Errorf("README.md's command line section lacks certseal %s", c[1])
		}
	}
}
