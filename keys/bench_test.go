package keys

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func BenchmarkGenerateSealKey(b *testing.B) {
	km := newTestKeys(b)
	for _, alg := range []Alg{ECDSAP256, RSA2048} {
		b.Run(string(alg), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := km.GenerateSealKey(context.Background(), alg, 1, 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkIssueSealCert(b *testing.B) {
	now := time.Now()
	ca := newTestCA(b, now)
	pub, _, err := newTestKeys(b).GenerateSealKey(context.Background(), ECDSAP256, 1, 1)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ca.IssueSealCert(testUnit, 1, pub, now, testBase); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOCSPCached measures POSTed OCSP requests answered from the cache
// through the HTTP handler (no network).
func BenchmarkOCSPCached(b *testing.B) {
	now := time.Now()
	ca := newTestCA(b, now)
	seal := newSeal(b, ca, newTestKeys(b), 1, testUnit, 1, ECDSAP256, now, testBase)
	rsp, err := NewResponder(ca, newFakeSource(seal), nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	req := ocspRequestFor(b, ca, seal)
	h := rsp.HandleOCSP()
	ask := func() {
		r := httptest.NewRequest(http.MethodPost, PathOCSP, bytes.NewReader(req))
		r.Header.Set("Content-Type", "application/ocsp-request")
		w := httptest.NewRecorder()
		h(w, r)
		if w.Code != http.StatusOK || w.Body.Len() < 100 {
			b.Fatalf("status %d, %d bytes", w.Code, w.Body.Len())
		}
	}
	ask() // fill the cache
	b.ReportAllocs()
	for b.Loop() {
		ask()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "responses/s")
}
