package signer

import (
	"bytes"
	"context"
	"encoding/base64"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certseal/certseal/internal/testenv"
	"golang.org/x/crypto/ocsp"
)

// These tests hand a signed certificate to independent validators and read
// their words: pdfsig and mutool exit 0 even when a signature fails.
//
// What makes pdfsig (poppler 22.12, NSS) say "Certificate is Trusted" for
// root → issuing CA → seal:
//   - the root is in the NSS database with trust CT,C,C (the issuing CA
//     comes from the CMS certificates; adding it too changes nothing);
//   - pdfsig runs in its default mode (with OCSP). With -no-ocsp it
//     answers "Unknown issue with Certificate or corrupted data." for this
//     chain whatever the certificate carries;
//   - if the seal certificate names an OCSP responder, that responder must
//     answer (NSS tries GET, then POST): a responder that is down also
//     gives "Unknown issue"; a seal certificate without an OCSP address is
//     Trusted without any network access.
// So tests run an OCSP responder (httptest, golang.org/x/crypto/ocsp), as
// certseal's own /pki/ocsp will serve in production.

var updateSamples = flag.Bool("update-samples", false, "rewrite testdata/sample-certificate.pdf and .png")

// ocspResponder answers "good" for every serial, signed by the issuing CA.
func ocspResponder(t *testing.T, pki **testPKI, hits *atomic.Int32) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var der []byte
		var err error
		if r.Method == http.MethodGet {
			var s string
			if s, err = url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), "/pki/ocsp/")); err == nil {
				der, err = base64.StdEncoding.DecodeString(s)
			}
		} else {
			der, err = io.ReadAll(r.Body)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		req, err := ocsp.ParseRequest(der)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		p := *pki
		now := time.Now()
		resp, err := ocsp.CreateResponse(p.issuing, p.issuing, ocsp.Response{
			Status: ocsp.Good, SerialNumber: req.SerialNumber,
			ThisUpdate: now.Add(-time.Minute), NextUpdate: now.Add(time.Hour),
		}, p.issuingKey)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		hits.Add(1)
		w.Header().Set("Content-Type", "application/ocsp-response")
		w.Write(resp)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// nssDB makes an NSS database that trusts root.
func nssDB(t *testing.T, p *testPKI) string { return nssDBFor(t, p.root.Raw) }

// nssDBFor makes an NSS database that trusts the root certificate rootDER.
func nssDBFor(t *testing.T, rootDER []byte) string { return testenv.NSSDB(t, rootDER) }

// run returns the tool's standard output (zbarimg chatters about D-Bus on
// standard error).
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(name), strings.Join(args, " "), err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.String()
}

// tamper changes one byte inside the page's content stream: inside the
// signed range, outside /Contents.
func tamper(t *testing.T, signed []byte) []byte {
	t.Helper()
	i := bytes.Index(signed, []byte("stream\n"))
	if i < 0 {
		t.Fatal("no stream in the PDF")
	}
	i += len("stream\n") + 10
	out := bytes.Clone(signed)
	out[i] ^= 0x01
	return out
}

