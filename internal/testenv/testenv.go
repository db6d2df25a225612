// Package testenv decides what a test does when something it needs from
// outside (a tool, a server) is missing: skip on a developer's machine,
// fail under CI=true, where .ci/run has installed and started everything.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run under CI, where nothing may be skipped.
func InCI() bool { return os.Getenv("CI") == "true" }

// Missing skips the test, or fails it under CI.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI=true and a requirement is missing: "+format, args...)
	}
	t.Skipf("skipped: "+format, args...)
}

// Tool returns the path of an outside program (pdfsig, mutool, ...).
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "%s not installed (apt-get install it, or run .ci/run)", name)
	}
	return p
}

// Env returns a test variable such as CERTSEAL_TEST_DATABASE_URL.
func Env(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		Missing(t, "%s is not set", name)
	}
	return v
}
