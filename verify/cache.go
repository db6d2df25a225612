package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Cache holds pre-rendered answers of the public verification endpoints.
// Values are shared, not copied: neither the Cache nor its callers modify a
// value once it is stored or returned.
//
// A Cache must never let an answer outlive the change that invalidated it,
// including an answer read from the database just before the change
// committed and stored just after the invalidation. That is what Gen is for:
// Get returns the key's generation on a miss, and SetIf stores only if no
// Invalidate of the key happened since (a Cache may refuse more often, never
// less).
type Cache interface {
	// Get returns the value of key. On a miss it returns the Gen that a
	// later SetIf of this key must present.
	Get(ctx context.Context, key string) (val []byte, gen Gen, ok bool, err error)
	// SetIf stores val for ttl unless key was invalidated since the Get
	// that returned gen; stored says whether it did.
	SetIf(ctx context.Context, key string, val []byte, gen Gen, ttl time.Duration) (stored bool, err error)
	// Invalidate drops keys here and, for a shared cache, everywhere.
	Invalidate(ctx context.Context, keys ...string) error
	Close() error
}

// Gen is a key's invalidation generation as Get saw it. Callers only hand it
// back to SetIf. Local is the in-process generation, Shared the shared
// store's; a Cache without a shared store leaves Shared zero.
type Gen struct {
	Local, Shared uint64
}

// Loader reads one answer from the system of record and says how long it
// may be cached (zero or less: not at all). Negative answers ("no such
// certificate") come with a short ttl. It is given the key, so one loader
// made once serves every key: a closure made per lookup would cost an
// allocation on every cached answer, where it is never called.
type Loader func(ctx context.Context, key string) (val []byte, ttl time.Duration, err error)

// CachedOptions tune a Cached. The zero value is usable.
type CachedOptions struct {
	Logger *slog.Logger
	// LoadTimeout bounds one load. A load is shared by every caller waiting
	// for the key, so it does not end when the caller that started it
	// leaves; this bound does. Default 10s.
	LoadTimeout time.Duration
}

// CacheStats are counters of a Cached since it was made.
type CacheStats struct {
	Hits        uint64 // answered from the cache
	Loads       uint64 // loader calls
	LoadErrors  uint64 // loader calls that failed (never cached)
	CacheErrors uint64 // cache operations that failed (the answer came from the loader)
	Waiting     int64  // callers now waiting for a load another caller started
}

// Cached answers from a Cache and falls back to a Loader: concurrent misses
// of one key share one load, loader errors are returned and never cached,
// and errors of the cache never fail a request.
type Cached struct {
	cache       Cache
	log         *slog.Logger
	loadTimeout time.Duration

	mu      sync.Mutex
	flights map[string]*flight

	hits, loads, loadErrors, cacheErrors atomic.Uint64
	waiting                              atomic.Int64
}

// flight is one load in progress; val and err are set before done closes.
type flight struct {
	gen  Gen
	done chan struct{}
	val  []byte
	err  error
}

// NewCached wraps c. The caller still owns c and closes it.
func NewCached(c Cache, opts CachedOptions) *Cached {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.LoadTimeout <= 0 {
		opts.LoadTimeout = 10 * time.Second
	}
	return &Cached{cache: c, log: opts.Logger, loadTimeout: opts.LoadTimeout, flights: map[string]*flight{}}
}

// Get returns the cached value of key, or loads it. An error is either the
// loader's (wrapped) or ctx's.
func (c *Cached) Get(ctx context.Context, key string, load Loader) ([]byte, error) {
	val, gen, ok, err := c.cache.Get(ctx, key)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	store := err == nil
	if err != nil {
		c.cacheError(ctx, "get", err)
	} else if ok {
		c.hits.Add(1)
		return val, nil
	}

	c.mu.Lock()
	f, join := c.flights[key]
	// A flight that began under another generation may have read the
	// database before a change this caller must see: start a fresh one.
	join = join && f.gen == gen
	if !join {
		f = &flight{gen: gen, done: make(chan struct{})}
		c.flights[key] = f
		// Detached from ctx: others may join, and one caller hanging up
		// must not fail them.
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.loadTimeout)
		go func() {
			defer cancel()
			c.run(lctx, key, f, store, load)
		}()
	}
	c.mu.Unlock()

	if join {
		c.waiting.Add(1)
		defer c.waiting.Add(-1)
	}
	select {
	case <-f.done:
		return f.val, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *Cached) run(ctx context.Context, key string, f *flight, store bool, load Loader) {
	defer func() {
		c.mu.Lock()
		if c.flights[key] == f {
			delete(c.flights, key)
		}
		c.mu.Unlock()
		close(f.done)
	}()
	c.loads.Add(1)
	val, ttl, err := safeLoad(ctx, key, load)
	if err != nil {
		c.loadErrors.Add(1)
		f.err = fmt.Errorf("verify: load: %w", err)
		return
	}
	f.val = val
	if store && ttl > 0 {
		// A refused store (the key was invalidated meanwhile) is the
		// design working, not an error.
		if _, err := c.cache.SetIf(ctx, key, val, f.gen, ttl); err != nil {
			c.cacheError(ctx, "set", err)
		}
	}
}

// safeLoad turns a loader's panic into an error: the load runs on its own
// goroutine, where a panic would take the whole process down.
func safeLoad(ctx context.Context, key string, load Loader) (val []byte, ttl time.Duration, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("loader panicked: %v", r)
		}
	}()
	return load(ctx, key)
}

// Invalidate drops keys from the cache. Call it after the change commits
// and before the change's request returns. It never fails the request:
// errors are logged and counted, and the Cache itself stops trusting what
// it may not have dropped.
func (c *Cached) Invalidate(ctx context.Context, keys ...string) {
	if err := c.cache.Invalidate(ctx, keys...); err != nil {
		c.cacheError(ctx, "invalidate", err)
	}
	// Loads already under way may have read the old rows: later callers
	// must not join them.
	c.mu.Lock()
	for _, k := range keys {
		delete(c.flights, k)
	}
	c.mu.Unlock()
}

// Stats returns the counters.
func (c *Cached) Stats() CacheStats {
	return CacheStats{
		Hits:        c.hits.Load(),
		Loads:       c.loads.Load(),
		LoadErrors:  c.loadErrors.Load(),
		CacheErrors: c.cacheErrors.Load(),
		Waiting:     c.waiting.Load(),
	}
}

func (c *Cached) cacheError(ctx context.Context, op string, err error) {
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return // the caller left; the cache is fine
	}
	c.cacheErrors.Add(1)
	// Keys are not logged: a typed lookup's key may carry a holder's name.
	c.log.WarnContext(ctx, "verify cache: answering without the cache", "op", op, "err", err)
}
