package main

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

// runIn runs a command line on the data directory dir.
func runIn(t *testing.T, dir string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut strings.Builder
	getenv := func(k string) string {
		if k == "CERTSEAL_DATA_DIR" {
			return dir
		}
		return ""
	}
	code = run(context.Background(), &cliEnv{stdout: &out, stderr: &errOut, getenv: getenv}, args)
	return code, out.String(), errOut.String()
}

// keptCheckpoint runs log verify and keeps the checkpoint it prints.
func keptCheckpoint(t *testing.T, dir, name string) string {
	t.Helper()
	code, out, errOut := runIn(t, dir, "log", "verify")
	_, cp, ok := strings.Cut(out, "later shows the log still holds it):\n")
	if code != 0 || !ok {
		t.Fatalf("log verify: exit %d\n%s%s", code, out, errOut)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(cp), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// log verify checks the store against an earlier checkpoint and names the
// first leaf that no longer holds.
func TestLogVerifyNamesTheFirstBadLeaf(t *testing.T) {
	dir := t.TempDir()
	if code, out, errOut := runIn(t, dir, "demo"); code != 0 {
		t.Fatalf("demo: exit %d\n%s%s", code, out, errOut)
	}
	old := keptCheckpoint(t, dir, "old.txt")
	if code, out, errOut := runIn(t, dir, "demo"); code != 0 {
		t.Fatalf("demo again: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut := runIn(t, dir, "log", "verify", "--checkpoint", old)
	if code != 0 || !strings.Contains(out, "the log holds the checkpoint of") {
		t.Fatalf("log verify of an intact log: exit %d\n%s%s", code, out, errOut)
	}

	// A checkpoint that is not the log's own key's is refused.
	forged := filepath.Join(t.TempDir(), "forged.txt")
	cp, err := os.ReadFile(old)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(string(cp), "\n", 4) // origin, size, root, signature
	lines[1] += "0"
	if err := os.WriteFile(forged, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runIn(t, dir, "log", "verify", "--checkpoint", forged); code != 1 || !strings.Contains(errOut, "checkpoint") {
		t.Errorf("a forged checkpoint: exit %d, %s", code, errOut)
	}

	// Someone with the database file rewrites event 3.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "certseal.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{`DROP TRIGGER audit_events_frozen`, `UPDATE audit_events SET actor = 'nobody' WHERE seq = 3`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	code, out, errOut = runIn(t, dir, "log", "verify", "--checkpoint", old)
	if code != 1 || !strings.Contains(errOut, "log leaf 2 (audit event 3) is bad") {
		t.Fatalf("log verify of a rewritten event: exit %d\n%s%s", code, out, errOut)
	}
}
