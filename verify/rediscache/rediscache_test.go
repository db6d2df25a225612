package rediscache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/certseal/certseal/internal/testenv"
	"github.com/certseal/certseal/verify"
	"github.com/certseal/certseal/verify/cachetest"
	"github.com/certseal/certseal/verify/memcache"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// redisURL returns the shared test Redis, or skips.
func redisURL(t testing.TB) string {
	t.Helper()
	u := testenv.Env(t, "CERTSEAL_TEST_REDIS_URL")
	ro, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("CERTSEAL_TEST_REDIS_URL: %v", err)
	}
	rdb := redis.NewClient(ro)
	defer rdb.Close()
	if err := rdb.Ping(t.Context()).Err(); err != nil {
		testenv.Missing(t, "Redis at CERTSEAL_TEST_REDIS_URL unreachable: %v", err)
	}
	return u
}

// newPrefix returns a prefix no other test uses, and removes its keys from
// the shared Redis when the test ends.
func newPrefix(t testing.TB, u string) string {
	t.Helper()
	b := make([]byte, 6)
	rand.Read(b)
	prefix := "certseal-test-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		ro, _ := redis.ParseURL(u)
		rdb := redis.NewClient(ro)
		defer rdb.Close()
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+":*", 1000).Iterator()
		var batch []string
		for iter.Next(ctx) {
			if batch = append(batch, iter.Val()); len(batch) == 1000 {
				rdb.Unlink(ctx, batch...)
				batch = batch[:0]
			}
		}
		if len(batch) > 0 {
			rdb.Unlink(ctx, batch...)
		}
	})
	return prefix
}

// tlog writes the Cache's log into the test's.
type tlog struct{ t testing.TB }

func (w tlog) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func testOptions(t testing.TB, prefix string) Options {
	return Options{
		Prefix:    prefix,
		Timeout:   300 * time.Millisecond,
		Heartbeat: 200 * time.Millisecond,
		ValueKey:  testValueKey,
		Logger:    slog.New(slog.NewTextHandler(tlog{t}, nil)),
	}
}

// testValueKey is what every replica of a test deployment shares, as
// serve derives one from the KEK.
var testValueKey = []byte("certseal rediscache test key 32b")

