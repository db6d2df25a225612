package e2e

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/crypto/ocsp"

	"github.com/certseal/certseal/internal/testenv"
)

// A seal revoked through one replica is revoked in the other replica's
// OCSP answers and CRL at its very next request, though that replica had
// both cached: nobody tells it, and nothing polls; each answer checks the
// database's revocation mark first.
func TestReplicasRevocationAnswers(t *testing.T) {
	rurl := claimRedisDB(t, testenv.Env(t, "CERTSEAL_TEST_REDIS_URL"))
	env := operatorEnv(t, testenv.PostgresURL(t), rurl)
	a := StartServer(t, t.TempDir(), env...)
	b := StartServer(t, t.TempDir(), env...)
	awaitReady(t, a)
	awaitReady(t, b)
	cert := runDemo(t, a)
	call := func(s *Server, method, path, ctype string, body []byte) []byte {
		t.Helper()
		req, err := http.NewRequest(method, s.URL+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+cert.Platform)
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s on %s: %d %s", method, path, s.URL, resp.StatusCode, out)
		}
		return out
	}
	var units struct {
		Items []struct {
			ID int64 `json:"id"`
		} `json:"items"`
	}
	if err := json.Unmarshal(call(a, "GET", "/api/v1/units", "", nil), &units); err != nil || len(units.Items) == 0 {
		t.Fatalf("units: %v", err)
	}
	var seals struct {
		Items []struct {
			ID             int64  `json:"id"`
			State          string `json:"state"`
			CertificatePEM string `json:"certificate_pem"`
		} `json:"items"`
	}
	if err := json.Unmarshal(call(a, "GET", fmt.Sprintf("/api/v1/units/%d/seals", units.Items[0].ID), "", nil), &seals); err != nil || len(seals.Items) == 0 {
		t.Fatalf("seals: %v", err)
	}
	seal := seals.Items[len(seals.Items)-1]
	block, _ := pem.Decode([]byte(seal.CertificatePEM))
	if block == nil {
		t.Fatal("no seal certificate")
	}
	sealCert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	issuing, err := x509.ParseCertificate(call(b, "GET", "/pki/issuing.crt", "", nil))
	if err != nil {
		t.Fatal(err)
	}
	ask, err := ocsp.CreateRequest(sealCert, issuing, nil) // no nonce: the cached answer
	if err != nil {
		t.Fatal(err)
	}
	status := func() int {
		r, err := ocsp.ParseResponseForCert(call(b, "POST", "/pki/ocsp", "application/ocsp-request", ask), sealCert, issuing)
		if err != nil {
			t.Fatal(err)
		}
		return r.Status
	}
	listed := func() bool {
		crl, err := x509.ParseRevocationList(call(b, "GET", "/pki/crl", "", nil))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range crl.RevokedCertificateEntries {
			if e.SerialNumber.Cmp(sealCert.SerialNumber) == 0 {
				return true
			}
		}
		return false
	}
	for range 2 { // the second answers are B's cached ones
		if s, l := status(), listed(); s != ocsp.Good || l {
			t.Fatalf("B before the revocation: OCSP status %d, in the CRL %v", s, l)
		}
	}
	call(a, "POST", fmt.Sprintf("/api/v1/seals/%d/revoke", seal.ID), "application/json", []byte(`{"reason":"cessationOfOperation"}`))
	if s, l := status(), listed(); s != ocsp.Revoked || !l {
		t.Errorf("B at its next requests after the revocation through A: OCSP status %d (want %d revoked), in the CRL %v", s, ocsp.Revoked, l)
	}
	if !strings.Contains(string(call(a, "GET", fmt.Sprintf("/api/v1/units/%d/seals", units.Items[0].ID), "", nil)), `"revoked"`) {
		t.Error("the seal is not listed revoked")
	}
}
