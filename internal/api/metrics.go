package api

import (
	"maps"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are certseal's Prometheus metrics, on a registry of their own (no
// global state: two servers in one test process do not collide). A nil
// *Metrics records nothing, for tests that do not care.
type Metrics struct {
	reg           *prometheus.Registry
	requests      *prometheus.HistogramVec
	inFlight      prometheus.Gauge
	issued        prometheus.Counter
	verifications *prometheus.CounterVec
	outcomes      map[string]prometheus.Counter // of verifications, by outcome
	// observers are the requests histogram's series looked up so far,
	// copied on write: a request reads them without a lock.
	observers   atomic.Pointer[map[requestLabels]prometheus.Observer]
	observersMu sync.Mutex // held to add one
}

// requestLabels are the labels of one series of requests.
type requestLabels struct{ route, method, status string }

// observer is the requests histogram's series of these labels. The labels
// are bounded (route patterns, methodLabel, statusClass), and so is what
// this keeps.
func (m *Metrics) observer(route, method, status string) prometheus.Observer {
	k := requestLabels{route, method, status}
	if obs := m.observers.Load(); obs != nil {
		if o, ok := (*obs)[k]; ok {
			return o
		}
	}
	m.observersMu.Lock()
	defer m.observersMu.Unlock()
	next := map[requestLabels]prometheus.Observer{}
	if obs := m.observers.Load(); obs != nil {
		maps.Copy(next, *obs)
	}
	o := m.requests.WithLabelValues(route, method, status)
	next[k] = o
	m.observers.Store(&next)
	return o
}

// verificationOutcomes are the label values Verification accepts; anything
// else is counted as "other", so a label can never grow without bound.
var verificationOutcomes = [...]string{"valid", "revoked", "expired", "superseded", "unknown", "error",
	"upload_passed", "upload_failed", "upload_indeterminate", "receipt_passed", "receipt_failed"}

// NewMetrics registers certseal's metrics and the Go runtime and process
// collectors on a new registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "certseal_http_request_duration_seconds",
			Help: "Time to answer HTTP requests, by route pattern, method and status class.",
			// Verification answers take milliseconds, signing a PDF tenths
			// of a second, a batch upload seconds.
			Buckets: []float64{.002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method", "status"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "certseal_http_requests_in_flight",
			Help: "HTTP requests being answered now.",
		}),
		issued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "certseal_certificates_issued_total",
			Help: "Certificate versions signed and stored (issues and reissues).",
		}),
		verifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "certseal_verifications_total",
			Help: "Public verification answers, by outcome.",
		}, []string{"outcome"}),
	}
	m.reg.MustRegister(m.requests, m.inFlight, m.issued, m.verifications,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Zero series exist from the start, so rate() and ratios work before
	// the first event.
	// The counters are looked up once: the label lookup was a tenth of a
	// cached verification page.
	m.outcomes = map[string]prometheus.Counter{"other": m.verifications.WithLabelValues("other")}
	for _, o := range verificationOutcomes {
		m.outcomes[o] = m.verifications.WithLabelValues(o)
	}
	return m
}

// Registry is where the metrics live, for collectors of other packages
// (a database pool's stats, say).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// started counts a request in flight.
func (m *Metrics) started() {
	if m != nil {
		m.inFlight.Inc()
	}
}

// finished times a request by route pattern (never the raw path: numbers
// and tokens would make a series per certificate), method and status
// class.
func (m *Metrics) finished(route, method string, status int, d time.Duration) {
	if m != nil {
		m.inFlight.Dec()
		m.observer(route, methodLabel(method), statusClass(status)).Observe(d.Seconds())
	}
}

// methodLabel keeps the method label to the standard methods.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

var statusClasses = [...]string{1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}

func statusClass(s int) string {
	if s >= 100 && s < 600 {
		return statusClasses[s/100]
	}
	return "other"
}

// CertificatesIssued counts n certificate versions signed.
func (m *Metrics) CertificatesIssued(n int) {
	if m != nil && n > 0 {
		m.issued.Add(float64(n))
	}
}

// Verification counts one public answer: valid, revoked, expired,
// superseded, unknown, error, or upload_passed / upload_failed /
// upload_indeterminate for uploaded PDFs, receipt_passed / receipt_failed
// for receipts checked by address or JWS.
func (m *Metrics) Verification(outcome string) {
	if m == nil {
		return
	}
	if c, ok := m.outcomes[outcome]; ok {
		c.Inc()
		return
	}
	m.outcomes["other"].Inc()
}

// WatchCache exports the verification cache's own counters, read at each
// scrape: hits, and misses (loads from the database; callers that joined a
// load in flight count as neither). Hit ratio: hits / (hits + misses).
func (m *Metrics) WatchCache(stats func() (hits, misses uint64)) {
	if m == nil {
		return
	}
	m.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "certseal_verify_cache_hits_total",
			Help: "Verification answers served from the cache.",
		}, func() float64 { h, _ := stats(); return float64(h) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "certseal_verify_cache_misses_total",
			Help: "Verification answers loaded from the database (hit ratio: hits / (hits + misses)).",
		}, func() float64 { _, mi := stats(); return float64(mi) }),
	)
}
