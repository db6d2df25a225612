package verify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"hash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/certseal/certseal/registry"
)

// Recorder notes public verifications for the holder's view without
// slowing the page: Record is a non-blocking send of a small value on a
// buffered channel (no allocation, no lock, no database), and one writer
// goroutine inserts what the buffer holds once an interval. When the
// buffer is full (a flood, or the database is slow or down) a record is
// dropped and counted, never waited for. One client's repeated checks of
// one certificate within a second (a reload, a browser's second request, a
// script hammering one page) are one record: what the holder sees is who
// checked when, and a flood must not cost a row per request. Close writes
// what is buffered.
type Recorder struct {
	ch        chan record
	store     registry.Store
	mac       hash.Hash // keyed hash of client addresses, the writer's own
	log       *slog.Logger
	every     time.Duration
	dropped   atomic.Uint64
	written   atomic.Uint64
	failed    atomic.Uint64
	coalesced atomic.Uint64
	stop      chan struct{}
	done      chan struct{}
	once      sync.Once
}

type record struct {
	number  string
	client  string // the client address: hashed by the writer, never stored
	at      time.Time
	kind    registry.VerificationKind
	outcome registry.CertState
}

// RecorderOptions tune a Recorder; zero values take the defaults.
type RecorderOptions struct {
	Buffer int           // records an interval may gather: the most written per interval (default 16384)
	Every  time.Duration // how often the writer writes (default 1s)
	Logger *slog.Logger
}

// NewRecorder starts the writer. clientKey keys the hash of client
// addresses (keys.KEK derives one), so a stored value reveals no address
// to whoever lacks the key, yet the same client gives the same value.
func NewRecorder(store registry.Store, clientKey []byte, o RecorderOptions) *Recorder {
	if o.Buffer <= 0 {
		o.Buffer = 16384
	}
	if o.Every <= 0 {
		o.Every = time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Recorder{ch: make(chan record, o.Buffer), store: store, mac: hmac.New(sha256.New, clientKey), log: o.Logger,
		every: o.Every, stop: make(chan struct{}), done: make(chan struct{})}
	go r.run()
	return r
}

// Record notes one verification; it never blocks. Unknown answers are not
// noted: they belong to no certificate.
func (r *Recorder) Record(kind registry.VerificationKind, number string, outcome registry.CertState, client string, at time.Time) {
	if r == nil || outcome == registry.CertUnknown || outcome == "" {
		return
	}
	select {
	case r.ch <- record{number: number, client: client, at: at, kind: kind, outcome: outcome}:
	default:
		r.dropped.Add(1)
	}
}

// RecorderStats count records since start.
type RecorderStats struct {
	Written, Dropped, Failed uint64 // failed: lost with a batch the store refused
	Coalesced                uint64 // repeats within a second, written as one
}

func (r *Recorder) Stats() RecorderStats {
	return RecorderStats{Written: r.written.Load(), Dropped: r.dropped.Load(), Failed: r.failed.Load(),
		Coalesced: r.coalesced.Load()}
}

// Close writes what is buffered and stops the writer. Call it after the
// HTTP server has shut down (no Record runs any more); a Record racing
// with Close may be lost, never panics.
func (r *Recorder) Close() {
	r.once.Do(func() { close(r.stop) })
	<-r.done
}

// run wakes once per interval and writes what the buffer holds, in one
// transaction of batches: the writer costs a few statements a second,
// never a wake-up per request, and at most a buffer's worth of records an
// interval (beyond that, Record drops and counts), so a flood of lookups
// cannot make it take the machine from the pages.
func (r *Recorder) run() {
	defer close(r.done)
	t := time.NewTicker(r.every)
	defer t.Stop()
	pending := make([]registry.Verification, 0, cap(r.ch))
	seen := map[repeat]struct{}{}
	for {
		select {
		case <-t.C:
		case <-r.stop:
			r.write(r.drain(pending, seen))
			return
		}
		pending = r.drain(pending, seen)
		r.write(pending)
		pending = pending[:0]
		clear(seen)
	}
}

// repeat is what makes two records one: the same check of the same
// certificate by the same client in the same second.
type repeat struct {
	number, client string
	kind           registry.VerificationKind
	outcome        registry.CertState
	second         int64
}

// drain moves what the buffer holds now into pending, each repeat of a
// record seen this interval counted instead (before the client's keyed
// hash, the writer's dearest step).
func (r *Recorder) drain(pending []registry.Verification, seen map[repeat]struct{}) []registry.Verification {
	for range len(r.ch) {
		rec := <-r.ch
		k := repeat{rec.number, rec.client, rec.kind, rec.outcome, rec.at.Unix()}
		if _, ok := seen[k]; ok {
			r.coalesced.Add(1)
			continue
		}
		seen[k] = struct{}{}
		pending = append(pending, r.verification(rec))
	}
	return pending
}

func (r *Recorder) verification(rec record) registry.Verification {
	v := registry.Verification{Number: rec.number, Kind: rec.kind, Outcome: rec.outcome, At: rec.at}
	if rec.client != "" {
		r.mac.Reset()
		r.mac.Write([]byte(rec.client))
		v.ClientHash = r.mac.Sum(nil)[:16]
	}
	return v
}

// write inserts what an interval gathered in one transaction (the store
// makes multi-row INSERTs of it). It is not retried: a record is a convenience for the
// holder, and a store that refuses it must not pile up memory.
func (r *Recorder) write(vs []registry.Verification) {
	if len(vs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := r.store.InTx(ctx, func(tx registry.Tx) error { return tx.AddVerifications(ctx, vs) })
	if err != nil {
		r.failed.Add(uint64(len(vs)))
		r.log.Warn("verification records lost: the store refused the batch", "records", len(vs), "err", err)
		return
	}
	r.written.Add(uint64(len(vs)))
}
