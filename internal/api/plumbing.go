package api

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/go-chi/chi/v5"
)

// plumbing is the outermost layer of every request, in one piece: the
// request id, the recoverer, the metrics and the access log. It makes one
// allocation of request state for all of them, reads the clock twice
// (start, end), and gives the request the chi route context the router
// fills, so the router does not make a context of its own. A cached
// verification page is answered in well under a microsecond; each of these
// as a layer of its own cost an allocation, a clock read or a deferred
// call more.
type plumbing struct {
	log     *slog.Logger
	text    *TextAccessLog // writes the INFO access lines, if set (see accessLog)
	metrics *Metrics       // nil: none
	now     func() time.Time
}

// reqState is what plumbing gives one request, in one allocation: the
// record inner layers fill in for the access log (with the request id),
// the status writer every layer shares, chi's route context, and the
// context that carries them.
type reqState struct {
	context.Context // the request's context before plumbing
	info            requestInfo
	idHeader        [1]string // X-Request-ID's value, in place
	newID           [16]byte  // a new request id's bytes: info.id points here
	w               statusWriter
	route           *chi.Context // from plumbed.routeContexts, as chi's own
}

// Value answers the record and the route context; everything else is the
// parent's.
func (s *reqState) Value(key any) any {
	switch key {
	case infoKey:
		return &s.info
	case chi.RouteCtxKey:
		return s.route
	}
	return s.Context.Value(key)
}

// wrap puts the plumbing around next, usually the router.
func (p plumbing) wrap(next http.Handler) *plumbed {
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	rt, _ := next.(chi.Routes)
	return &plumbed{routes: rt, p: p, next: next}
}

// plumbed is a handler with its plumbing. Around a router it is one too
// (routes can be walked and matched); GetHead looks routes up through the
// route context's Routes, which chi would set and the plumbing sets here.
type plumbed struct {
	routes // nil around a plain handler
	p      plumbing
	next   http.Handler
	// routeContexts are chi route contexts for reuse, as chi keeps them
	// (their slices keep their capacity: a new one costs five allocations
	// in routing).
	routeContexts sync.Pool
	hot           *hotRoute // served without the router walk; nil: none
}

// hotRoute is a route the plumbing serves without the router's walk: the
// public verification page, which every QR scan opens. The handler is the
// one the router holds for the pattern (the same middlewares), and the
// route context is filled as the router would fill it; the walk and
// net/http's path values (a map per request) cost a sixth of a cached
// page. A path it does not take goes to the router as before.
type hotRoute struct {
	pattern string       // "/v/{number}"
	prefix  string       // "/v/": static, then the one parameter, nothing after
	param   string       // "number"
	handler http.Handler // the router's GET handler of pattern
	// static are the segments after prefix that other routes hold
	// ("/v/pdf"): the router decides what those paths mean.
	static []string
}

// serveDirect makes pattern, a GET route of the router h wraps, a hot
// route. Its pattern must be a static prefix and one parameter at the end;
// anything else is a programming error, found at startup.
func (h *plumbed) serveDirect(pattern string) {
	prefix, rest, ok := strings.Cut(pattern, "{")
	param, tail, closed := strings.Cut(rest, "}")
	if !ok || !closed || tail != "" || param == "" || strings.ContainsAny(param, ":*") ||
		!strings.HasSuffix(prefix, "/") || strings.ContainsAny(prefix, "*{") || h.routes == nil {
		panic("api: serveDirect(" + pattern + "): want a router's route /static/{param}")
	}
	hr := &hotRoute{pattern: pattern, prefix: prefix, param: param}
	for _, rt := range h.routes.Routes() {
		if rt.Pattern == pattern {
			hr.handler = rt.Handlers[http.MethodGet]
		} else if seg, ok := strings.CutPrefix(strings.TrimSuffix(rt.Pattern, "/*"), prefix); ok && seg != "" && !strings.ContainsAny(seg, "/{*") {
			hr.static = append(hr.static, seg)
		} else if rt.SubRoutes != nil && strings.HasPrefix(prefix, strings.TrimSuffix(rt.Pattern, "/*")) {
			panic("api: serveDirect(" + pattern + "): a mounted router " + rt.Pattern + " would take it")
		}
	}
	if hr.handler == nil {
		panic("api: serveDirect(" + pattern + "): the router has no GET route of that pattern")
	}
	h.hot = hr
}

// match is the parameter's value if the router would route a GET of u to
// the hot route: one non-empty segment after the prefix that no static
// route holds. The router's path: the escaped one where there is one.
func (hr *hotRoute) match(u *url.URL) (string, bool) {
	path := u.RawPath
	if path == "" {
		path = u.Path
	}
	v, ok := strings.CutPrefix(path, hr.prefix)
	if !ok || v == "" || strings.IndexByte(v, '/') >= 0 {
		return "", false
	}
	for _, s := range hr.static {
		if v == s {
			return "", false
		}
	}
	return v, true
}

// routes is chi.Routes under a name that does not hide its Routes method.
type routes = chi.Routes

