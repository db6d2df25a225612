package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/certseal/certseal/verify"
)

// plumbScrape returns the metrics text.
func plumbScrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func TestMetricsMiddleware(t *testing.T) {
	m := NewMetrics()
	mux := chi.NewRouter()
	mux.Get("/v/{number}", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	mux.Post("/api/v1/units", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(422) })
	mux.Get("/boom", func(w http.ResponseWriter, r *http.Request) { panic("x") })
	r := plumbing{log: plumbDiscardLogger(), metrics: m}.wrap(mux)
	for _, req := range []struct{ method, target string }{
		{"GET", "/v/372026000000013?k=tok"},
		{"GET", "/v/372026000000021?k=tok"},
		{"POST", "/api/v1/units"},
		{"GET", "/boom"},
		{"GET", "/nowhere/37202600000003X"},
		{"BREW", "/v/1"},
	} {
		r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(req.method, req.target, nil))
	}
	text := plumbScrape(t, m)
	for _, want := range []string{
		`certseal_http_request_duration_seconds_count{method="GET",route="/v/{number}",status="2xx"} 2`,
		`certseal_http_request_duration_seconds_count{method="POST",route="/api/v1/units",status="4xx"} 1`,
		`certseal_http_request_duration_seconds_count{method="GET",route="/boom",status="5xx"} 1`,
		`certseal_http_request_duration_seconds_count{method="GET",route="unmatched",status="4xx"} 1`,
		`method="OTHER"`,
		`certseal_http_requests_in_flight 0`,
		`go_goroutines`,
		`process_`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(text, "3720260000") || strings.Contains(text, "tok") {
		t.Errorf("a certificate number or token became a label")
	}
}

func TestMetricsCounters(t *testing.T) {
	m := NewMetrics()
	m.CertificatesIssued(3)
	m.CertificatesIssued(0)
	m.Verification("valid")
	m.Verification("valid")
	m.Verification("upload_failed")
	m.Verification("made-up")
	hits, misses := uint64(0), uint64(0)
	m.WatchCache(func() (uint64, uint64) { return hits, misses })
	hits, misses = 2, 1 // read at the scrape
	m.WatchRecorder(func() verify.RecorderStats { return verify.RecorderStats{Written: 5, Dropped: 7} })
	m.Verification("receipt_passed")
	text := plumbScrape(t, m)
	for _, want := range []string{
		"certseal_certificates_issued_total 3",
		`certseal_verifications_total{outcome="valid"} 2`,
		`certseal_verifications_total{outcome="upload_failed"} 1`,
		`certseal_verifications_total{outcome="other"} 1`,
		`certseal_verifications_total{outcome="revoked"} 0`, // present before the first event
		"certseal_verify_cache_hits_total 2",
		"certseal_verify_cache_misses_total 1",
		"certseal_verification_records_written_total 5",
		"certseal_verification_records_dropped_total 7",
		"certseal_verification_records_failed_total 0",
		`certseal_verifications_total{outcome="receipt_passed"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(text, "made-up") {
		t.Errorf("an unknown outcome became a label")
	}
	// Registries are per Metrics: a second one neither panics nor shares.
	if other := plumbScrape(t, NewMetrics()); !strings.Contains(other, "certseal_certificates_issued_total 0") {
		t.Errorf("a new Metrics shares counts")
	}
}

func TestNilMetricsRecordNothing(t *testing.T) {
	var m *Metrics
	m.CertificatesIssued(1)
	m.Verification("valid")
	rec := httptest.NewRecorder()
	plumbing{metrics: m}.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })).
		ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 204 {
		t.Errorf("nil Metrics middleware: %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 404 {
		t.Errorf("nil Metrics handler: %d", rec.Code)
	}
}
