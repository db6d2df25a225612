package e2e

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
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
	onA, onB := &client{t: t, base: a.URL}, &client{t: t, base: b.URL}
	var units struct {
		Items []struct {
			ID int64 `json:"id"`
		} `json:"items"`
	}
	onA.json(cert.Platform, "GET", "/api/v1/units", nil, http.StatusOK, &units)
	if len(units.Items) == 0 {
		t.Fatal("no unit")
	}
	var seals struct {
		Items []struct {
			ID             int64  `json:"id"`
			CertificatePEM string `json:"certificate_pem"`
		} `json:"items"`
	}
	onA.json(cert.Platform, "GET", fmt.Sprintf("/api/v1/units/%d/seals", units.Items[0].ID), nil, http.StatusOK, &seals)
	if len(seals.Items) == 0 {
		t.Fatal("no seal")
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
	issuing, err := x509.ParseCertificate(onB.get("/pki/issuing.crt"))
	if err != nil {
		t.Fatal(err)
	}
	ask, err := ocsp.CreateRequest(sealCert, issuing, nil) // no nonce: the cached answer
	if err != nil {
		t.Fatal(err)
	}
	status := func() int {
		code, body, _ := onB.do("", "POST", "/pki/ocsp", "application/ocsp-request", bytes.NewReader(ask), nil)
		r, err := ocsp.ParseResponseForCert(body, sealCert, issuing)
		if code != http.StatusOK || err != nil {
			t.Fatalf("OCSP on B: %d %v", code, err)
		}
		return r.Status
	}
	listed := func() bool {
		crl, err := x509.ParseRevocationList(onB.get("/pki/crl"))
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
	onA.json(cert.Platform, "POST", fmt.Sprintf("/api/v1/seals/%d/revoke", seal.ID), map[string]string{"reason": "cessationOfOperation"}, http.StatusOK, nil)
	if s, l := status(), listed(); s != ocsp.Revoked || !l {
		t.Errorf("B at its next requests after the revocation through A: OCSP status %d (want %d, revoked), in the CRL %v", s, ocsp.Revoked, l)
	}
}
