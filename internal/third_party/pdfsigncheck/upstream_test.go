package pdfsigncheck

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certseal/certseal/internal/testenv"
)

// upstream is the pdfsign commit certseal's copy is of (go.mod pins it).
const upstream = "github.com/digitorus/pdfsign@v0.0.0-20250819064552-5f74f69dda1d"

// eolFix is patch 4, upstream's own fix (digitorus/pdfsign#115, after the
// pinned commit): an EOL between an appearance stream's data and endstream.
var eolFix = [2]string{`buffer.WriteString("endstream\n")`, `buffer.WriteString("\nendstream\n")`}

// inputs are signed by every driver: a plain one-page PDF, and a
// certificate as certseal issues it (signed once already, so the second
// signature is an incremental update over a signed file).
var inputs = []string{"testdata/unsigned.pdf", "../../../signer/testdata/sample-certificate.pdf"}

// signers is what each build of the driver produced, per input.
type signers struct {
	upstream, upstreamFixed, copy, copyPrepared [][]byte
}

var (
	built     signers
	buildOnce sync.Once
	buildErr  string
)

// signAll builds the driver against upstream (as it is, and with patch 4
// applied), against the copy, and against the copy with patch 1's prepared
// image, and signs every input with each, with one key and certificate.
func signAll(t *testing.T) signers {
	t.Helper()
	goTool := testenv.Tool(t, "go")
	buildOnce.Do(func() { buildErr = buildAndSign(t, goTool) })
	switch {
	case strings.HasPrefix(buildErr, "missing: "):
		testenv.Missing(t, "%s", strings.TrimPrefix(buildErr, "missing: "))
	case buildErr != "":
		t.Fatal(buildErr)
	}
	return built
}

func buildAndSign(t *testing.T, goTool string) string {
	out, err := exec.Command(goTool, "mod", "download", "-json", upstream).Output()
	var mod struct{ Dir, Error string }
	if json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return "missing: upstream " + upstream + " is neither in the module cache nor downloadable (" + mod.Error + ")"
	}
	dir := t.TempDir()
	fixed := filepath.Join(dir, "upstream-fixed")
	if err := os.CopyFS(fixed, os.DirFS(mod.Dir)); err != nil {
		return err.Error()
	}
	app := filepath.Join(fixed, "sign", "appearance.go")
	src, err := os.ReadFile(app)
	if err != nil {
		return err.Error()
	}
	if n := bytes.Count(src, []byte(eolFix[0])); n != 1 {
		return "upstream's appearance.go has " + strconv.Itoa(n) + " places for patch 4, not 1"
	}
	if err := os.WriteFile(app, bytes.Replace(src, []byte(eolFix[0]), []byte(eolFix[1]), 1), 0o644); err != nil {
		return err.Error()
	}
	ours, err := filepath.Abs("../pdfsign")
	if err != nil {
		return err.Error()
	}
	args, msg := sigArgs(t, dir)
	if msg != "" {
		return msg
	}
	for _, d := range []struct {
		into     *[][]byte
		replace  string
		prepared bool
	}{
		{&built.upstream, mod.Dir, false},
		{&built.upstreamFixed, fixed, false},
		{&built.copy, ours, false},
		{&built.copyPrepared, ours, true},
	} {
		bin, msg := buildDriver(goTool, t.TempDir(), d.replace, d.prepared)
		if msg != "" {
			return msg
		}
		for i, in := range inputs {
			o := filepath.Join(dir, "out"+strconv.Itoa(i)+".pdf")
			if b, err := exec.Command(bin, append(append([]string{in}, args...), o)...).CombinedOutput(); err != nil {
				return "driver (pdfsign from " + d.replace + "): " + err.Error() + "\n" + string(b)
			}
			b, err := os.ReadFile(o)
			if err != nil {
				return err.Error()
			}
			*d.into = append(*d.into, b)
		}
	}
	return ""
}

// sigArgs writes an RSA key (PKCS #1 v1.5 signatures are deterministic),
// its certificate and the seal image, and returns them as driver args.
func sigArgs(t *testing.T, dir string) ([]string, string) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err.Error()
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pdfsign comparison"},
		NotBefore: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2035, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage: x509.KeyUsageDigitalSignature}
	cert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err.Error()
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err.Error()
	}
	args := []string{filepath.Join(dir, "key.der"), filepath.Join(dir, "cert.der")}
	for i, b := range [][]byte{keyDER, cert} {
		if err := os.WriteFile(args[i], b, 0o600); err != nil {
			return nil, err.Error()
		}
	}
	img, err := filepath.Abs("../../../testdata/seal-binhai.png")
	return append(args, img), errString(err)
}

