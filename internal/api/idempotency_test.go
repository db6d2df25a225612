package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/sqlite"
	"github.com/certseal/certseal/registry/storetest"
)

// plumbCounting is a handler that counts its runs, reads the body, and
// answers 201 with a Location and a body naming the run.
type plumbCounting struct {
	runs   atomic.Int64
	status int           // 0: 201
	read   bool          // read the body
	gate   chan struct{} // if set, every run waits for it
	tag    string        // tells two handlers' answers apart
}

func (c *plumbCounting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := c.runs.Add(1)
	var body []byte
	if c.read {
		var err error
		if body, err = io.ReadAll(r.Body); err != nil {
			WriteProblem(w, r, err)
			return
		}
	}
	if c.gate != nil {
		<-c.gate
	}
	status := c.status
	if status == 0 {
		status = http.StatusCreated
	}
	if status >= 400 {
		WriteProblem(w, r, &registry.Error{Code: plumbCodeFor(status), Msg: fmt.Sprintf("run %d", n)})
		return
	}
	w.Header().Set("Location", fmt.Sprintf("/api/v1/things/%s%d", c.tag, n))
	w.Header().Set("X-Run", fmt.Sprint(n))
	WriteJSON(w, status, map[string]any{"run": n, "tag": c.tag, "body": string(body)})
}

func plumbCodeFor(status int) registry.Code {
	switch status {
	case 422:
		return registry.CodeInvalid
	case 429:
		return CodeRateLimited
	case 503:
		return registry.CodeUnavailable
	}
	return CodeInternal
}

// plumbAs puts a principal in the context, standing in for Authenticate.
func plumbAs(keyID int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if keyID != 0 {
			r = r.WithContext(WithPrincipal(r.Context(), Principal{KeyID: keyID, Role: registry.RolePlatform}))
		}
		next.ServeHTTP(w, r)
	})
}

type plumbCall struct {
	keyID              int64
	method, path, body string
	idemKey            string
	noKey              bool
	ctx                context.Context
}

func plumbDo(h http.Handler, c plumbCall) *httptest.ResponseRecorder {
	if c.method == "" {
		c.method = "POST"
	}
	if c.path == "" {
		c.path = "/api/v1/things"
	}
	req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
	if c.ctx != nil {
		req = req.WithContext(c.ctx)
	}
	req.Header.Set("Content-Type", "application/json")
	if !c.noKey {
		req.Header.Set(IdempotencyKeyHeader, c.idemKey)
	}
	rec := httptest.NewRecorder()
	plumbing{}.wrap(plumbAs(c.keyID, h)).ServeHTTP(rec, req)
	return rec
}