// Redis holds no readable page: values are sealed, bound to their key, and
// a replica with another key (another deployment) reads misses.
func TestValuesSealedInRedis(t *testing.T) {
	u := redisURL(t)
	p := newPrefix(t, u)
	ctx := context.Background()
	c := openTrusted(t, u, testOptions(t, p))
	peer := testOptions(t, p)
	peer.L1TTL = time.Nanosecond // reads Redis, not a copy of its own
	fresh := openTrusted(t, u, peer)
	other := testOptions(t, p)
	other.ValueKey = []byte("another deployment's key, 32 b..")
	stranger := openTrusted(t, u, other)
	page := []byte("<h1>有效</h1> 王晓明 data:image/jpeg;base64,/9j/4AAQ")
	for _, key := range []string{"v1:t:372026000000013:0", "v1:t:372026000000021:0"} {
		_, gen, _, err := c.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if stored, err := c.SetIf(ctx, key, page, gen, time.Minute); err != nil || !stored {
			t.Fatalf("set %s: %v %v", key, stored, err)
		}
	}
	ro, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(ro)
	defer rdb.Close()
	raw := map[string]string{}
	iter := rdb.Scan(ctx, 0, p+":*:v:*", 100).Iterator()
	for iter.Next(ctx) {
		v, err := rdb.Get(ctx, iter.Val()).Result()
		if err != nil {
			t.Fatal(err)
		}
		raw[iter.Val()] = v
		if strings.Contains(v, "王晓明") || strings.Contains(v, "base64") {
			t.Errorf("%s holds the page readable: %q", iter.Val(), v)
		}
	}
	if len(raw) != 2 {
		t.Fatalf("found %d values under %s, want 2", len(raw), p)
	}
	// A value moved to another key does not open there.
	keys := slices.Sorted(maps.Keys(raw))
	if err := rdb.Set(ctx, keys[0], raw[keys[1]], time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	misses := 0
	for _, key := range []string{"v1:t:372026000000013:0", "v1:t:372026000000021:0"} {
		if _, _, ok, err := fresh.Get(ctx, key); err != nil {
			t.Fatal(err)
		} else if !ok {
			misses++
		}
	}
	if misses != 1 {
		t.Errorf("%d misses after moving one value, want 1", misses)
	}
	if _, _, ok, _ := stranger.Get(ctx, keys[1][strings.Index(keys[1], ":v:")+3:]); ok {
		t.Error("a replica with another key read a value")
	}
	if _, err := Open(u, Options{ValueKey: []byte("short")}); err == nil {
		t.Error("a 5-byte ValueKey was accepted")
	}
}

func open(t testing.TB, u string, opts Options) *Cache {
	t.Helper()
	c, err := Open(u, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// openTrusted opens a Cache and waits until its subscription is up.
func openTrusted(t testing.TB, u string, opts Options) *Cache {
	t.Helper()
	c := open(t, u, opts)
	waitFor(t, "the cache trusts itself", c.Trusted)
	return c
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSuite(t *testing.T) {
	u := redisURL(t)
	var prefixes sync.Map // *Cache -> prefix
	cachetest.Run(t, func(t *testing.T) verify.Cache {
		p := newPrefix(t, u)
		c := openTrusted(t, u, testOptions(t, p))
		prefixes.Store(c, p)
		return c
	}, cachetest.Caps{
		Peer: func(t *testing.T, c verify.Cache) verify.Cache {
			p, _ := prefixes.Load(c)
			return openTrusted(t, u, testOptions(t, p.(string)))
		},
	})
}

func TestOpenRejectsBraces(t *testing.T) {
	if _, err := Open("redis://127.0.0.1:1/0", Options{Prefix: "a{b}"}); err == nil {
		t.Fatal("a prefix with braces was accepted")
	}
	if _, err := Open("http://nowhere", Options{}); err == nil {
		t.Fatal("a URL that is not redis:// was accepted")
	}
}

func counting(calls *atomic.Int32, val string) verify.Loader {
	return func(context.Context, string) ([]byte, time.Duration, error) {
		calls.Add(1)
		return []byte(val), time.Hour, nil
	}
}

// Nothing listens on port 1: every answer comes from the loader, at once.
func TestUnreachableRedis(t *testing.T) {
	c := open(t, "redis://127.0.0.1:1/0", Options{Timeout: 100 * time.Millisecond, Heartbeat: 20 * time.Millisecond, Logger: quiet})
	cc := verify.NewCached(c, verify.CachedOptions{Logger: quiet})
	var calls atomic.Int32
	for range 3 {
		v, err := cc.Get(t.Context(), "v/X", counting(&calls, "from db"))
		if err != nil || string(v) != "from db" {
			t.Fatalf("Get = %q, %v; want the loader's answer", v, err)
		}
	}
	if calls.Load() != 3 {
		t.Fatalf("loader called %d times; want 3 (nothing can be cached)", calls.Load())
	}
	if err := c.Invalidate(t.Context(), "v/X"); err == nil {
		t.Fatal("Invalidate reported success without Redis")
	}
	cc.Invalidate(t.Context(), "v/X") // logged and counted, never fails the request
	if c.Trusted() {
		t.Fatal("trusted without Redis")
	}
	dbDown := errors.New("database down")
	if _, err := cc.Get(t.Context(), "v/X", func(context.Context, string) ([]byte, time.Duration, error) {
		return nil, 0, dbDown
	}); !errors.Is(err, dbDown) {
		t.Fatalf("with Redis and the database down: %v; want %v", err, dbDown)
	}
}

// proxy stands between a Cache and Redis, to take Redis away from one
// replica without stopping the shared server.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cond   *sync.Cond
	down   bool // refuse: close every connection at once
	paused bool // black hole: hold every byte
	conns  map[net.Conn]bool
}

func startProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	p.cond = sync.NewCond(&p.mu)
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.setPaused(false)
		p.cut()
	})
	return p
}

func (p *proxy) serve() {
	for {
		in, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			in.Close()
			continue
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		p.conns[in], p.conns[out] = true, true
		p.mu.Unlock()
		go p.pipe(in, out)
		go p.pipe(out, in)
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			for p.paused {
				p.cond.Wait()
			}
			p.mu.Unlock()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	src.Close()
	dst.Close()
}

// cut closes every connection; with down set, new ones are closed too.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *proxy) setDown(down bool) {
	p.mu.Lock()
	p.down = down
	p.mu.Unlock()
	if down {
		p.cut()
	}
}