func (h *plumbed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := h.p
	st := &reqState{Context: r.Context()}
	if st.route, _ = h.routeContexts.Get().(*chi.Context); st.route == nil {
		st.route = chi.NewRouteContext()
	}
	st.route.Reset()
	st.route.Routes = h.routes
	// Back for reuse once the request is over, as chi does: a context kept
	// past its request must not be asked for its route.
	defer h.routeContexts.Put(st.route)
	start := p.now()
	st.info.base, st.info.start = p.log, start
	// A well-formed incoming X-Request-ID (from a load balancer or the
	// caller, to follow one call across systems), else a new one; the
	// answer carries it. The canonical key, as Header.Get would make it
	// (without allocating the conversion on every request).
	if v := r.Header["X-Request-Id"]; len(v) > 0 && validRequestID(v[0]) {
		st.info.id = v[0]
	} else {
		st.info.id = newRequestID(&st.newID)
	}
	st.idHeader[0] = st.info.id
	w.Header()["X-Request-Id"] = st.idHeader[:]
	st.w.ResponseWriter = w
	r = r.WithContext(st)
	p.metrics.started()
	completed := false
	defer func() { // deferred: a panicking request is counted, logged and answered
		var v any
		if !completed {
			v = recover()
		}
		status := statusOfWriter(&st.w, completed)
		end := p.now()
		route := routePattern(r)
		p.metrics.finished(route, r.Method, status, end.Sub(start))
		p.accessLog(r, st, route, status, end, start, !completed)
		if v != nil {
			p.recovered(&st.w, r, route, v)
		}
	}()
	next := h.next
	if hr := h.hot; hr != nil && r.Method == http.MethodGet {
		if v, ok := hr.match(r.URL); ok {
			st.route.RouteMethod = http.MethodGet
			st.route.URLParams.Add(hr.param, v)
			st.route.RoutePatterns = append(st.route.RoutePatterns, hr.pattern)
			r.Pattern = hr.pattern
			next = hr.handler
		}
	}
	next.ServeHTTP(&st.w, r)
	completed = true
}

// accessLog logs one line per request: method, route pattern, status,
// bytes, duration, request id, the caller's actor and the problem code.
// Never the raw path, the query, a body or a header: they carry
// certificate numbers, QR tokens, personal data and API keys.
func (p plumbing) accessLog(r *http.Request, st *reqState, route string, status int, end, start time.Time, panicked bool) {
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelWarn
	}
	st.info.mu.Lock()
	actor, code := st.info.actor, st.info.code
	st.info.mu.Unlock()
	if level == slog.LevelInfo && p.text != nil {
		p.text.write(&accessLine{at: end, method: r.Method, route: route, status: status,
			bytes: st.w.BytesWritten(), duration: end.Sub(start), requestID: st.info.id, actor: actor, problem: code,
			panicked: panicked})
		return
	}
	p.log.LogAttrs(r.Context(), level, "http request",
		slog.String("method", r.Method),
		slog.String("route", route),
		slog.Int("status", status),
		slog.Int("bytes", st.w.BytesWritten()),
		slog.Duration("duration", end.Sub(start)),
		slog.String("request_id", st.info.id),
		slog.String("actor", actor),
		slog.String("code", code),
		slog.Bool("panic", panicked),
	)
}

// recovered turns a handler's panic into a 500 problem and a log line with
// the stack, so one bad request does not take the process down.
func (p plumbing) recovered(w *statusWriter, r *http.Request, route string, v any) {
	if v == http.ErrAbortHandler { // the server's own way to drop a connection
		panic(v)
	}
	p.log.ErrorContext(r.Context(), "panic serving a request",
		"request_id", RequestIDFrom(r.Context()), "route", route,
		"panic", v, "stack", string(debug.Stack()))
	if w.Status() != 0 {
		return // the answer has begun: nothing better to send
	}
	pr := problemFor(r, errors.New("panic"))
	writeProblem(w, r, pr, pr)
}

// newRequestID is 96 random bits: unique enough to find one request among
// all replicas' logs. They come from math/rand/v2's per-thread ChaCha8,
// seeded from the system: ids are not secrets (a caller may send its own),
// and crypto/rand cost a system call per request. The id is written into
// out, which the caller never changes again, and the string is those bytes
// (as strings.Builder does it): an allocation fewer per request.
func newRequestID(out *[16]byte) string {
	var b [12]byte
	x, y := rand.Uint64(), rand.Uint32()
	for i := range 8 {
		b[i] = byte(x >> (8 * i))
	}
	for i := range 4 {
		b[8+i] = byte(y >> (8 * i))
	}
	base64.RawURLEncoding.Encode(out[:], b[:])
	return unsafe.String(&out[0], len(out))
}

// statusWriter notes the status and the size of an answer for the
// plumbing.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

// WriteHeader passes informational answers on without noting them, and
// only the first final status (a second one is a handler's bug that
// net/http would only log about).
func (w *statusWriter) WriteHeader(code int) {
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if w.status == 0 {
		w.status = code
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// Status is the status sent, 0 before any.
func (w *statusWriter) Status() int { return w.status }

// BytesWritten is how much of the body was written.
func (w *statusWriter) BytesWritten() int { return w.bytes }

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush keeps a handler's flush possible through the wrapper (it counts
// as the start of the answer, as a write does).
func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
