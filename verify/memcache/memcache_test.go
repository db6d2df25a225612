package memcache_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certseal/certseal/verify"
	"github.com/certseal/certseal/verify/cachetest"
	"github.com/certseal/certseal/verify/memcache"
)

func TestSuite(t *testing.T) {
	cachetest.Run(t, func(t *testing.T) verify.Cache {
		c := memcache.New(memcache.Options{})
		t.Cleanup(func() { c.Close() })
		return c
	}, cachetest.Caps{})
}

func store(t *testing.T, c *memcache.Cache, key string, val []byte) bool {
	t.Helper()
	_, g, _, _ := c.Get(t.Context(), key)
	ok, err := c.SetIf(t.Context(), key, val, g, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestBoundedBytes(t *testing.T) {
	const max = 64 * 4096 // 4 KiB per shard
	c := memcache.New(memcache.Options{MaxBytes: max})
	val := []byte(strings.Repeat("x", 500))
	const n = 5000
	for i := range n {
		k := "key-" + strconv.Itoa(i)
		if !store(t, c, k, val) {
			t.Fatalf("store %s refused", k)
		}
		// What was just stored is there: eviction picks others.
		if v, _, ok, _ := c.Get(t.Context(), k); !ok || len(v) != len(val) {
			t.Fatalf("%s missing right after it was stored", k)
		}
	}
	held := 0
	for i := range n {
		if _, _, ok, _ := c.Get(t.Context(), "key-"+strconv.Itoa(i)); ok {
			held++
		}
	}
	// Each entry costs its key, its value and the overhead (>= 571 bytes).
	if limit := max / 571; held > limit || held == 0 {
		t.Fatalf("%d of %d entries held; want between 1 and %d", held, n, limit)
	}
}

func TestTooLargeNotStored(t *testing.T) {
	c := memcache.New(memcache.Options{MaxBytes: 64 * 1024})
	if store(t, c, "big", make([]byte, 2048)) {
		t.Fatal("a value larger than a shard's budget was stored")
	}
	if !store(t, c, "small", make([]byte, 100)) {
		t.Fatal("a small value was refused")
	}
}

func TestEvictionPrefersExpired(t *testing.T) {
	// 28 entries of 500 bytes fit a shard; 200 live ones spread over 64
	// shards never need more.
	c := memcache.New(memcache.Options{MaxBytes: 64 * 16384})
	ctx := context.Background()
	val := make([]byte, 500)
	// Fill with entries that expire at once, then with live ones: the live
	// ones must push out the expired ones, not each other.
	for i := range 5000 {
		k := "dead-" + strconv.Itoa(i)
		_, g, _, _ := c.Get(ctx, k)
		c.SetIf(ctx, k, val, g, time.Nanosecond)
	}
	live := 0
	for i := range 200 {
		k := "live-" + strconv.Itoa(i)
		if store(t, c, k, val) {
			live++
		}
	}
	for i := range 200 {
		if _, _, ok, _ := c.Get(ctx, "live-"+strconv.Itoa(i)); !ok {
			t.Fatalf("live-%d evicted while expired entries could go; %d live stored", i, live)
		}
	}
}

func TestClearRefusesInFlightStores(t *testing.T) {
	c := memcache.New(memcache.Options{})
	store(t, c, "a", []byte("1"))
	_, g, _, _ := c.Get(t.Context(), "b")
	c.Clear()
	if _, _, ok, _ := c.Get(t.Context(), "a"); ok {
		t.Fatal("Clear kept an entry")
	}
	if ok, _ := c.SetIf(t.Context(), "b", []byte("2"), g, time.Hour); ok {
		t.Fatal("a store begun before Clear was accepted")
	}
}

func BenchmarkMemcacheGetHit(b *testing.B) {
	c := memcache.New(memcache.Options{})
	ctx := context.Background()
	keys := make([]string, 1024)
	val := make([]byte, 4096)
	for i := range keys {
		keys[i] = "v/" + strconv.Itoa(100000+i)
		_, g, _, _ := c.Get(ctx, keys[i])
		c.SetIf(ctx, keys[i], val, g, time.Hour)
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, _, ok, _ := c.Get(ctx, keys[i%len(keys)]); !ok {
				b.Fatal("miss")
			}
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if _, _, ok, _ := c.Get(ctx, keys[i%len(keys)]); !ok {
					b.Fatal("miss")
				}
				i++
			}
		})
	})
}