func (p *proxy) setPaused(paused bool) {
	p.mu.Lock()
	p.paused = paused
	p.mu.Unlock()
	p.cond.Broadcast()
}

// via returns u with its address replaced by the proxy's.
func (p *proxy) via(t *testing.T, u string) string {
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	pu.Host = p.ln.Addr().String()
	return pu.String()
}

func redisAddr(t *testing.T, u string) string {
	ro, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	return ro.Addr
}

func set(t *testing.T, c verify.Cache, key, val string) {
	t.Helper()
	_, g, _, err := c.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := c.SetIf(t.Context(), key, []byte(val), g, time.Hour); !ok || err != nil {
		t.Fatalf("SetIf = %v, %v", ok, err)
	}
}

func hit(t *testing.T, c verify.Cache, key string) (string, bool) {
	t.Helper()
	v, _, ok, err := c.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	return string(v), ok
}

// The L1 answers without Redis: proven by deleting the value behind its back.
func TestL1ServesCopies(t *testing.T) {
	u := redisURL(t)
	prefix := newPrefix(t, u)
	c := openTrusted(t, u, testOptions(t, prefix))
	set(t, c, "cert", "valid")
	testenv.RedisClient(t, u).Del(t.Context(), c.valKey(stripe("cert"), "cert"))
	if v, ok := hit(t, c, "cert"); !ok || v != "valid" {
		t.Fatalf("Get = %q, %v; want the in-process copy", v, ok)
	}
}

// A replica loses Redis, and misses an invalidation meanwhile: once back,
// it must not serve its old in-process copy.
func TestOutageClearsInProcessCopies(t *testing.T) {
	u := redisURL(t)
	prefix := newPrefix(t, u)
	p := startProxy(t, redisAddr(t, u))
	// b first: a replica that starts empties the others' copies, and this
	// way a's start cannot empty what the test puts in a later.
	b := openTrusted(t, u, testOptions(t, prefix))
	a := openTrusted(t, p.via(t, u), testOptions(t, prefix))

	set(t, a, "cert", "valid")
	testenv.RedisClient(t, u).Del(t.Context(), a.valKey(stripe("cert"), "cert"))
	if _, ok := hit(t, a, "cert"); !ok {
		t.Fatal("a holds no in-process copy: the test would prove nothing")
	}

	p.setDown(true)
	waitFor(t, "a notices the outage", func() bool { return !a.Trusted() })
	if v, ok := hit(t, a, "cert"); ok {
		t.Fatalf("a served %q during the outage", v)
	}
	if err := b.Invalidate(t.Context(), "cert"); err != nil { // a cannot hear it
		t.Fatal(err)
	}
	p.setDown(false)
	waitFor(t, "a is back", a.Trusted)
	if v, ok := hit(t, a, "cert"); ok {
		t.Fatalf("a served %q after the outage", v)
	}
}

// A replica's own invalidation fails: the shared cache and the other
// replicas still hold the old answer. When it is back it must empty both.
func TestFailedInvalidationEmptiesSharedCache(t *testing.T) {
	u := redisURL(t)
	prefix := newPrefix(t, u)
	p := startProxy(t, redisAddr(t, u))
	// b first: a replica that starts empties the others' copies, and this
	// way a's start cannot empty what the test puts in a later.
	b := openTrusted(t, u, testOptions(t, prefix))
	a := openTrusted(t, p.via(t, u), testOptions(t, prefix))

	set(t, a, "cert", "valid")
	set(t, a, "other", "kept?")
	if v, ok := hit(t, b, "cert"); !ok || v != "valid" {
		t.Fatalf("b: %q, %v; want a hit", v, ok)
	}
	p.setDown(true)
	if err := a.Invalidate(t.Context(), "cert"); err == nil {
		t.Fatal("Invalidate reported success through a dead connection")
	}
	if a.Trusted() {
		t.Fatal("a trusts itself after a failed invalidation")
	}
	p.setDown(false)
	waitFor(t, "a is back", a.Trusted)
	if v, ok := hit(t, a, "cert"); ok {
		t.Fatalf("a served %q after its failed invalidation", v)
	}
	// a empties Redis before it trusts itself, and tells b to drop its
	// copies; b gets the message a moment later.
	waitFor(t, "b drops its copy", func() bool { _, ok := hit(t, b, "cert"); return !ok })
	if v, ok := hit(t, b, "other"); ok {
		t.Fatalf("b served %q after the shared cache was emptied", v)
	}
	// And the cache works again.
	set(t, b, "cert", "revoked")
	waitFor(t, "a sees the new answer", func() bool { v, ok := hit(t, a, "cert"); return ok && v == "revoked" })
}