func TestValidators(t *testing.T) {
	pdfsig := testenv.Tool(t, "pdfsig")
	mutool := testenv.Tool(t, "mutool")
	qpdf := testenv.Tool(t, "qpdf")
	pdftoppm := testenv.Tool(t, "pdftoppm")
	zbarimg := testenv.Tool(t, "zbarimg")
	testenv.Tool(t, "certutil")

	r := testRenderer(t)
	for _, tc := range []struct {
		name           string
		ca, seal       keyKind
		withOCSP, page bool
	}{
		{"ECDSA P-256 chain, OCSP", keyECDSA, keyECDSA, true, true},
		{"RSA-2048 chain, OCSP", keyRSA2048, keyRSA2048, true, false},
		{"ECDSA chain, no OCSP address", keyECDSA, keyECDSA, false, false},
		{"RSA-2048 CAs, ECDSA seal, OCSP", keyRSA2048, keyECDSA, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p *testPKI
			var hits atomic.Int32
			ocspURL := ""
			if tc.withOCSP {
				ocspURL = ocspResponder(t, &p, &hits).URL + "/pki/ocsp"
			}
			p = newTestPKI(t, tc.ca, tc.seal, ocspURL)
			nss := nssDB(t, p)
			unsigned, err := r.Render(testDocument(t))
			if err != nil {
				t.Fatal(err)
			}
			signed, err := Sign(context.Background(), unsigned, p.signing(t, r))
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			file := filepath.Join(dir, "cert.pdf")
			if err := os.WriteFile(file, signed.PDF, 0o600); err != nil {
				t.Fatal(err)
			}

			out := run(t, pdfsig, "-nssdir", nss, file)
			for _, want := range []string{"Signature is Valid.", "Certificate is Trusted.", "Total document signed", "Signing Hash Algorithm: SHA-256"} {
				if !strings.Contains(out, want) {
					t.Errorf("pdfsig does not say %q:\n%s", want, out)
				}
			}
			if tc.withOCSP && hits.Load() == 0 {
				t.Error("pdfsig never asked the OCSP responder")
			}
			out = run(t, mutool, "sign", "-v", file)
			if !strings.Contains(out, "The document is unchanged since signing.") {
				t.Errorf("mutool does not say the document is unchanged:\n%s", out)
			}
			out = run(t, qpdf, "--check", file)
			if !strings.Contains(out, "No syntax or stream encoding errors found") {
				t.Errorf("qpdf --check:\n%s", out)
			}

			// The QR code, printed at 150 dpi, decodes to the verify address.
			run(t, pdftoppm, "-r", "150", "-png", "-f", "1", "-l", "1", "-singlefile", file, filepath.Join(dir, "page"))
			png := filepath.Join(dir, "page.png")
			out = strings.TrimSpace(run(t, zbarimg, "-q", "--raw", png))
			if out != testVerifyURL {
				t.Errorf("zbarimg read %q, want %q", out, testVerifyURL)
			}

			// One changed byte in the signed range is caught by both.
			bad := filepath.Join(dir, "tampered.pdf")
			if err := os.WriteFile(bad, tamper(t, signed.PDF), 0o600); err != nil {
				t.Fatal(err)
			}
			out = run(t, pdfsig, "-nssdir", nss, bad)
			if !strings.Contains(out, "Signature Validation: Digest Mismatch.") || strings.Contains(out, "Signature is Valid.") {
				t.Errorf("pdfsig accepts the tampered file:\n%s", out)
			}
			out = run(t, mutool, "sign", "-v", bad)
			if !strings.Contains(out, "Digest error: Signature invalidated by change to document.") || strings.Contains(out, "unchanged since signing") {
				t.Errorf("mutool accepts the tampered file:\n%s", out)
			}

			if tc.page && *updateSamples {
				writeSamples(t, signed.PDF, png)
			}
		})
	}
}

func writeSamples(t *testing.T, pdf []byte, pagePNG string) {
	t.Helper()
	png, err := os.ReadFile(pagePNG)
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"sample-certificate.pdf": pdf, "sample-certificate.png": png} {
		if err := os.WriteFile(filepath.Join("testdata", name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("wrote testdata/sample-certificate.pdf (%d bytes) and .png (%d bytes)", len(pdf), len(png))
}

// TestSignedRangeWords reads pdfsig's "Signed Ranges" and checks that they
// cover the file except the signature, as checkSigned does internally.
func TestSignedRangeWords(t *testing.T) {
	pdfsig := testenv.Tool(t, "pdfsig")
	r := testRenderer(t)
	p := newTestPKI(t, keyECDSA, keyECDSA, "")
	unsigned, err := r.Render(testDocument(t))
	if err != nil {
		t.Fatal(err)
	}
	signed, err := Sign(context.Background(), unsigned, p.signing(t, r))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "cert.pdf")
	if err := os.WriteFile(file, signed.PDF, 0o600); err != nil {
		t.Fatal(err)
	}
	out := run(t, pdfsig, "-nocert", file)
	m := regexp.MustCompile(`Signed Ranges: \[(\d+) - (\d+)\], \[(\d+) - (\d+)\]`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no signed ranges in:\n%s", out)
	}
	n := make([]int, 4)
	for i := range n {
		n[i], _ = strconv.Atoi(m[i+1])
	}
	if n[0] != 0 || n[3] != len(signed.PDF) || !bytes.HasPrefix(signed.PDF[n[1]:], []byte("<")) || signed.PDF[n[2]-1] != '>' {
		t.Errorf("signed ranges %v of a %d-byte file do not leave out exactly the signature", n, len(signed.PDF))
	}
}
