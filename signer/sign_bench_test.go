package signer

import (
	"context"
	"crypto/x509"
	"slices"
	"testing"
	"time"
)

// reportQuantiles times each iteration of f and reports p50 and p99, the
// numbers the issuing path is judged by (a mean hides the tail).
func reportQuantiles(b *testing.B, f func() error) {
	b.Helper()
	times := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(times)
	q := func(p float64) float64 { return float64(times[int(p*float64(len(times)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}

// BenchmarkRenderSign is one certificate: layout, photo, QR code, PDF,
// signature with an ECDSA P-256 seal, self-check.
func BenchmarkRenderSign(b *testing.B) {
	r := testRenderer(b)
	doc := testDocument(b)
	s := newTestPKI(b, keyECDSA, keyECDSA, "").signing(b, r)
	reportQuantiles(b, func() error {
		pdf, err := r.Render(doc)
		if err != nil {
			return err
		}
		_, err = Sign(context.Background(), pdf, s)
		return err
	})
}

func BenchmarkRender(b *testing.B) {
	r := testRenderer(b)
	doc := testDocument(b)
	reportQuantiles(b, func() error {
		_, err := r.Render(doc)
		return err
	})
}

func BenchmarkSign(b *testing.B) {
	r, pdf := renderSample(b)
	s := newTestPKI(b, keyECDSA, keyECDSA, "").signing(b, r)
	reportQuantiles(b, func() error {
		_, err := Sign(context.Background(), pdf, s)
		return err
	})
}

func BenchmarkPrepareAppearance(b *testing.B) {
	imprint := readTestdata(b, "seal.png")
	reportQuantiles(b, func() error {
		_, err := PrepareAppearance(imprint)
		return err
	})
}

// BenchmarkSignLTV is the cost of long-term validation: the same signature
// of the same page as the Issuer makes it, without and with the
// time-stamp (certseal's TSA, in process) and the DSS (two fresh OCSP
// answers). Compare the two in one run:
//
//	go test ./signer -run '^$' -bench SignLTV -count 6
func BenchmarkSignLTV(b *testing.B) {
	r, pdf := renderSample(b)
	p := newLTVPKI(b)
	for _, tc := range []struct {
		name string
		deps IssuerDeps
	}{
		{"plain", IssuerDeps{Keys: p.km, Chains: p.ca, Renderer: r, Now: time.Now}},
		{"timestamp+DSS", IssuerDeps{Keys: p.km, Chains: p.ca, Renderer: r, Now: time.Now, TSA: p.tsa, TSATrust: p.trust,
			TSACerts: []*x509.Certificate{p.tsa.Certificate()}, Revocation: p.rsp}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			is := NewIssuer(tc.deps)
			st := stamp{seal: p.seal, uscc: testUSCC}
			reportQuantiles(b, func() error {
				_, err := is.sign(context.Background(), pdf, st, time.Now())
				return err
			})
		})
	}
}