// Redis stops answering without closing anything (a black hole): requests
// must not hang on it, and the in-process copies stop being trusted.
func TestBlackHole(t *testing.T) {
	u := redisURL(t)
	prefix := newPrefix(t, u)
	p := startProxy(t, redisAddr(t, u))
	a := openTrusted(t, p.via(t, u), testOptions(t, prefix))
	set(t, a, "cert", "valid")

	p.setPaused(true)
	waitFor(t, "a notices the silence", func() bool { return !a.Trusted() })
	if v, ok := hit(t, a, "cert"); ok {
		t.Fatalf("a served %q from a copy it can no longer vouch for", v)
	}
	cc := verify.NewCached(a, verify.CachedOptions{Logger: quiet})
	var calls atomic.Int32
	if v, err := cc.Get(t.Context(), "cert", counting(&calls, "from db")); err != nil || string(v) != "from db" {
		t.Fatalf("Get = %q, %v; want the loader's answer", v, err)
	}
	p.setPaused(false)
	p.cut() // what the black hole held is garbage to whoever reads it now
	waitFor(t, "a is back", a.Trusted)
}

// A Get that fails makes the cache distrust itself; a heartbeat on the live
// subscription restores trust without emptying the shared cache.
func TestFailedCallRecoversByHeartbeat(t *testing.T) {
	u := redisURL(t)
	prefix := newPrefix(t, u)
	a := openTrusted(t, u, testOptions(t, prefix))
	b := openTrusted(t, u, testOptions(t, prefix))
	set(t, b, "kept", "yes")
	a.failed(t.Context(), errors.New("injected"))
	if a.Trusted() {
		t.Fatal("trusted right after a failed call")
	}
	waitFor(t, "the heartbeat restores trust", a.Trusted)
	if v, ok := hit(t, a, "kept"); !ok || v != "yes" {
		t.Fatalf("Get = %q, %v; a mere failed call emptied the shared cache", v, ok)
	}
}

func TestUnreadableMessageClearsL1(t *testing.T) {
	u := redisURL(t)
	prefix := newPrefix(t, u)
	a := openTrusted(t, u, testOptions(t, prefix))
	set(t, a, "cert", "valid")
	testenv.RedisClient(t, u).Del(t.Context(), a.valKey(stripe("cert"), "cert"))
	if _, ok := hit(t, a, "cert"); !ok {
		t.Fatal("no in-process copy: the test would prove nothing")
	}
	testenv.RedisClient(t, u).Publish(t.Context(), prefix+":invalidate", "not json")
	waitFor(t, "the copy is dropped", func() bool { _, ok := hit(t, a, "cert"); return !ok })
}

