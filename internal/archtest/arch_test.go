// Package archtest keeps the import arrows of DESIGN.md §4 pointing one way.
package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/certseal/certseal/"

// forbidden maps a package prefix to the prefixes it must never depend on,
// directly or through others (DESIGN.md §4).
var forbidden = []struct{ from, to, why string }{
	{"signer", "verify", "signer and verify never import each other"},
	{"verify", "signer", "signer and verify never import each other"},
	{"signer", "internal/api", "arrows point from the HTTP layer down"},
	{"verify", "internal/api", "arrows point from the HTTP layer down"},
	{"keys", "signer", "keys sits below signer"},
	{"keys", "verify", "keys sits below verify"},
	{"keys", "internal/api", "keys sits below the HTTP layer"},
	{"registry", "keys", "registry is the bottom layer"},
	{"registry", "signer", "registry is the bottom layer"},
	{"registry", "verify", "registry is the bottom layer"},
	{"registry", "internal/api", "registry is the bottom layer"},
	// signer and verify share one reader of PDF signatures; it sits below
	// both and knows no domain, so that neither reaches the other through it.
	{"internal/signedpdf", "signer", "the PDF signature reader sits below signer"},
	{"internal/signedpdf", "verify", "the PDF signature reader sits below verify"},
	{"internal/signedpdf", "keys", "the PDF signature reader knows no keys"},
	{"internal/signedpdf", "registry", "the PDF signature reader knows no domain"},
	{"internal/signedpdf", "internal/api", "the PDF signature reader sits below the HTTP layer"},
	{"internal/api", "registry/sqlite", "only cmd/certseal picks a concrete Store"},
	{"internal/api", "registry/postgres", "only cmd/certseal picks a concrete Store"},
	{"internal/api", "verify/memcache", "only cmd/certseal picks a concrete Cache"},
	{"internal/api", "verify/rediscache", "only cmd/certseal picks a concrete Cache"},
	{"", "cmd", "nothing imports the binary"},
}

func under(pkg, prefix string) bool {
	return prefix == "" || pkg == prefix || strings.HasPrefix(pkg, prefix+"/")
}

func goList(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list"}, args...)...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list %v: %v\n%s", args, err, ee.Stderr)
		}
		t.Fatalf("go list %v: %v", args, err)
	}
	return strings.Fields(string(out))
}

func TestImportArrows(t *testing.T) {
	for _, pkg := range goList(t, module+"...") {
		p := strings.TrimPrefix(pkg, module)
		for _, dep := range goList(t, "-deps", "-f", "{{.ImportPath}}", pkg) {
			d, ok := strings.CutPrefix(dep, module)
			if !ok || d == p {
				continue
			}
			for _, rule := range forbidden {
				if under(p, rule.from) && under(d, rule.to) && !under(p, rule.to) {
					t.Errorf("%s depends on %s: %s", p, d, rule.why)
				}
			}
		}
	}
}

// The registry package itself is the domain: standard library only.
func TestRegistryIsStandardLibraryOnly(t *testing.T) {
	for _, dep := range goList(t, "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", module+"registry") {
		if dep != module+"registry" {
			t.Errorf("registry depends on %s; it must use the standard library only", dep)
		}
	}
}
