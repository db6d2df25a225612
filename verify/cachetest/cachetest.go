// Package cachetest is the one suite every verify.Cache passes, together
// with the verify.Cached wrapper in front of it.
package cachetest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certseal/certseal/verify"
)

// Caps says what a Cache under test can do beyond the common contract.
type Caps struct {
	// Peer returns another Cache on the same shared store as c, as another
	// replica would have. Nil for a cache without a shared store. Once a's
	// Invalidate returns, b serves no copy of what it named.
	Peer func(t *testing.T, c verify.Cache) verify.Cache
}

// Run runs the suite. newCache returns a fresh, empty Cache, closed by the
// test's cleanup.
func Run(t *testing.T, newCache func(t *testing.T) verify.Cache, caps Caps) {
	tests := []struct {
		name string
		run  func(t *testing.T, c verify.Cache)
	}{
		{"GetSetHit", testGetSetHit},
		{"TTLExpiry", testTTLExpiry},
		{"NonPositiveTTLNotStored", testNonPositiveTTL},
		{"Invalidate", testInvalidate},
		{"StaleSetRefused", testStaleSetRefused},
		{"StaleLoadRace", testStaleLoadRace},
		{"NoJoiningAcrossInvalidation", testNoJoin},
		{"Singleflight", testSingleflight},
		{"LoaderErrorNotCached", testLoaderError},
		{"NegativeEntry", testNegativeEntry},
		{"CacheErrorsFallBackToLoader", testCacheErrors},
		{"ReadAfterInvalidateSeesCommit", testReadAfterInvalidate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, newCache(t))
		})
	}
	peerTests := []struct {
		name string
		run  func(t *testing.T, a, b verify.Cache)
	}{
		{"PeerSharesValues", testPeerShares},
		{"PeerInvalidateDropsCopy", testPeerInvalidate},
		{"PeerStaleSetRefused", testPeerStaleSet},
		{"PeerStaleLoadRace", testPeerStaleLoadRace},
		{"PeerNoJoiningAcrossInvalidation", testPeerNoJoin},
	}
	for _, tc := range peerTests {
		t.Run(tc.name, func(t *testing.T) {
			if caps.Peer == nil {
				t.Skip("not applicable: the cache has no shared store")
			}
			t.Parallel()
			a := newCache(t)
			tc.run(t, a, caps.Peer(t, a))
		})
	}
}

func ctx(t *testing.T) context.Context { return t.Context() }

