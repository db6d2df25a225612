package signer_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/certseal/certseal/signer"
)

// BenchmarkIssue is single certificates issued as the service issues them
// (time-stamp and DSS) on the embedded SQLite store, which has one write
// connection: one at a time, and many at once, as concurrent API requests
// come. Compare commits in one session, alternating:
//
//	go test ./signer -run '^$' -bench 'Issue$' -count 5
func BenchmarkIssue(b *testing.B) {
	b.Run("serial", func(b *testing.B) {
		next := issueBench(b)
		for b.Loop() {
			if err := next(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		next := issueBench(b)
		b.SetParallelism(4) // 4 requests per CPU
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := next(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// issueBench is a function that issues the next certificate of a fresh fixture.
func issueBench(b *testing.B) func() error {
	f := newFixture(b, backends[0].open(b))
	photo := smallPhoto(b, f.photo)
	var n atomic.Int64
	return func() error {
		a := f.appointment(maleIDNumber(int(n.Add(1))))
		a.Photo = photo
		_, err := f.issuer.Issue(context.Background(), signer.Request{Appointment: a, Actor: "bench"})
		return err
	}
}