func TestIdempotencySequential(t *testing.T) {
	const body = `{"name":"x"}`
	tests := []struct {
		name     string
		handler  *plumbCounting
		first    plumbCall
		second   plumbCall
		runs     int64 // handler runs after both calls
		status2  int
		replayed bool
		code2    string
	}{
		{"same key and body replays", &plumbCounting{read: true},
			plumbCall{keyID: 1, body: body, idemKey: "k1"}, plumbCall{keyID: 1, body: body, idemKey: "k1"}, 1, 201, true, ""},
		{"body unread by the handler still counts", &plumbCounting{},
			plumbCall{keyID: 1, body: body, idemKey: "k1"}, plumbCall{keyID: 1, body: body, idemKey: "k1"}, 1, 201, true, ""},
		{"other body is a mismatch", &plumbCounting{read: true},
			plumbCall{keyID: 1, body: body, idemKey: "k1"}, plumbCall{keyID: 1, body: `{"name":"y"}`, idemKey: "k1"}, 1, 409, false, "idempotency_mismatch"},
		{"unread other body is a mismatch", &plumbCounting{},
			plumbCall{keyID: 1, body: body, idemKey: "k1"}, plumbCall{keyID: 1, body: `{"name":"y"}`, idemKey: "k1"}, 1, 409, false, "idempotency_mismatch"},
		{"other path is a mismatch", &plumbCounting{read: true},
			plumbCall{keyID: 1, body: body, idemKey: "k1"}, plumbCall{keyID: 1, path: "/api/v1/others", body: body, idemKey: "k1"}, 1, 409, false, "idempotency_mismatch"},
		{"other query is a mismatch", &plumbCounting{read: true},
			plumbCall{keyID: 1, path: "/api/v1/things?unit_id=1", body: body, idemKey: "k1"}, plumbCall{keyID: 1, path: "/api/v1/things?unit_id=2", body: body, idemKey: "k1"}, 1, 409, false, "idempotency_mismatch"},
		{"other method is a mismatch", &plumbCounting{read: true},
			plumbCall{keyID: 1, body: body, idemKey: "k1"}, plumbCall{keyID: 1, method: "PUT", body: body, idemKey: "k1"}, 1, 409, false, "idempotency_mismatch"},
		{"keys are per caller", &plumbCounting{read: true},
			plumbCall{keyID: 1, body: body, idemKey: "k1"}, plumbCall{keyID: 2, body: body, idemKey: "k1"}, 2, 201, false, ""},
		{"public scope", &plumbCounting{read: true},
			plumbCall{body: body, idemKey: "k1"}, plumbCall{body: body, idemKey: "k1"}, 1, 201, true, ""},
		{"other key runs again", &plumbCounting{read: true},
			plumbCall{keyID: 1, body: body, idemKey: "k1"}, plumbCall{keyID: 1, body: body, idemKey: "k2"}, 2, 201, false, ""},
		{"no key runs again", &plumbCounting{read: true},
			plumbCall{keyID: 1, body: body, noKey: true}, plumbCall{keyID: 1, body: body, noKey: true}, 2, 201, false, ""},
		{"GET is not idempotency-managed", &plumbCounting{},
			plumbCall{keyID: 1, method: "GET", idemKey: "k1"}, plumbCall{keyID: 1, method: "GET", idemKey: "k1"}, 2, 201, false, ""},
		{"4xx is final and replayed", &plumbCounting{read: true, status: 422},
			plumbCall{keyID: 1, body: body, idemKey: "k1"}, plumbCall{keyID: 1, body: body, idemKey: "k1"}, 1, 422, true, "invalid"},
		{"5xx is not stored", &plumbCounting{read: true, status: 500},
			plumbCall{keyID: 1, body: body, idemKey: "k1"}, plumbCall{keyID: 1, body: body, idemKey: "k1"}, 2, 500, false, "internal"},
		{"503 is not stored", &plumbCounting{read: true, status: 503},
			plumbCall{keyID: 1, body: body, idemKey: "k1"}, plumbCall{keyID: 1, body: body, idemKey: "k1"}, 2, 503, false, "unavailable"},
		{"429 is not stored", &plumbCounting{read: true, status: 429},
			plumbCall{keyID: 1, body: body, idemKey: "k1"}, plumbCall{keyID: 1, body: body, idemKey: "k1"}, 2, 429, false, "rate_limited"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := Idempotency(plumbStore(t))(tc.handler)
			first := plumbDo(h, tc.first)
			second := plumbDo(h, tc.second)
			if got := tc.handler.runs.Load(); got != tc.runs {
				t.Errorf("handler ran %d times, want %d", got, tc.runs)
			}
			if second.Code != tc.status2 {
				t.Fatalf("second status %d, want %d: %s", second.Code, tc.status2, second.Body)
			}
			if got := second.Header().Get(ReplayedHeader) == "true"; got != tc.replayed {
				t.Errorf("replayed = %v, want %v", got, tc.replayed)
			}
			if tc.code2 != "" {
				if p := plumbProblem(t, second); p.Code != tc.code2 {
					t.Errorf("code %s, want %s", p.Code, tc.code2)
				}
			}
			if !tc.replayed {
				return
			}
			// A replay is the first answer exactly: status, body and the
			// headers that belong to it; not the per-request ones.
			if first.Code != second.Code || first.Body.String() != second.Body.String() {
				t.Errorf("replay differs:\n%d %s\n%d %s", first.Code, first.Body, second.Code, second.Body)
			}
			for _, name := range []string{"Content-Type", "Location"} {
				if first.Header().Get(name) != second.Header().Get(name) {
					t.Errorf("%s: %q then %q", name, first.Header().Get(name), second.Header().Get(name))
				}
			}
			if second.Header().Get("X-Run") != "" {
				t.Errorf("replayed a header that is not part of the answer")
			}
			if first.Header().Get("X-Request-ID") == second.Header().Get("X-Request-ID") {
				t.Errorf("the replay reused the first request's id")
			}
		})
	}
}