// buildDriver builds testdata/driver in a module that is certseal's go.mod
// (so every dependency has certseal's version) with pdfsign replaced by
// the directory pdfsign.
func buildDriver(goTool, dir, pdfsign string, prepared bool) (string, string) {
	gomod, err := os.ReadFile("../../../go.mod")
	if err != nil {
		return "", err.Error()
	}
	gomod = regexp.MustCompile(`(?m)^module .*$`).ReplaceAll(gomod, []byte("module driver"))
	gomod = regexp.MustCompile(`(?m)^replace github.com/digitorus/pdfsign => .*$`).ReplaceAll(gomod, []byte("replace github.com/digitorus/pdfsign => "+pdfsign))
	// The other copies (pkcs7, which pdfsign uses) are certseal's, from here.
	root, err := filepath.Abs("../../..")
	if err != nil {
		return "", err.Error()
	}
	gomod = regexp.MustCompile(`(?m)^(replace \S+) => \./`).ReplaceAll(gomod, []byte("$1 => "+root+"/"))
	gosum, err := os.ReadFile("../../../go.sum")
	if err != nil {
		return "", err.Error()
	}
	for name, b := range map[string][]byte{"go.mod": gomod, "go.sum": gosum} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return "", err.Error()
		}
	}
	for _, f := range []string{"main.go", "prepared.go"} {
		b, err := os.ReadFile(filepath.Join("testdata", "driver", f))
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, f), b, 0o644)
		}
		if err != nil {
			return "", err.Error()
		}
	}
	bin := filepath.Join(dir, "driver")
	args := []string{"build", "-o", bin}
	if prepared {
		args = append(args, "-tags", "prepared")
	}
	cmd := exec.Command(goTool, append(args, ".")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off", "GOPROXY=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", "build the driver against " + pdfsign + ": " + err.Error() + "\n" + string(b)
	}
	return bin, ""
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

var byteRange = regexp.MustCompile(`/ByteRange\s*\[\s*0\s+(\d+)\s+(\d+)\s+\d+\s*\]`)

// withoutSignature blanks the last signature's /Contents: the CMS carries
// pkcs7's signingTime, the clock when the driver ran.
func withoutSignature(t *testing.T, b []byte) []byte {
	t.Helper()
	all := byteRange.FindAllSubmatch(b, -1)
	if len(all) == 0 {
		t.Fatal("no /ByteRange in the output")
	}
	m := all[len(all)-1]
	from, _ := strconv.Atoi(string(m[1]))
	to, _ := strconv.Atoi(string(m[2]))
	out := bytes.Clone(b)
	for i := from + 1; i < to-1; i++ {
		out[i] = '0'
	}
	return out
}

// firstDiff says where a and b first differ.
func firstDiff(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return strconv.Itoa(len(a)) + " and " + strconv.Itoa(len(b)) + " bytes, first difference at " + strconv.Itoa(i) + ": " +
		strconv.Quote(string(a[max(0, i-40):min(len(a), i+40)])) + " vs " + strconv.Quote(string(b[max(0, i-40):min(len(b), i+40)]))
}

// With the patch hooks unused (no prepared image, no in-process TSA, no
// DSS) the copy writes what upstream with patch 4 writes, byte for byte
// but the CMS; with patch 1's prepared image too.
func TestCopySignsAsUpstream(t *testing.T) {
	s := signAll(t)
	for i, in := range inputs {
		want := withoutSignature(t, s.upstreamFixed[i])
		for name, got := range map[string][]byte{"the copy": s.copy[i], "the copy with a prepared image": s.copyPrepared[i]} {
			if g := withoutSignature(t, got); !bytes.Equal(g, want) {
				t.Errorf("%s, %s: differs from upstream with patch 4: %s", in, name, firstDiff(g, want))
			}
		}
		// and patch 4 is all that sets upstream apart: one EOL
		if len(s.upstreamFixed[i]) == len(s.upstream[i]) {
			t.Errorf("%s: patch 4 changed nothing", in)
		}
	}
}
