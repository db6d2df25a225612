package api

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/certseal/certseal/registry"
)

// maxClients bounds the limiter's memory whatever the traffic: past it an
// arbitrary client is forgotten (its bucket refills), which favours a
// flood's victims over a flood from many addresses only marginally.
const maxClients = 100_000

// RateLimitOption adjusts RateLimit.
type RateLimitOption func(*limiter)

// TrustForwardedFor, when trust is true, takes the client address from the
// last X-Forwarded-For entry: the one the load balancer in front of us
// added. Earlier entries are the client's own word and never used. Only
// set it behind a proxy that always sets the header, else any client can
// choose its own bucket.
func TrustForwardedFor(trust bool) RateLimitOption {
	return func(l *limiter) { l.trustXFF = trust }
}

// RateLimit limits each client (IP address; an IPv6 client by its /64,
// which one host usually owns whole) to rps requests per second on
// average with bursts of burst, by token bucket. A client over the limit
// gets 429 with Retry-After in seconds. rps and burst must be positive.
func RateLimit(rps float64, burst int, opts ...RateLimitOption) func(http.Handler) http.Handler {
	l := newLimiter(rps, burst, time.Now)
	for _, o := range opts {
		o(l)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var buf [64]byte // the key is put together here, not on the heap
			// The request's start is now enough, and one clock read fewer.
			ok, wait := l.allow(requestTime(r.Context(), l.now), l.clientKey(buf[:0], r))
			if !ok {
				w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(wait.Seconds())), 10))
				WriteProblem(w, r, registry.Errf(CodeRateLimited, "too many requests from this address; try again in %s", wait.Round(time.Second).String()))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

type bucket struct {
	tokens float64
	last   time.Time
}

type limiter struct {
	rate, burst float64
	// refill is how long an empty bucket takes to fill: a client idle that
	// long is indistinguishable from a new one and can be forgotten.
	refill   time.Duration
	trustXFF bool
	now      func() time.Time
	// maxClients is the constant of that name; tests lower it.
	maxClients int

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

func newLimiter(rps float64, burst int, now func() time.Time) *limiter {
	if !(rps > 0) || burst < 1 || math.IsInf(rps, 0) {
		panic(fmt.Sprintf("api: RateLimit(%v, %d): rate and burst must be positive", rps, burst))
	}
	return &limiter{rate: rps, burst: float64(burst), now: now, buckets: make(map[string]*bucket), maxClients: maxClients,
		refill: time.Duration(float64(burst) / rps * float64(time.Second))}
}

// allow takes a token from client's bucket, or says how long until one is
// there. Only a new client's name is copied (to be a key of the map).
func (l *limiter) allow(now time.Time, client []byte) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b := l.buckets[string(client)]
	if b == nil {
		if len(l.buckets) >= l.maxClients {
			for k := range l.buckets { // map order is random: an arbitrary victim
				delete(l.buckets, k)
				break
			}
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[string(client)] = b
	} else if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = math.Min(l.burst, b.tokens+elapsed.Seconds()*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// sweep forgets clients whose bucket is full again, at most once per
// refill period (and per second), so memory follows the clients active
// lately at O(1) amortized cost per request.
func (l *limiter) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < max(l.refill, time.Second) {
		return
	}
	l.lastSweep = now
	for k, b := range l.buckets {
		if now.Sub(b.last) >= l.refill {
			delete(l.buckets, k)
		}
	}
}

// clientKey appends the name of the client's bucket to b.
func (l *limiter) clientKey(b []byte, r *http.Request) []byte {
	if l.trustXFF {
		if last, ok := lastForwardedFor(r); ok {
			if a, err := netip.ParseAddr(last); err == nil {
				return appendAddrKey(b, a)
			}
		}
	}
	if host, ok := dottedIPv4Host(r.RemoteAddr); ok {
		return append(b, host...) // as the kernel gave it: canonical already
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return appendAddrKey(b, a)
	}
	return append(b, host...)
}

// dottedIPv4Host is the host of an "a.b.c.d:port" address, the usual
// RemoteAddr, without parsing it: net/http has it from the kernel, which
// writes IPv4 addresses one way only. Anything else (IPv6, a name, a
// test's odd value) is for netip to read.
func dottedIPv4Host(addr string) (string, bool) {
	i := strings.LastIndexByte(addr, ':')
	if i < len("0.0.0.0") || i > len("255.255.255.255") {
		return "", false
	}
	for _, c := range []byte(addr[:i]) {
		if (c < '0' || c > '9') && c != '.' {
			return "", false
		}
	}
	return addr[:i], true
}

// lastForwardedFor is the address the load balancer appended to
// X-Forwarded-For: the one entry a client cannot forge.
func lastForwardedFor(r *http.Request) (string, bool) {
	vals := r.Header.Values("X-Forwarded-For")
	if len(vals) == 0 {
		return "", false
	}
	last := vals[len(vals)-1]
	if i := strings.LastIndexByte(last, ','); i >= 0 {
		last = last[i+1:]
	}
	return strings.TrimSpace(last), true
}

// appendAddrKey appends an IPv4 address, or the /64 of an IPv6 one.
func appendAddrKey(b []byte, a netip.Addr) []byte {
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.AppendTo(b)
	}
	p, _ := a.Prefix(64)
	return p.AppendTo(b)
}
