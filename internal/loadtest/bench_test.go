package loadtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/redis/go-redis/v9"

	"github.com/certseal/certseal/internal/api"
	"github.com/certseal/certseal/internal/testenv"
	"github.com/certseal/certseal/keys"
	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/postgres"
	"github.com/certseal/certseal/registry/sqlite"
	"github.com/certseal/certseal/signer"
	"github.com/certseal/certseal/verify"
	"github.com/certseal/certseal/verify/memcache"
	"github.com/certseal/certseal/verify/rediscache"
)

// BenchmarkVerifyPage runs the public verification page in-process: the
// real handler (api.New with every middleware, verify.Service) against a
// bare chi handler writing the same bytes. Profile it with
//
//	go test ./internal/loadtest -run '^$' -bench 'VerifyPage/(bare|cached)' -cpuprofile cpu.out
//
// Sub-benchmarks:
//
//	bare                   chi router, one handler, the page's bytes
//	cached/log=info        the real handler, in-process cache, access log
//	                       formatted (to io.Discard) as in production
//	cached/log=warn        the same without the access log line
//	cached/redis           the real handler on the Redis cache (its L1 hit)
//	uncached/sqlite        every request read from the embedded store and
//	                       rendered (a cache that keeps nothing); serial, as
//	                       concurrent misses of one key share one read
//	uncached/postgres      the same on PostgreSQL
//
// The cached and bare cases run in parallel on GOMAXPROCS goroutines;
// compare their ns/op (the time per answer the machine can give) and, on
// a busy machine, their cpu-ns/op (CPU time per answer).
func BenchmarkVerifyPage(b *testing.B) {
	sq := demoData(b, "")
	page := sq.get(b, sq.handler(b, memcache.New(memcache.Options{}), slog.LevelInfo))

	b.Run("bare", func(b *testing.B) {
		r := chi.NewRouter()
		r.Get("/v/{number}", func(w http.ResponseWriter, _ *http.Request) {
			h := w.Header()
			h.Set("Content-Type", "text/html; charset=utf-8")
			h.Set("Cache-Control", "no-store")
			h.Set("X-Robots-Tag", "noindex")
			w.Write(page)
		})
		parallel(b, r, sq.path)
	})
	b.Run("cached/log=info", func(b *testing.B) {
		parallel(b, sq.handler(b, memcache.New(memcache.Options{}), slog.LevelInfo), sq.path)
	})
	b.Run("cached/log=warn", func(b *testing.B) {
		parallel(b, sq.handler(b, memcache.New(memcache.Options{}), slog.LevelWarn), sq.path)
	})
	b.Run("cached/redis", func(b *testing.B) {
		u := testenv.Env(b, "CERTSEAL_TEST_REDIS_URL")
		prefix := "certseal-bench-" + rand.Text()
		rc, err := rediscache.Open(u, rediscache.Options{Prefix: prefix, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			b.Fatal(err)
		}
		defer rc.Close()
		defer dropKeys(u, prefix)
		for deadline := time.Now().Add(10 * time.Second); !rc.Trusted(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				b.Skip("Redis at CERTSEAL_TEST_REDIS_URL is not answering")
			}
		}
		parallel(b, sq.handler(b, rc, slog.LevelInfo), sq.path)
	})
	b.Run("uncached/sqlite", func(b *testing.B) {
		serial(b, sq.handler(b, noCache{}, slog.LevelInfo), sq.path)
	})
	b.Run("uncached/postgres", func(b *testing.B) {
		pg := demoData(b, testenv.PostgresURL(b))
		serial(b, pg.handler(b, noCache{}, slog.LevelInfo), pg.path)
	})
}

// dropKeys removes a benchmark's keys from the shared Redis.
func dropKeys(u, prefix string) {
	ro, err := redis.ParseURL(u)
	if err != nil {
		return
	}
	rdb := redis.NewClient(ro)
	defer rdb.Close()
	ctx := context.Background()
	iter := rdb.Scan(ctx, 0, prefix+":*", 1000).Iterator()
	for iter.Next(ctx) {
		rdb.Del(ctx, iter.Val())
	}
}

// cpuTime is the CPU time the process has used (all threads: the
// benchmark's goroutines, the garbage collector).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds cpu-ns/op: on a machine shared with other work, ns/op
// (wall time) grows with the others' load, CPU time per request much less.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() { b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op") }
}

// parallel serves GET path on every benchmark goroutine.
func parallel(b *testing.B, h http.Handler, path string) {
	b.ReportAllocs()
	defer reportCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		w, r := newDiscard(), httptest.NewRequest(http.MethodGet, path, nil)
		for pb.Next() {
			w.reset()
			h.ServeHTTP(w, r)
			if w.code != http.StatusOK {
				b.Errorf("status %d", w.code)
				return
			}
		}
	})
}

