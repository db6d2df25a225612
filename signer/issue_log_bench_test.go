package signer_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/certseal/certseal/internal/testenv"
	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/postgres"
	"github.com/certseal/certseal/registry/sqlite"
	"github.com/certseal/certseal/registry/storetest"
	"github.com/certseal/certseal/signer"
)

// BenchmarkIssueWithLog prices the transparency log in whole issues, as
// the service makes them (render, sign, time-stamp, DSS, record): each
// round issues one certificate on a store with the log and one on a store
// without it, in alternating order, so both see the same machine load.
//
//	go test ./signer -run '^$' -bench IssueWithLog -count 5
func BenchmarkIssueWithLog(b *testing.B) {
	open := map[string]func(b *testing.B) (with, without registry.Store){
		"sqlite": func(b *testing.B) (registry.Store, registry.Store) {
			var s [2]*sqlite.Store
			for i := range s {
				var err error
				if s[i], err = sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "db"), storetest.PII()); err != nil {
					b.Fatal(err)
				}
			}
			sqlite.WithoutLog(s[1])
			return s[0], s[1]
		},
		"postgres": func(b *testing.B) (registry.Store, registry.Store) {
			var s [2]*postgres.Store
			for i := range s {
				var err error
				if s[i], err = postgres.Open(context.Background(), testenv.PostgresURL(b), storetest.PII()); err != nil {
					b.Fatal(err)
				}
			}
			postgres.WithoutLog(s[1])
			return s[0], s[1]
		},
	}
	for _, name := range []string{"sqlite", "postgres"} {
		b.Run(name, func(b *testing.B) {
			with, without := open[name](b)
			fs := [2]*fixture{newFixture(b, with), newFixture(b, without)}
			ctx := context.Background()
			var took [2]time.Duration
			for i := 0; b.Loop(); i++ {
				for k := range 2 {
					j := (i + k) % 2 // who goes first alternates
					req := signer.Request{Appointment: fs[j].appointment(maleIDNumber(i)), Actor: "unit:1#1", RequestID: fmt.Sprint("bench-", i)}
					start := time.Now()
					if _, err := fs[j].issuer.Issue(ctx, req); err != nil {
						b.Fatal(err)
					}
					took[j] += time.Since(start)
				}
			}
			n := float64(b.N)
			b.ReportMetric(n/took[0].Seconds(), "log-issues/s")
			b.ReportMetric(n/took[1].Seconds(), "no-log-issues/s")
			b.ReportMetric(float64(took[1])/float64(took[0]), "log/no-log-throughput")
		})
	}
}
