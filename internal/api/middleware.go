package api

import (
	"context"
	"log/slog"
	"net/http"
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
	// id is the request's (the plumbing's), set before the record is shared
	// and never changed. The request's logger is base
	// with it, made when a handler first asks (most never do: the access
	// log line is enough).
	id     string
	base   *slog.Logger
	logger *slog.Logger
	start  time.Time // when the plumbing took the request, never changed
}

func infoFrom(ctx context.Context) *requestInfo {
	i, _ := ctx.Value(infoKey).(*requestInfo)
	return i
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

// requestTime is when the plumbing took the request (the time a public
// verification is recorded at: one clock read fewer), else now.
func requestTime(ctx context.Context, now func() time.Time) time.Time {
	if i := infoFrom(ctx); i != nil && !i.start.IsZero() {
		return i.start
	}
	return now()
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