func serial(b *testing.B, h http.Handler, path string) {
	b.ReportAllocs()
	defer reportCPU(b)()
	w, r := newDiscard(), httptest.NewRequest(http.MethodGet, path, nil)
	for b.Loop() {
		w.reset()
		h.ServeHTTP(w, r)
		if w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
}

// discard is a ResponseWriter that keeps only the status, so the
// benchmark measures the handler and not a recorder's copying.
type discard struct {
	h    http.Header
	code int
	body bytes.Buffer // only for the one checked request
	keep bool
}

func newDiscard() *discard { return &discard{h: http.Header{}} }

func (w *discard) reset() {
	clear(w.h)
	w.code = 0
}

func (w *discard) Header() http.Header { return w.h }

func (w *discard) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *discard) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	if w.keep {
		w.body.Write(p)
	}
	return len(p), nil
}

// noCache keeps nothing: every lookup is read from the store.
type noCache struct{}

func (noCache) Get(context.Context, string) ([]byte, verify.Gen, bool, error) {
	return nil, verify.Gen{}, false, nil
}

func (noCache) SetIf(context.Context, string, []byte, verify.Gen, time.Duration) (bool, error) {
	return false, nil
}

func (noCache) Invalidate(context.Context, ...string) error { return nil }
func (noCache) Close() error                                { return nil }

// deployment is a data directory (and database) where `certseal demo`
// issued one certificate, opened in-process.
type deployment struct {
	store registry.Store
	ca    *keys.CA
	path  string // /v/{number}?k={token}
}

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// certseal builds the binary once for the benchmarks of this process.
func certseal(b *testing.B) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "certseal-bench-")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "certseal")
		out, err := exec.Command("go", "build", "-o", binary, "github.com/certseal/certseal/cmd/certseal").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build certseal: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return binary
}

var verifyLine = regexp.MustCompile(`verify: https?://[^/]+(\S+)`)

// demoData runs `certseal demo` on a new data directory (and on
// databaseURL if given) and opens what it made.
func demoData(b *testing.B, databaseURL string) *deployment {
	b.Helper()
	dir := b.TempDir()
	cmd := exec.Command(certseal(b), "demo")
	cmd.Env = append(os.Environ(), "CERTSEAL_DATA_DIR="+dir, "CERTSEAL_DATABASE_URL="+databaseURL, "CERTSEAL_REDIS_URL=")
	out, err := cmd.Output()
	m := verifyLine.FindSubmatch(out)
	if err != nil || m == nil {
		b.Fatalf("certseal demo: %v\n%s", err, out)
	}
	quiet := slog.New(slog.DiscardHandler)
	kek, err := keys.LoadOrCreateKEK(filepath.Join(dir, "kek"), quiet)
	if err != nil {
		b.Fatal(err)
	}
	pii, err := registry.NewPII(kek.PersonalDataKey())
	if err != nil {
		b.Fatal(err)
	}
	d := &deployment{path: string(m[1])}
	if d.ca, err = keys.LoadOrCreateDevCA(filepath.Join(dir, "pki"), quiet, time.Now()); err != nil {
		b.Fatal(err)
	}
	if databaseURL != "" {
		d.store, err = postgres.Open(b.Context(), databaseURL, pii)
	} else {
		d.store, err = sqlite.Open(b.Context(), filepath.Join(dir, "certseal.db"), pii)
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.store.Close() })
	return d
}

// handler is the whole HTTP service as cmd/certseal wires it for the
// public routes, on cache c, with the access log at level.
func (d *deployment) handler(b *testing.B, c verify.Cache, level slog.Level) http.Handler {
	b.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: level}))
	trust := verify.PDFTrust{Root: d.ca.Root(), Issuing: []*x509.Certificate{d.ca.Issuing()}}
	svc, err := verify.NewService(d.store, verify.NewCached(c, verify.CachedOptions{Logger: log}), "http://127.0.0.1:8080", trust, time.Now)
	if err != nil {
		b.Fatal(err)
	}
	pki, err := keys.NewResponder(d.ca, keys.StoreSeals(d.store), log, time.Now)
	if err != nil {
		b.Fatal(err)
	}
	// The public page needs no issuing; the API's commands need an Issuer
	// to exist.
	issuer := signer.NewIssuer(signer.IssuerDeps{Store: d.store, Now: time.Now, Log: log})
	// Every page view is recorded for the holder's view, as serve does it.
	recorder := verify.NewRecorder(d.store, []byte("bench verifier hash key, 32 by."), verify.RecorderOptions{Logger: log})
	b.Cleanup(recorder.Close)
	return api.New(api.Deps{Store: d.store, PKI: pki, Verifier: svc, Issuer: issuer, Recorder: recorder, Metrics: api.NewMetrics(), Log: log,
		AccessLog: &api.TextAccessLog{W: io.Discard, Level: level}, // as certseal serve logs text
		BaseURL:   "http://127.0.0.1:8080", Now: time.Now,
		// One client sends everything here; production limits it.
		PublicRate: 1e9, PublicBurst: 1 << 30})
}

// get serves the page once and returns its bytes, checking that it says 有效.
func (d *deployment) get(b *testing.B, h http.Handler) []byte {
	b.Helper()
	w := newDiscard()
	w.keep = true
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, d.path, nil))
	if w.code != http.StatusOK || !bytes.Contains(w.body.Bytes(), []byte("<h1>有效</h1>")) {
		b.Fatalf("verification page %d:\n%s", w.code, w.body.Bytes())
	}
	return w.body.Bytes()
}
