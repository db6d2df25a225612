package api

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"
)

// plumbClock is a clock the test moves.
type plumbClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *plumbClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *plumbClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestLimiterTokenBucket(t *testing.T) {
	clock := &plumbClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := newLimiter(2, 3, clock.now) // 2 per second, bursts of 3
	steps := []struct {
		advance time.Duration
		client  string
		ok      bool
		wait    time.Duration
	}{
		{0, "a", true, 0},
		{0, "a", true, 0},
		{0, "a", true, 0},
		{0, "a", false, 500 * time.Millisecond}, // burst spent: one token every 0.5 s
		{0, "b", true, 0},                       // another client has its own bucket
		{250 * time.Millisecond, "a", false, 250 * time.Millisecond},
		{250 * time.Millisecond, "a", true, 0},
		{0, "a", false, 500 * time.Millisecond},
		{time.Hour, "a", true, 0}, // refilled, but never beyond the burst
		{0, "a", true, 0},
		{0, "a", true, 0},
		{0, "a", false, 500 * time.Millisecond},
	}
	for i, s := range steps {
		clock.advance(s.advance)
		ok, wait := l.allow(l.now(), []byte(s.client))
		if ok != s.ok || wait != s.wait {
			t.Fatalf("step %d (%s after %v): allow = %v wait %v, want %v %v", i, s.client, s.advance, ok, wait, s.ok, s.wait)
		}
	}
}

func TestLimiterForgetsIdleClients(t *testing.T) {
	clock := &plumbClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := newLimiter(1, 5, clock.now) // refills in 5 s
	for i := range 100 {
		l.allow(l.now(), fmt.Append(nil, "10.0.0.", i))
	}
	if len(l.buckets) != 100 {
		t.Fatalf("%d buckets", len(l.buckets))
	}
	clock.advance(4 * time.Second)
	l.allow(l.now(), []byte("active"))
	clock.advance(2 * time.Second) // the 100 are full again; "active" is not
	l.allow(l.now(), []byte("other"))
	if _, ok := l.buckets["active"]; !ok || len(l.buckets) != 2 {
		t.Errorf("after the sweep: %d buckets, active kept %v", len(l.buckets), ok)
	}

	// A flood of distinct clients never grows memory past the cap.
	l.maxClients = 50
	for i := range 1000 {
		l.allow(l.now(), fmt.Append(nil, "flood-", i))
		if len(l.buckets) > 50 {
			t.Fatalf("%d buckets past a cap of 50", len(l.buckets))
		}
	}
}

func TestNewLimiterRefusesNonsense(t *testing.T) {
	for _, tc := range []struct {
		rps   float64
		burst int
	}{{0, 1}, {-1, 1}, {1, 0}, {math.NaN(), 1}, {math.Inf(1), 1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("RateLimit(%v, %d) did not refuse", tc.rps, tc.burst)
				}
			}()
			RateLimit(tc.rps, tc.burst)
		}()
	}
}

func TestClientOf(t *testing.T) {
	tests := []struct {
		name, remote string
		xff          []string
		trust        bool
		want         string
	}{
		{"ipv4", "203.0.113.7:4711", nil, false, "203.0.113.7"},
		{"ipv6 grouped by /64", "[2001:db8:1:2:aaaa::1]:443", nil, false, "2001:db8:1:2::/64"},
		{"same /64", "[2001:db8:1:2:bbbb::9]:443", nil, false, "2001:db8:1:2::/64"},
		{"ipv4-mapped", "[::ffff:198.51.100.2]:80", nil, false, "198.51.100.2"},
		{"zone dropped", "[fe80::1%eth0]:80", nil, false, "fe80::/64"},
		{"no port", "198.51.100.3", nil, false, "198.51.100.3"},
		{"xff ignored untrusted", "10.0.0.1:1", []string{"198.51.100.9"}, false, "10.0.0.1"},
		{"xff trusted", "10.0.0.1:1", []string{"198.51.100.9"}, true, "198.51.100.9"},
		{"xff rightmost: the left is the client's own word", "10.0.0.1:1", []string{"1.1.1.1, 198.51.100.9"}, true, "198.51.100.9"},
		{"xff last header", "10.0.0.1:1", []string{"1.1.1.1", "2.2.2.2,198.51.100.10"}, true, "198.51.100.10"},
		{"xff garbage falls back", "10.0.0.1:1", []string{"not-an-ip"}, true, "10.0.0.1"},
		{"xff ipv6", "10.0.0.1:1", []string{"2001:db8::5"}, true, "2001:db8::/64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLimiter(1, 1, time.Now)
			TrustForwardedFor(tc.trust)(l)
			req := httptest.NewRequest("GET", "/v", nil)
			req.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			if got := string(l.clientKey(nil, req)); got != tc.want {
				t.Errorf("clientOf = %q, want %q", got, tc.want)
			}
		})
	}
}

func FuzzClientOf(f *testing.F) {
	f.Add("203.0.113.7:1", "1.2.3.4, 5.6.7.8")
	f.Add("[::1]:2", "")
	f.Add("", ",,,")
	f.Fuzz(func(t *testing.T, remote, xff string) {
		l := newLimiter(1, 1, time.Now)
		l.trustXFF = true
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = remote
		req.Header.Set("X-Forwarded-For", xff)
		l.clientKey(nil, req) // must not panic
		// The dotted IPv4 shortcut keys a client as the parsing does.
		if fast, ok := dottedIPv4Host(remote); ok {
			host, _, err := net.SplitHostPort(remote)
			if err != nil {
				return // the port is not one: no address to agree on
			}
			slow := host
			if a, err := netip.ParseAddr(host); err == nil {
				slow = string(appendAddrKey(nil, a))
			}
			if fast != slow {
				t.Errorf("%q: shortcut %q, parsed %q", remote, fast, slow)
			}
		}
	})
}

func TestRateLimitMiddleware(t *testing.T) {
	h := RateLimit(1, 2)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	get := func(remote string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/v/1?k=x", nil)
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for i := range 2 {
		if rec := get("192.0.2.1:1"); rec.Code != 204 {
			t.Fatalf("request %d within the burst: %d", i, rec.Code)
		}
	}
	rec := get("192.0.2.1:2")
	if rec.Code != 429 || plumbProblem(t, rec).Code != "rate_limited" {
		t.Fatalf("over the limit: %d %s", rec.Code, rec.Body)
	}
	if s, err := strconv.Atoi(rec.Header().Get("Retry-After")); err != nil || s < 1 {
		t.Errorf("Retry-After %q: want whole seconds, at least 1", rec.Header().Get("Retry-After"))
	}
	if rec := get("192.0.2.2:1"); rec.Code != 204 {
		t.Errorf("another client was limited: %d", rec.Code)
	}
}

// Many clients at once: the limiter is safe for concurrent use (-race) and
// never lets one client past its burst.
func TestRateLimitConcurrent(t *testing.T) {
	clock := &plumbClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := newLimiter(1, 10, clock.now) // the clock stands still: no refill
	var mu sync.Mutex
	allowed := map[string]int{}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				c := fmt.Sprint("c", (g+i)%4)
				if ok, _ := l.allow(l.now(), []byte(c)); ok {
					mu.Lock()
					allowed[c]++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	for c, n := range allowed {
		if n != 10 {
			t.Errorf("client %s allowed %d times, want exactly the burst of 10", c, n)
		}
	}
}