func TestIdempotencyKeyValidation(t *testing.T) {
	tests := []struct {
		key  string
		good bool
	}{
		{"a", true},
		{"8c1b6f2e-7d7a-4d0c-9a53-5f1f0a2b3c4d", true},
		{strings.Repeat("k", 200), true},
		{"with space and ~!@#", true},
		{"", false},
		{strings.Repeat("k", 201), false},
		{"tab\there", false},
		{"nl\nhere", false},
		{"del\x7f", false},
		{"中文", false},
	}
	for _, tc := range tests {
		if validIdempotencyKey(tc.key) != tc.good {
			t.Errorf("validIdempotencyKey(%q) = %v", tc.key, !tc.good)
		}
	}
	// Through the middleware: 400 naming the header, and nothing runs.
	var c plumbCounting
	h := Idempotency(plumbStore(t))(&c)
	rec := plumbDo(h, plumbCall{keyID: 1, body: "{}", idemKey: strings.Repeat("k", 201)})
	if rec.Code != 400 {
		t.Fatalf("status %d", rec.Code)
	}
	if p := plumbProblem(t, rec); p.Code != "malformed" || p.Field != IdempotencyKeyHeader {
		t.Errorf("problem %+v", p)
	}
	// Two values of the header are ambiguous.
	req := httptest.NewRequest("POST", "/x", strings.NewReader("{}"))
	req.Header.Add(IdempotencyKeyHeader, "a")
	req.Header.Add(IdempotencyKeyHeader, "b")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 400 || c.runs.Load() != 0 {
		t.Errorf("two keys: status %d, runs %d", rec.Code, c.runs.Load())
	}
}

func FuzzValidIdempotencyKey(f *testing.F) {
	for _, s := range []string{"a", "", "k\x00", strings.Repeat("x", 201)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, k string) {
		if !validIdempotencyKey(k) {
			return
		}
		if len(k) == 0 || len(k) > 200 || strings.ContainsFunc(k, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
			t.Fatalf("accepted %q", k)
		}
	})
}

// Twenty identical requests at once: the handler runs once and all twenty
// get the same answer; the same key with another body is refused.
func TestIdempotencyConcurrentDuplicates(t *testing.T) {
	gate := make(chan struct{})
	c := &plumbCounting{read: true, gate: gate}
	h := Idempotency(plumbStore(t))(c)
	const n = 20
	recs := make([]*httptest.ResponseRecorder, n)
	var wg sync.WaitGroup
	for i := range recs {
		wg.Go(func() { recs[i] = plumbDo(h, plumbCall{keyID: 1, body: `{"n":1}`, idemKey: "same"}) })
	}
	// Let the first run finish only once it has started; the others are
	// queued on the key or arrive later, and must replay either way.
	for c.runs.Load() == 0 {
		runtime.Gosched()
	}
	close(gate)
	wg.Wait()
	if got := c.runs.Load(); got != 1 {
		t.Fatalf("handler ran %d times, want 1", got)
	}
	replayed := 0
	for i, rec := range recs {
		if rec.Code != 201 || rec.Body.String() != recs[0].Body.String() || rec.Header().Get("Location") != "/api/v1/things/1" {
			t.Errorf("answer %d: %d %s %s", i, rec.Code, rec.Header().Get("Location"), rec.Body)
		}
		if rec.Header().Get(ReplayedHeader) == "true" {
			replayed++
		}
	}
	if replayed != n-1 {
		t.Errorf("%d answers replayed, want %d", replayed, n-1)
	}
	rec := plumbDo(h, plumbCall{keyID: 1, body: `{"n":2}`, idemKey: "same"})
	if rec.Code != 409 || plumbProblem(t, rec).Code != "idempotency_mismatch" {
		t.Errorf("other body: %d %s", rec.Code, rec.Body)
	}
	if c.runs.Load() != 1 {
		t.Errorf("a mismatching request ran the handler")
	}
}

