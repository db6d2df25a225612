package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// NSSDB makes an NSS database that trusts the root certificate rootDER for
// signing (CT,C,C; C,, is not enough), as pdfsig -nssdir takes it
// ("sql:DIR"). It needs certutil.
func NSSDB(t testing.TB, rootDER []byte) string {
	t.Helper()
	certutil := Tool(t, "certutil")
	dir := t.TempDir()
	rootFile := filepath.Join(dir, "root.der")
	if err := os.WriteFile(rootFile, rootDER, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-N", "--empty-password", "-d", "sql:" + dir},
		{"-A", "-d", "sql:" + dir, "-n", "certseal test root", "-t", "CT,C,C", "-i", rootFile},
	} {
		if out, err := exec.Command(certutil, args...).CombinedOutput(); err != nil {
			t.Fatalf("certutil %v: %v\n%s", args, err, out)
		}
	}
	return "sql:" + dir
}
