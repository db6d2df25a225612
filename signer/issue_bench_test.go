package signer_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/signer"
)

// BenchmarkIssue is single certificates issued as the service issues them
// (time-stamp and DSS) on the embedded SQLite store, which has one write
// connection: one at a time, and many at once, as concurrent API requests
// come. writer-ms/op is how long each issue held the write connection,
// which every other writer waits for. Compare commits in one session,
// alternating:
//
//	go test ./signer -run '^$' -bench 'Issue$' -count 5
func BenchmarkIssue(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		next, held := issueBench(b)
		for b.Loop() {
			if err := next(); err != nil {
				b.Fatal(err)
			}
		}
		held()
	})
	b.Run("parallel", func(b *testing.B) {
		next, held := issueBench(b)
		b.SetParallelism(4) // 4 requests per CPU
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := next(); err != nil {
					b.Error(err)
					return
				}
			}
		})
		held()
	})
}

// timedWrites is a store that adds up how long its write transactions run.
type timedWrites struct {
	registry.Store
	held atomic.Int64 // nanoseconds
}

func (s *timedWrites) InTx(ctx context.Context, fn func(registry.Tx) error) error {
	start := time.Now()
	defer func() { s.held.Add(int64(time.Since(start))) }()
	return s.Store.InTx(ctx, fn)
}

// issueBench is a function that issues the next certificate of a fresh
// fixture, and one that reports how long the issues held the writer.
func issueBench(b *testing.B) (next func() error, held func()) {
	f := newFixture(b, backends[0].open(b))
	store := &timedWrites{Store: f.store}
	f.store = store
	is := f.issuerWithClock(func() time.Time { return f.now })
	photo := smallPhoto(b, f.photo)
	var n atomic.Int64
	next = func() error {
		a := f.appointment(maleIDNumber(int(n.Add(1))))
		a.Photo = photo
		_, err := is.Issue(context.Background(), signer.Request{Appointment: a, Actor: "bench"})
		return err
	}
	held = func() {
		b.ReportMetric(float64(store.held.Load())/float64(n.Load())/1e6, "writer-ms/op")
	}
	return next, held
}