// Two replicas (two middlewares, one store): the one that stores second
// gets a duplicate, reads the first answer back and sends that.
func TestIdempotencyAcrossReplicas(t *testing.T) {
	store := plumbStore(t)
	gate := make(chan struct{})
	slow := &plumbCounting{read: true, gate: gate, tag: "A"}
	fast := &plumbCounting{read: true, tag: "B"}
	replicaA, replicaB := Idempotency(store)(slow), Idempotency(store)(fast)
	call := plumbCall{keyID: 1, body: `{"n":1}`, idemKey: "across"}

	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- plumbDo(replicaA, call) }()
	for slow.runs.Load() == 0 {
		runtime.Gosched()
	}
	b := plumbDo(replicaB, call) // runs and stores while A is in its handler
	close(gate)
	a := <-done

	if b.Code != 201 || b.Header().Get(ReplayedHeader) != "" {
		t.Fatalf("replica B: %d %v", b.Code, b.Header())
	}
	if a.Body.String() != b.Body.String() || a.Header().Get("Location") != "/api/v1/things/B1" {
		t.Errorf("replicas answered differently:\nA %s\nB %s", a.Body, b.Body)
	}
	if a.Header().Get(ReplayedHeader) != "true" {
		t.Errorf("replica A did not replay the stored answer")
	}
}

// A client that hangs up before the answer is stored must still find it on
// retry: the save does not depend on the request's context.
func TestIdempotencyStoresAfterClientLeft(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var runs atomic.Int64
	h := Idempotency(plumbStore(t))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs.Add(1)
		io.ReadAll(r.Body)
		cancel() // the client is gone by the time the answer is ready
		WriteJSON(w, 201, map[string]string{"ok": "yes"})
	}))
	plumbDo(h, plumbCall{keyID: 1, body: "{}", idemKey: "gone", ctx: ctx})
	rec := plumbDo(h, plumbCall{keyID: 1, body: "{}", idemKey: "gone"})
	if runs.Load() != 1 || rec.Header().Get(ReplayedHeader) != "true" {
		t.Errorf("runs %d, replayed %q", runs.Load(), rec.Header().Get(ReplayedHeader))
	}
}

// An answer given without reading a long body is not tied to that body:
// it is not stored, and a retry is answered afresh.
func TestIdempotencyLongUnreadBodyNotStored(t *testing.T) {
	c := &plumbCounting{}
	h := Idempotency(plumbStore(t))(c)
	body := strings.Repeat("x", drainLimit+10)
	plumbDo(h, plumbCall{keyID: 1, body: body, idemKey: "long"})
	rec := plumbDo(h, plumbCall{keyID: 1, body: body, idemKey: "long"})
	if c.runs.Load() != 2 || rec.Header().Get(ReplayedHeader) != "" {
		t.Errorf("runs %d, replayed %q", c.runs.Load(), rec.Header().Get(ReplayedHeader))
	}
	// Read by the handler, the same body is stored and replayed.
	c2 := &plumbCounting{read: true}
	h = Idempotency(plumbStore(t))(c2)
	plumbDo(h, plumbCall{keyID: 1, body: body, idemKey: "long"})
	rec = plumbDo(h, plumbCall{keyID: 1, body: body, idemKey: "long"})
	if c2.runs.Load() != 1 || rec.Header().Get(ReplayedHeader) != "true" {
		t.Errorf("read body: runs %d, replayed %q", c2.runs.Load(), rec.Header().Get(ReplayedHeader))
	}
}

