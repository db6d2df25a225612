package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/certseal/certseal/registry"
)

type ctxKey int

const (
	infoKey ctxKey = iota
	principalKey
	bodyLimitKey
)

// requestInfo is what inner layers tell the access log about a request:
// who it was (set by Authenticate) and which problem it got (set by
// WriteProblem). Inner layers see it through the context but cannot hand a
// new context back out, hence one shared, locked record per request.
type requestInfo struct {
	mu    sync.Mutex
	actor string
	code  string
	// id is the request's (RequestID's), set before the record is shared
	// and never changed. The request's logger is base
	// with it, made when a handler first asks (most never do: the access
	// log line is enough).
	id     string
	start  time.Time // when RequestID saw the request, also set once
	base   *slog.Logger
	logger *slog.Logger
}

func infoFrom(ctx context.Context) *requestInfo {
	i, _ := ctx.Value(infoKey).(*requestInfo)
	return i
}

// withInfo makes sure r carries a requestInfo.
func withInfo(r *http.Request) (*requestInfo, *http.Request) {
	if i := infoFrom(r.Context()); i != nil {
		return i, r
	}
	i := &requestInfo{}
	return i, r.WithContext(context.WithValue(r.Context(), infoKey, i))
}

func setInfoActor(ctx context.Context, actor string) {
	if i := infoFrom(ctx); i != nil {
		i.mu.Lock()
		i.actor = actor
		i.mu.Unlock()
	}
}

func setInfoCode(ctx context.Context, code string) {
	if i := infoFrom(ctx); i != nil {
		i.mu.Lock()
		i.code = code
		i.mu.Unlock()
	}
}

// LoggerFrom is the request's logger (the one given to AccessLog, with the
// request id attached), or the default logger outside AccessLog.
func LoggerFrom(ctx context.Context) *slog.Logger {
	if i := infoFrom(ctx); i != nil {
		i.mu.Lock()
		defer i.mu.Unlock()
		if i.logger == nil && i.base != nil {
			i.logger = i.base.With("request_id", i.id)
		}
		if i.logger != nil {
			return i.logger
		}
	}
	if id := RequestIDFrom(ctx); id != "" {
		return slog.Default().With("request_id", id)
	}
	return slog.Default()
}

// maxRequestIDLen bounds an incoming X-Request-ID: it is logged and stored
// in audit events, so it must be short and plain.
const maxRequestIDLen = 64

// validRequestID accepts letters, digits and - _ . : only.
func validRequestID(s string) bool {
	if s == "" || len(s) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return false
		}
	}
	return true
}

// RequestID gives every request an id: a well-formed incoming X-Request-ID
// (from a load balancer or the caller, to follow one call across systems),
// else a new one. The answer carries it in X-Request-ID.
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &reqState{Context: r.Context()}
		st.info.start = time.Now()
		// The canonical key, as Header.Get would make it (without
		// allocating the conversion on every request).
		if v := r.Header["X-Request-Id"]; len(v) > 0 && validRequestID(v[0]) {
			st.info.id = v[0]
		} else {
			st.info.id = newRequestID()
		}
		st.idHeader[0] = st.info.id
		w.Header()["X-Request-Id"] = st.idHeader[:]
		st.w.ResponseWriter = w
		next.ServeHTTP(&st.w, r.WithContext(st))
	})
}

// startOf is when RequestID saw the request, or now without it: one clock
// read less per layer (on some virtual machines a read costs 50 ns).
func startOf(info *requestInfo) time.Time {
	if info != nil && !info.start.IsZero() {
		return info.start
	}
	return time.Now()
}

// RequestIDFrom returns the id RequestID gave the request, or "".
func RequestIDFrom(ctx context.Context) string {
	if i := infoFrom(ctx); i != nil {
		return i.id // set before the record is shared, never changed: no lock
	}
	return ""
}

// routePattern is the chi pattern that matched (/v/{number}), never the
// path itself: paths hold certificate numbers, queries hold QR tokens.
func routePattern(r *http.Request) string {
	if rc := chi.RouteContext(r.Context()); rc != nil {
		if p := rc.RoutePattern(); p != "" {
			return p
		}
	}
	return "unmatched"
}

