// Package memcache is the in-process verify.Cache, the default: a sharded
// map bounded in bytes, with a time to live per entry.
package memcache

import (
	"context"
	"hash/maphash"
	"sync"
	"time"

	"github.com/certseal/certseal/verify"
)

const (
	shards  = 64
	stripes = 64 // generation counters per shard
	// overhead approximates the bookkeeping of one entry, so that many tiny
	// entries are bounded too.
	overhead = 64
	// sample is how many entries an eviction looks at, once no expired
	// entry is left to drop.
	sample = 5
)

// Options tune a Cache. The zero value is usable.
type Options struct {
	// MaxBytes bounds keys plus values plus a per-entry overhead.
	// Default 64 MiB. A value larger than MaxBytes/64 is not stored.
	MaxBytes int64
}

// Cache is an in-process verify.Cache. It is safe for concurrent use.
type Cache struct {
	seed   maphash.Seed
	born   time.Time // entries expire by the monotonic clock since
	shards [shards]shard
}

type shard struct {
	mu    sync.RWMutex
	m     map[string]entry
	bytes int64
	max   int64
	// gens are bumped by Invalidate, under mu, so SetIf can tell whether
	// a key was invalidated since Get. Striping keeps them bounded: an
	// invalidation also refuses in-flight stores of keys in the same
	// stripe, which costs a reload, never correctness.
	gens [stripes]uint64
}

type entry struct {
	val []byte
	exp int64 // nanoseconds after Cache.born
}

var _ verify.Cache = (*Cache)(nil)

// New returns an empty Cache.
func New(opts Options) *Cache {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = 64 << 20
	}
	c := &Cache{seed: maphash.MakeSeed(), born: time.Now()}
	for i := range c.shards {
		c.shards[i].m = map[string]entry{}
		c.shards[i].max = opts.MaxBytes / shards
	}
	return c
}

// now reads the monotonic clock only: half of what time.Now costs, and a
// hit reads the clock on every request.
func (c *Cache) now() int64 { return int64(time.Since(c.born)) }

func (c *Cache) locate(key string) (*shard, int) {
	h := maphash.String(c.seed, key)
	return &c.shards[h%shards], int(h / shards % stripes)
}

// Get implements verify.Cache.
func (c *Cache) Get(_ context.Context, key string) ([]byte, verify.Gen, bool, error) {
	s, st := c.locate(key)
	s.mu.RLock()
	e, ok := s.m[key]
	g := s.gens[st]
	s.mu.RUnlock()
	if ok && c.now() < e.exp {
		return e.val, verify.Gen{}, true, nil
	}
	return nil, verify.Gen{Local: g}, false, nil
}

// SetIf implements verify.Cache; it compares gen.Local only.
func (c *Cache) SetIf(_ context.Context, key string, val []byte, gen verify.Gen, ttl time.Duration) (bool, error) {
	s, st := c.locate(key)
	size := int64(len(key)+len(val)) + overhead
	if ttl <= 0 || size > s.max {
		return false, nil
	}
	now := c.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gens[st] != gen.Local {
		return false, nil
	}
	if old, ok := s.m[key]; ok {
		s.drop(key, old)
	}
	for swept := false; s.bytes+size > s.max; {
		if !swept {
			s.sweep(now)
			swept = true
			continue
		}
		s.evict()
	}
	s.m[key] = entry{val: val, exp: now + int64(ttl)}
	s.bytes += size
	return true, nil
}

// sweep drops every expired entry. It runs only when a shard is full, and
// stores follow a database read, so a pass over one shard costs little.
func (s *shard) sweep(now int64) {
	for k, e := range s.m {
		if e.exp <= now {
			s.drop(k, e)
		}
	}
}

// evict drops one live entry: of a few sampled (map order is random), the
// one that expires first. Cheaper than an LRU list and good enough for
// answers that all live minutes at most.
func (s *shard) evict() {
	var victim string
	var ve entry
	n := 0
	for k, e := range s.m {
		if n == 0 || e.exp < ve.exp {
			victim, ve = k, e
		}
		if n++; n == sample {
			break
		}
	}
	s.drop(victim, ve)
}

func (s *shard) drop(k string, e entry) {
	s.bytes -= int64(len(k)+len(e.val)) + overhead
	delete(s.m, k)
}

// Invalidate implements verify.Cache; it never fails.
func (c *Cache) Invalidate(_ context.Context, keys ...string) error {
	for _, k := range keys {
		s, st := c.locate(k)
		s.mu.Lock()
		s.gens[st]++
		if e, ok := s.m[k]; ok {
			s.drop(k, e)
		}
		s.mu.Unlock()
	}
	return nil
}

// Clear drops every entry and refuses every store in flight.
func (c *Cache) Clear() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for j := range s.gens {
			s.gens[j]++
		}
		clear(s.m)
		s.bytes = 0
		s.mu.Unlock()
	}
}

// Close implements verify.Cache; there is nothing to release.
func (c *Cache) Close() error { return nil }