// Behind MaxBody (a route limit inside the middleware) an oversized body is
// refused, and the refusal is not stored against a body never fully read.
func TestIdempotencyKeepsRouteLimit(t *testing.T) {
	c := &plumbCounting{read: true}
	h := Idempotency(plumbStore(t))(MaxBody(100)(c))
	big := strings.Repeat("x", drainLimit*2)
	req := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/api/v1/things", io.MultiReader(strings.NewReader(big)))
		r.ContentLength = -1
		r.Header.Set(IdempotencyKeyHeader, "big")
		rec := httptest.NewRecorder()
		plumbAs(1, h).ServeHTTP(rec, r)
		return rec
	}
	for i := range 2 {
		if rec := req(); rec.Code != 413 || rec.Header().Get(ReplayedHeader) != "" {
			t.Errorf("call %d: %d replayed=%q", i, rec.Code, rec.Header().Get(ReplayedHeader))
		}
	}
}

func TestIdempotencyStoreDown(t *testing.T) {
	store := plumbStore(t)
	c := &plumbCounting{}
	h := Idempotency(store)(c)
	store.Close()
	rec := plumbDo(h, plumbCall{keyID: 1, body: "{}", idemKey: "down"})
	if rec.Code != 503 || c.runs.Load() != 0 {
		t.Errorf("store down: %d, runs %d", rec.Code, c.runs.Load())
	}
}

func TestRequestHashSeparatesParts(t *testing.T) {
	sum := func(method, target, body string) []byte {
		r := httptest.NewRequest(method, target, nil)
		h := newRequestHash(r)
		h.Write([]byte(body))
		return h.Sum(nil)
	}
	base := sum("POST", "/a?b", "c")
	for _, other := range [][]byte{sum("POST", "/a", "?bc"), sum("POST", "/a?bc", ""), sum("PUT", "/a?b", "c"), sum("POST", "/a%3Fb", "c")} {
		if bytes.Equal(base, other) {
			t.Errorf("two different requests hash alike")
		}
	}
	if !bytes.Equal(base, sum("POST", "/a?b", "c")) {
		t.Errorf("hash is not deterministic")
	}
}

func TestKeyedMutex(t *testing.T) {
	k := &keyedMutex{m: make(map[string]*keyedEntry)}
	unlock, err := k.lock(context.Background(), "a")
	if err != nil {
		t.Fatal(err)
	}
	// Another key is free; the same key waits, until its context ends.
	unlockB, err := k.lock(context.Background(), "b")
	if err != nil {
		t.Fatal(err)
	}
	unlockB()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := k.lock(ctx, "a"); !errors.Is(err, context.Canceled) {
		t.Errorf("locked a held key: %v", err)
	}
	unlock()
	if unlock, err = k.lock(context.Background(), "a"); err != nil {
		t.Fatalf("a released key stays locked: %v", err)
	}
	unlock()
	if len(k.m) != 0 {
		t.Errorf("%d entries left after all unlocked: memory would grow", len(k.m))
	}
}

// BenchmarkIdempotencyReplay measures answering a repeated key from SQLite.
func BenchmarkIdempotencyReplay(b *testing.B) {
	store, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "db"), storetest.PII())
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	h := Idempotency(store)(&plumbCounting{read: true})
	call := plumbCall{keyID: 1, body: `{"name":"x"}`, idemKey: "bench"}
	plumbDo(h, call)
	b.ReportAllocs()
	for b.Loop() {
		if rec := plumbDo(h, call); rec.Header().Get(ReplayedHeader) != "true" {
			b.Fatal("not replayed")
		}
	}
}