func BenchmarkRedisGetHit(b *testing.B) {
	u := redisURL(b)
	prefix := newPrefix(b, u)
	val := make([]byte, 4096)
	for _, bc := range []struct {
		name    string
		l1Bytes int64
	}{{"L1", 0}, {"L2", 1}} { // 1 byte: nothing fits the L1
		b.Run(bc.name, func(b *testing.B) {
			opts := testOptions(b, prefix)
			opts.L1Bytes = bc.l1Bytes
			opts.Heartbeat = time.Second
			c := openTrusted(b, u, opts)
			ctx := context.Background()
			_, g, _, _ := c.Get(ctx, "v/bench")
			if ok, err := c.SetIf(ctx, "v/bench", val, g, time.Hour); !ok || err != nil {
				b.Fatalf("SetIf = %v, %v", ok, err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, _, ok, err := c.Get(ctx, "v/bench"); !ok || err != nil {
					b.Fatalf("Get: %v, %v", ok, err)
				}
			}
		})
	}
}

// Anyone who can reach Redis can publish on the channel: whatever arrives
// must neither panic nor leave a copy it might have meant to drop.
func FuzzApply(f *testing.F) {
	f.Add(`{"from":"x","keys":["k"]}`)
	f.Add(`{"from":"x","all":true}`)
	f.Add(`{"from":"me","keys":["k"]}`)
	f.Add(`{"keys":null}`)
	f.Add(`not json`)
	f.Fuzz(func(t *testing.T, payload string) {
		c := &Cache{l1: memcache.New(memcache.Options{}), log: quiet, id: "me"}
		_, g, _, _ := c.l1.Get(context.Background(), "k")
		c.l1.SetIf(context.Background(), "k", []byte("v"), g, time.Hour)
		c.apply(payload)
		_, _, kept, _ := c.l1.Get(context.Background(), "k")
		var m message
		if err := json.Unmarshal([]byte(payload), &m); err != nil && kept {
			t.Fatalf("unreadable %q kept the copy", payload)
		}
		if m.From != "me" && (m.All || slices.Contains(m.Keys, "k")) && kept {
			t.Fatalf("%q kept the copy", payload)
		}
	})
}

// logSink collects a Cache's log lines.
type logSink struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Subscribers that are not certseal replicas (redis-cli, a monitor, an
// older release during an upgrade) never confirm: Invalidate must not wait
// for them, while still waiting for the replicas.
func TestInvalidateWaitsOnlyForReplicas(t *testing.T) {
	u := redisURL(t)
	prefix := newPrefix(t, u)
	var logs logSink
	opts := testOptions(t, prefix)
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	a := openTrusted(t, u, opts)
	b := openTrusted(t, u, testOptions(t, prefix))

	listener := testenv.RedisClient(t, u).Subscribe(t.Context(), prefix+":invalidate")
	defer listener.Close()
	if _, err := listener.Receive(t.Context()); err != nil {
		t.Fatal(err)
	}
	monitor := testenv.RedisClient(t, u).PSubscribe(t.Context(), "*")
	defer monitor.Close()
	if _, err := monitor.Receive(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both replicas announce themselves", func() bool {
		n, _ := testenv.RedisClient(t, u).ZCard(t.Context(), prefix+":replicas").Result()
		return n == 2
	})
	for i := range 5 {
		set(t, a, "k", "valid")
		if _, ok := hit(t, b, "k"); !ok {
			t.Fatal("b holds no copy: the test would prove nothing")
		}
		if err := a.Invalidate(t.Context(), "k"); err != nil {
			t.Fatal(err)
		}
		if v, ok := hit(t, b, "k"); ok {
			t.Fatalf("try %d: b served %q right after a's Invalidate returned", i, v)
		}
	}
	if strings.Contains(logs.String(), "not every replica confirmed") {
		t.Fatalf("a waited for subscribers that are not replicas:\n%s", logs.String())
	}
}

// A replica whose connection goes silent right after a heartbeat does not
// serve its copy once the invalidation has returned: the invalidation
// waits out the silent replica's lease (counted from its last ping).
func TestStalledReplicaServesNothingAfterInvalidate(t *testing.T) {
	u := redisURL(t)
	prefix := newPrefix(t, u)
	p := startProxy(t, redisAddr(t, u))
	opts := testOptions(t, prefix)
	opts.Timeout, opts.Heartbeat = 100*time.Millisecond, 300*time.Millisecond // Timeout well under the lease
	a := openTrusted(t, u, opts)
	b := openTrusted(t, p.via(t, u), opts)
	set(t, a, "cert", "valid")
	if v, ok := hit(t, b, "cert"); !ok || v != "valid" {
		t.Fatal("b has no copy")
	}
	last := b.lastPong.Load()
	waitFor(t, "a fresh pong", func() bool { return b.lastPong.Load() != last })
	p.setPaused(true)
	defer func() { p.setPaused(false); p.cut() }()
	if err := a.Invalidate(t.Context(), "cert"); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if v, _, ok, _ := b.Get(t.Context(), "cert"); ok && string(v) == "valid" {
			t.Fatal("the stalled replica served its copy after the invalidation returned")
		}
	}
}