func wrap(c verify.Cache) *verify.Cached {
	return verify.NewCached(c, verify.CachedOptions{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

// eventually polls cond until it holds; the deadline only stops a broken
// implementation from hanging the run, it is not a speed requirement.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !poll(cond) {
		t.Fatalf("never happened: %s", what)
	}
}

// poll is eventually for goroutines other than the test's.
func poll(cond func() bool) bool {
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

func get(t *testing.T, c verify.Cache, key string) ([]byte, verify.Gen, bool) {
	t.Helper()
	v, g, ok, err := c.Get(ctx(t), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return v, g, ok
}

func set(t *testing.T, c verify.Cache, key, val string, ttl time.Duration) {
	t.Helper()
	_, g, ok := get(t, c, key)
	if ok {
		t.Fatalf("Get(%q) hit before set", key)
	}
	stored, err := c.SetIf(ctx(t), key, []byte(val), g, ttl)
	if err != nil || !stored {
		t.Fatalf("SetIf(%q) = %v, %v; want stored", key, stored, err)
	}
}

func wantHit(t *testing.T, c verify.Cache, key, want string) {
	t.Helper()
	v, _, ok := get(t, c, key)
	if !ok || string(v) != want {
		t.Fatalf("Get(%q) = %q, %v; want %q, hit", key, v, ok, want)
	}
}

func wantMiss(t *testing.T, c verify.Cache, key string) {
	t.Helper()
	if v, _, ok := get(t, c, key); ok {
		t.Fatalf("Get(%q) = %q; want a miss", key, v)
	}
}

func invalidate(t *testing.T, c verify.Cache, keys ...string) {
	t.Helper()
	if err := c.Invalidate(ctx(t), keys...); err != nil {
		t.Fatalf("Invalidate: %v", err)
	}
}

// fixed is a loader answering val and counting its calls.
func fixed(calls *atomic.Int32, val string, ttl time.Duration) verify.Loader {
	return func(context.Context, string) ([]byte, time.Duration, error) {
		calls.Add(1)
		return []byte(val), ttl, nil
	}
}

func cget(t *testing.T, cc *verify.Cached, key string, load verify.Loader, want string) {
	t.Helper()
	v, err := cc.Get(ctx(t), key, load)
	if err != nil || string(v) != want {
		t.Fatalf("Cached.Get(%q) = %q, %v; want %q", key, v, err, want)
	}
}

func testGetSetHit(t *testing.T, c verify.Cache) {
	wantMiss(t, c, "v/A1")
	set(t, c, "v/A1", "answer one", time.Hour)
	wantHit(t, c, "v/A1", "answer one")
	wantMiss(t, c, "v/A2")
	// Binary-safe, and an empty value is a value.
	set(t, c, "v/A2", "\x00\xff\n", time.Hour)
	wantHit(t, c, "v/A2", "\x00\xff\n")
	set(t, c, "v/A3", "", time.Hour)
	wantHit(t, c, "v/A3", "")
}

func testTTLExpiry(t *testing.T, c verify.Cache) {
	set(t, c, "short", "s", 100*time.Millisecond)
	set(t, c, "long", "l", time.Hour)
	wantHit(t, c, "long", "l")
	eventually(t, "the short entry expires", func() bool {
		_, _, ok := get(t, c, "short")
		return !ok
	})
	wantHit(t, c, "long", "l")
}

func testNonPositiveTTL(t *testing.T, c verify.Cache) {
	for _, ttl := range []time.Duration{0, -time.Second} {
		_, g, _ := get(t, c, "k")
		stored, err := c.SetIf(ctx(t), "k", []byte("x"), g, ttl)
		if err != nil || stored {
			t.Fatalf("SetIf with ttl %v = %v, %v; want not stored", ttl, stored, err)
		}
		wantMiss(t, c, "k")
	}
}

func testInvalidate(t *testing.T, c verify.Cache) {
	for _, k := range []string{"a", "b", "c"} {
		set(t, c, k, "val "+k, time.Hour)
	}
	invalidate(t, c, "a", "b", "never-stored")
	wantMiss(t, c, "a")
	wantMiss(t, c, "b")
	wantHit(t, c, "c", "val c")
	invalidate(t, c) // no keys: nothing to do
	wantHit(t, c, "c", "val c")
	set(t, c, "a", "new a", time.Hour)
	wantHit(t, c, "a", "new a")
}

// A reader's Get, then the change's Invalidate, then the reader's store of
// what it read before the change: the store must be refused.
func testStaleSetRefused(t *testing.T, c verify.Cache) {
	_, stale, _ := get(t, c, "cert")
	invalidate(t, c, "cert")
	if stored, err := c.SetIf(ctx(t), "cert", []byte("valid"), stale, time.Hour); err != nil || stored {
		t.Fatalf("SetIf with a generation from before Invalidate = %v, %v; want refused", stored, err)
	}
	wantMiss(t, c, "cert")
	set(t, c, "cert", "revoked", time.Hour)
	wantHit(t, c, "cert", "revoked")
}

// staleRace runs the race through the wrapper: a load that read "valid"
// finishes after a revocation's invalidation (on inv, maybe another
// replica); what it read must not be cached on reader.
func staleRace(t *testing.T, reader, inv verify.Cache) {
	cr, ci := wrap(reader), wrap(inv)
	started, proceed := make(chan struct{}), make(chan struct{})
	loader := func(context.Context, string) ([]byte, time.Duration, error) {
		close(started)
		<-proceed // the revocation commits and invalidates meanwhile
		return []byte("valid"), time.Hour, nil
	}
	done := make(chan error, 1)
	go func() {
		v, err := cr.Get(ctx(t), "cert", loader)
		if err == nil && string(v) != "valid" {
			err = fmt.Errorf("got %q", v)
		}
		done <- err
	}()
	<-started
	ci.Invalidate(ctx(t), "cert")
	close(proceed)
	if err := <-done; err != nil {
		t.Fatalf("racing Get: %v", err)
	}
	var calls atomic.Int32
	cget(t, cr, "cert", fixed(&calls, "revoked", time.Hour), "revoked")
	cget(t, ci, "cert", fixed(&calls, "revoked", time.Hour), "revoked")
	if calls.Load() == 0 {
		t.Fatal("the stale answer was served from the cache")
	}
}

func testStaleLoadRace(t *testing.T, c verify.Cache) { staleRace(t, c, c) }

// noJoin: a load begun before a revocation is still running when a request
// arrives after the revocation's invalidation (on inv, maybe another
// replica). That request must load afresh, not wait for the old answer.
func noJoin(t *testing.T, reader, inv verify.Cache) {
	cr := wrap(reader)
	started, proceed, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	defer func() { close(proceed); <-done }()
	go func() {
		defer close(done)
		cr.Get(ctx(t), "cert", func(context.Context, string) ([]byte, time.Duration, error) {
			close(started)
			<-proceed
			return []byte("valid"), time.Hour, nil
		})
	}()
	<-started
	invalidate(t, inv, "cert")
	var fresh atomic.Int32
	got := make(chan string, 1)
	go func() {
		v, _ := cr.Get(ctx(t), "cert", fixed(&fresh, "revoked", time.Hour))
		got <- string(v)
	}()
	eventually(t, "the later request loads or joins", func() bool {
		return fresh.Load() > 0 || cr.Stats().Waiting > 0
	})
	if fresh.Load() == 0 {
		t.Fatal("a request after the invalidation joined a load begun before it")
	}
	if v := <-got; v != "revoked" {
		t.Fatalf("got %q; want revoked", v)
	}
}

func testNoJoin(t *testing.T, c verify.Cache) { noJoin(t, c, c) }

func testSingleflight(t *testing.T, c verify.Cache) {
	const n = 8
	cc := wrap(c)
	var calls atomic.Int32
	loader := func(context.Context, string) ([]byte, time.Duration, error) {
		calls.Add(1)
		// Hold the load until every other caller waits for it, so the
		// test proves collapsing rather than luck.
		if !poll(func() bool { return cc.Stats().Waiting == n-1 }) {
			return nil, 0, errors.New("the other callers never joined the load")
		}
		return []byte("answer"), time.Hour, nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			v, err := cc.Get(ctx(t), "hot", loader)
			if err == nil && string(v) != "answer" {
				err = fmt.Errorf("got %q", v)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := calls.Load(); got != 1 {
		t.Fatalf("loader called %d times for %d concurrent misses; want 1", got, n)
	}
	if s := cc.Stats(); s.Loads != 1 || s.Waiting != 0 {
		t.Fatalf("stats %+v; want 1 load, nobody waiting", s)
	}
}

func testLoaderError(t *testing.T, c verify.Cache) {
	cc := wrap(c)
	dbDown := errors.New("database down")
	var calls atomic.Int32
	failing := func(context.Context, string) ([]byte, time.Duration, error) {
		calls.Add(1)
		return []byte("partial"), time.Hour, dbDown
	}
	for range 2 {
		if v, err := cc.Get(ctx(t), "k", failing); !errors.Is(err, dbDown) || v != nil {
			t.Fatalf("Get with a failing loader = %q, %v; want nil, %v", v, err, dbDown)
		}
	}
	if calls.Load() != 2 {
		t.Fatalf("failing loader called %d times; want 2 (errors are not cached)", calls.Load())
	}
	wantMiss(t, c, "k")
	cget(t, cc, "k", fixed(&calls, "ok", time.Hour), "ok")
	if s := cc.Stats(); s.LoadErrors != 2 || s.Loads != 3 {
		t.Fatalf("stats %+v; want 3 loads, 2 failed", s)
	}
}

func testNegativeEntry(t *testing.T, c verify.Cache) {
	cc := wrap(c)
	var unknown, valid atomic.Int32
	const ttl = 300 * time.Millisecond
	start := time.Now()
	cget(t, cc, "no-such", fixed(&unknown, "unknown", ttl), "unknown")
	cget(t, cc, "no-such", fixed(&unknown, "unknown", ttl), "unknown")
	// Only meaningful if the machine was quick enough to ask again within
	// the ttl; a slow run proves nothing here rather than failing.
	if time.Since(start) < ttl && unknown.Load() != 1 {
		t.Fatalf("negative answer loaded %d times; want cached after the first", unknown.Load())
	}
	// The negative entry ends by itself: the number may be issued later.
	eventually(t, "the negative entry expires", func() bool {
		v, err := cc.Get(ctx(t), "no-such", fixed(&valid, "valid", time.Hour))
		return err == nil && string(v) == "valid"
	})
	if valid.Load() != 1 {
		t.Fatalf("loader called %d times after expiry; want 1", valid.Load())
	}
}

// faulty fails the operations it is told to.
type faulty struct {
	verify.Cache
	get, set, inv atomic.Bool
}

var errCacheDown = errors.New("cache down")

func (f *faulty) Get(ctx context.Context, key string) ([]byte, verify.Gen, bool, error) {
	if f.get.Load() {
		return nil, verify.Gen{}, false, errCacheDown
	}
	return f.Cache.Get(ctx, key)
}

func (f *faulty) SetIf(ctx context.Context, key string, val []byte, gen verify.Gen, ttl time.Duration) (bool, error) {
	if f.set.Load() {
		return false, errCacheDown
	}
	return f.Cache.SetIf(ctx, key, val, gen, ttl)
}

func (f *faulty) Invalidate(ctx context.Context, keys ...string) error {
	if f.inv.Load() {
		return errCacheDown
	}
	return f.Cache.Invalidate(ctx, keys...)
}

func testCacheErrors(t *testing.T, c verify.Cache) {
	f := &faulty{Cache: c}
	cc := wrap(f)
	var calls atomic.Int32

	f.get.Store(true)
	cget(t, cc, "k", fixed(&calls, "from db", time.Hour), "from db")
	cget(t, cc, "k", fixed(&calls, "from db", time.Hour), "from db")
	if calls.Load() != 2 || cc.Stats().CacheErrors != 2 {
		t.Fatalf("with Get failing: %d loads, stats %+v; want 2 loads, 2 cache errors", calls.Load(), cc.Stats())
	}
	wantMiss(t, c, "k") // a failed Get gives no generation to store under

	f.get.Store(false)
	f.set.Store(true)
	cget(t, cc, "k", fixed(&calls, "from db", time.Hour), "from db")
	wantMiss(t, c, "k")

	f.set.Store(false)
	cget(t, cc, "k", fixed(&calls, "from db", time.Hour), "from db")
	wantHit(t, c, "k", "from db")

	f.inv.Store(true)
	cc.Invalidate(ctx(t), "k") // must not fail the request
	if s := cc.Stats(); s.CacheErrors != 4 || s.Loads != 4 {
		t.Fatalf("stats %+v; want 4 loads, 4 cache errors", s)
	}
}

// Many readers and writers: a writer commits a new version, invalidates,
// then publishes the version as a floor. A reader that saw the floor before
// its Get must get at least that version, whatever the interleaving.
func testReadAfterInvalidate(t *testing.T, c verify.Cache) {
	const keys, writers, commits, readers = 3, 2, 40, 4
	cc := wrap(c)
	var mu sync.Mutex
	var db [keys]int64
	var floor [keys]atomic.Int64
	key := func(k int) string { return "cert-" + strconv.Itoa(k) }
	load := func(k int) verify.Loader {
		return func(context.Context, string) ([]byte, time.Duration, error) {
			mu.Lock()
			v := db[k]
			mu.Unlock()
			return []byte(strconv.FormatInt(v, 10)), time.Hour, nil
		}
	}
	var stop atomic.Bool
	var wg, rg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range commits {
				k := (w + i) % keys
				mu.Lock()
				db[k]++
				v := db[k]
				mu.Unlock()
				cc.Invalidate(ctx(t), key(k))
				for {
					cur := floor[k].Load()
					if v <= cur || floor[k].CompareAndSwap(cur, v) {
						break
					}
				}
			}
		})
	}
	for r := range readers {
		rg.Go(func() {
			for i := 0; i < 200 || !stop.Load(); i++ {
				k := (r + i) % keys
				low := floor[k].Load()
				v, err := cc.Get(ctx(t), key(k), load(k))
				if err != nil {
					t.Errorf("Get: %v", err)
					return
				}
				got, _ := strconv.ParseInt(string(v), 10, 64)
				if got < low {
					t.Errorf("read version %d of %s after version %d was committed and invalidated", got, key(k), low)
					return
				}
			}
		})
	}
	wg.Wait()
	stop.Store(true)
	rg.Wait()
	if cc.Stats().Hits == 0 {
		t.Error("no read was a cache hit: the test proved nothing")
	}
}

func testPeerShares(t *testing.T, a, b verify.Cache) {
	set(t, a, "k", "from a", time.Hour)
	wantHit(t, b, "k", "from a")
	wantHit(t, a, "k", "from a")
}

// The next request to another replica after a revocation returns must not
// see the old answer: not eventually, at once. Repeated, since the loser of
// that race (a message still on its way) wins most single tries.
func testPeerInvalidate(t *testing.T, a, b verify.Cache) {
	set(t, a, "other", "kept", time.Hour)
	for i := range 50 {
		set(t, a, "k", "valid", time.Hour)
		wantHit(t, b, "k", "valid") // b now holds its own copy
		invalidate(t, a, "k")
		wantMiss(t, a, "k")
		if v, _, ok := get(t, b, "k"); ok {
			t.Fatalf("try %d: b served %q right after a's Invalidate returned", i, v)
		}
	}
	wantHit(t, b, "other", "kept")
}

func testPeerStaleSet(t *testing.T, a, b verify.Cache) {
	_, stale, _ := get(t, b, "cert")
	invalidate(t, a, "cert")
	if stored, err := b.SetIf(ctx(t), "cert", []byte("valid"), stale, time.Hour); err != nil || stored {
		t.Fatalf("b's SetIf after a's Invalidate = %v, %v; want refused", stored, err)
	}
	wantMiss(t, a, "cert")
	wantMiss(t, b, "cert")
}

func testPeerStaleLoadRace(t *testing.T, a, b verify.Cache) { staleRace(t, b, a) }

func testPeerNoJoin(t *testing.T, a, b verify.Cache) { noJoin(t, b, a) }