// withRouteContext gives r a chi route context if it has none, so a
// middleware wrapped around the router (not inside it via Use) still sees
// the pattern the router matched: chi fills a context it finds.
func withRouteContext(r *http.Request) *http.Request {
	if chi.RouteContext(r.Context()) != nil {
		return r
	}
	return r.WithContext(context.WithValue(r.Context(), chi.RouteCtxKey, chi.NewRouteContext()))
}

// statusOfWriter is the status a wrapped writer sent. A handler that
// wrote nothing sent 200; one that panicked before writing will get a 500
// from Recoverer further out.
func statusOfWriter(ww *statusWriter, completed bool) int {
	switch s := ww.Status(); {
	case s != 0:
		return s
	case completed:
		return http.StatusOK
	}
	return http.StatusInternalServerError
}

// AccessLog logs one line per request: method, route pattern, status,
// bytes, duration, request id, the caller's actor and the problem code.
// Never the raw path, the query, a body or a header: they carry
// certificate numbers, QR tokens, personal data and API keys.
func AccessLog(logger *slog.Logger) func(http.Handler) http.Handler {
	return accessLog(logger, nil)
}

// accessLog is AccessLog, with its INFO lines written by text if set.
func accessLog(logger *slog.Logger, text *TextAccessLog) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			info, r := withInfo(withRouteContext(r))
			start := startOf(info)
			info.mu.Lock()
			info.base = logger
			info.mu.Unlock()
			id := info.id
			ww := wrapWriter(w)
			completed := false
			// Deferred so that a request that panics is logged too, on its
			// way out to Recoverer.
			defer func() {
				status := statusOfWriter(ww, completed)
				level := slog.LevelInfo
				if status >= 500 {
					level = slog.LevelWarn
				}
				info.mu.Lock()
				actor, code := info.actor, info.code
				info.mu.Unlock()
				if level == slog.LevelInfo && text != nil {
					now := time.Now()
					text.write(&accessLine{at: now, method: r.Method, route: routePattern(r), status: status,
						bytes: ww.BytesWritten(), duration: now.Sub(start), requestID: id, actor: actor, problem: code,
						panicked: !completed})
					return
				}
				logger.LogAttrs(r.Context(), level, "http request",
					slog.String("method", r.Method),
					slog.String("route", routePattern(r)),
					slog.Int("status", status),
					slog.Int("bytes", ww.BytesWritten()),
					slog.Duration("duration", time.Since(start)),
					slog.String("request_id", id),
					slog.String("actor", actor),
					slog.String("code", code),
					slog.Bool("panic", !completed),
				)
			}()
			next.ServeHTTP(ww, r)
			completed = true
		})
	}
}

// Recoverer turns a panic into a 500 problem and a log line with the stack,
// so one bad request does not take the process down.
func Recoverer(logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ww := wrapWriter(w)
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if v == http.ErrAbortHandler { // the server's own way to drop a connection
					panic(v)
				}
				logger.ErrorContext(r.Context(), "panic serving a request",
					"request_id", RequestIDFrom(r.Context()), "route", routePattern(r),
					"panic", v, "stack", string(debug.Stack()))
				if ww.Status() != 0 {
					return // the answer has begun: nothing better to send
				}
				p := problemFor(r, errors.New("panic"))
				writeProblem(ww, r, p, p)
			}()
			next.ServeHTTP(ww, r)
		})
	}
}

// tooLarge is the error for a body over limit bytes.
func tooLarge(limit int64) error {
	return registry.Errf(CodeTooLarge, "the body exceeds %s bytes", strconv.FormatInt(limit, 10))
}

// MaxBody limits the request body to n bytes (0: no body at all). A
// declared Content-Length over the limit is refused before reading;
// otherwise reading past it fails with an error WriteProblem answers 413.
func MaxBody(n int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > n {
				WriteProblem(w, r, tooLarge(n))
				return
			}
			if r.Body == nil {
				r.Body = http.NoBody
			}
			if r.Body == http.NoBody {
				// Nothing to read, so nothing to limit (most GETs): the
				// wrapper and the context were two allocations a request.
				next.ServeHTTP(w, r)
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, n)
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), bodyLimitKey, n)))
		})
	}
}

// bodyLimit is the limit MaxBody set, if any.
func bodyLimit(ctx context.Context) (int64, bool) {
	n, ok := ctx.Value(bodyLimitKey).(int64)
	return n, ok
}
