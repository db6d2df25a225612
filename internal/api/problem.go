package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/certseal/certseal/registry"
)

// Codes of the HTTP layer itself. They extend the domain codes of registry
// (the same type, so one *registry.Error carries either kind and errors.Is
// compares by code), and like them never change once published.
const (
	// CodeMalformed is a request that cannot be read at all: broken JSON,
	// trailing data after the JSON value, an unusable header. Bad values in
	// well-formed JSON are registry.CodeInvalid (422) instead, so a client
	// can tell "fix your serializer" (400) from "fix your data" (422).
	CodeMalformed            registry.Code = "malformed"
	CodeUnauthorized         registry.Code = "unauthorized"
	CodeForbidden            registry.Code = "forbidden"
	CodeMethodNotAllowed     registry.Code = "method_not_allowed"
	CodeTooLarge             registry.Code = "too_large"
	CodeUnsupportedMediaType registry.Code = "unsupported_media_type"
	CodeRateLimited          registry.Code = "rate_limited"
	CodeIdempotencyMismatch  registry.Code = "idempotency_mismatch"
	CodeInternal             registry.Code = "internal"
)

// Sentinels for errors.Is, like registry's.
var (
	ErrMalformed            = &registry.Error{Code: CodeMalformed}
	ErrUnauthorized         = &registry.Error{Code: CodeUnauthorized}
	ErrForbidden            = &registry.Error{Code: CodeForbidden}
	ErrTooLarge             = &registry.Error{Code: CodeTooLarge}
	ErrUnsupportedMediaType = &registry.Error{Code: CodeUnsupportedMediaType}
	ErrRateLimited          = &registry.Error{Code: CodeRateLimited}
	ErrIdempotencyMismatch  = &registry.Error{Code: CodeIdempotencyMismatch}
)

// ProblemTypePrefix + code is the problem "type" URI. A tag URI (RFC 4151)
// names the kind of problem stably without pretending to be a page anyone
// can fetch; the "code" member carries the same word for programs.
const ProblemTypePrefix = "tag:certseal,2025:problem:"

// Problem is an RFC 9457 problem details object with certseal's extension
// members code, field and request_id.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Instance  string `json:"instance,omitempty"`
	Code      string `json:"code"`
	Field     string `json:"field,omitempty"`
	RequestID string `json:"request_id,omitempty"`
}

// statusOf maps a code to its HTTP status and a short, fixed title.
// Unknown codes are internal errors: a code the HTTP layer does not know is
// a bug, not something to show a client.
func statusOf(c registry.Code) (int, string) {
	switch c {
	case registry.CodeNotFound:
		return http.StatusNotFound, "Not found"
	case registry.CodeInvalid:
		return http.StatusUnprocessableEntity, "Invalid input"
	case registry.CodeIllegalTransition:
		return http.StatusConflict, "Not allowed in the current state"
	case registry.CodeConflict:
		return http.StatusConflict, "Changed concurrently, try again"
	case registry.CodeDuplicate:
		return http.StatusConflict, "Already exists"
	case registry.CodeFilingNotInForce:
		return http.StatusUnprocessableEntity, "No filing in force for this series"
	case registry.CodeSealNotActive:
		return http.StatusConflict, "Seal not active"
	case registry.CodeTermEnded:
		return http.StatusUnprocessableEntity, "Term has ended"
	case registry.CodeUnavailable:
		return http.StatusServiceUnavailable, "Service unavailable"
	case CodeMalformed:
		return http.StatusBadRequest, "Malformed request"
	case CodeUnauthorized:
		return http.StatusUnauthorized, "Authentication required"
	case CodeForbidden:
		return http.StatusForbidden, "Forbidden"
	case CodeMethodNotAllowed:
		return http.StatusMethodNotAllowed, "Method not allowed"
	case CodeTooLarge:
		return http.StatusRequestEntityTooLarge, "Request body too large"
	case CodeUnsupportedMediaType:
		return http.StatusUnsupportedMediaType, "Unsupported media type"
	case CodeRateLimited:
		return http.StatusTooManyRequests, "Too many requests"
	case CodeIdempotencyMismatch:
		return http.StatusConflict, "Idempotency key reused with another request"
	case CodeLinkExpired:
		return http.StatusGone, "Download link expired"
	case CodeLinkInvalid:
		return http.StatusForbidden, "Download link not valid"
	}
	return http.StatusInternalServerError, "Internal error"
}

// problemFor turns err into the problem a client sees. Only 4xx problems
// carry the error's own message: 5xx details are fixed words, the cause
// goes to the log.
func problemFor(r *http.Request, err error) Problem {
	code := registry.CodeOf(err)
	var field, msg string
	var e *registry.Error
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &e):
		field, msg = e.Field, e.Msg
	case errors.As(err, &mbe):
		code, msg = CodeTooLarge, "the body exceeds "+strconv.FormatInt(mbe.Limit, 10)+" bytes"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		code = registry.CodeUnavailable
	}
	status, title := statusOf(code)
	if status == http.StatusInternalServerError {
		code = CodeInternal
	}
	switch {
	case status == http.StatusServiceUnavailable:
		field, msg = "", "a backend is unavailable; try again shortly"
	case status >= 500:
		field, msg = "", "internal error; quote the request id when reporting it"
	case msg == "":
		msg = title
	}
	return Problem{
		Type:      ProblemTypePrefix + string(code),
		Title:     title,
		Status:    status,
		Detail:    msg,
		Instance:  r.URL.Path, // never the query: it may hold the QR token
		Code:      string(code),
		Field:     field,
		RequestID: RequestIDFrom(r.Context()),
	}
}

// WriteProblem answers err as application/problem+json (RFC 9457), mapping
// its code (registry.CodeOf) to a status. 5xx causes are logged with the
// request id and never shown to the client.
func WriteProblem(w http.ResponseWriter, r *http.Request, err error) {
	p := problemFor(r, err)
	logServerError(r, p, err)
	writeProblem(w, r, p, p)
}

// WriteProblemWith is WriteProblem with extension members (RFC 9457 §3.2),
// such as the list of rejected rows of a batch. The standard members and
// code, field and request_id cannot be overridden.
func WriteProblemWith(w http.ResponseWriter, r *http.Request, err error, members map[string]any) {
	p := problemFor(r, err)
	logServerError(r, p, err)
	body := make(map[string]any, len(members)+8)
	for k, v := range members {
		body[k] = v
	}
	std, _ := json.Marshal(p) // a Problem always encodes
	var stdMembers map[string]any
	json.Unmarshal(std, &stdMembers)
	for k, v := range stdMembers {
		body[k] = v
	}
	writeProblem(w, r, p, body)
}

func logServerError(r *http.Request, p Problem, err error) {
	if p.Status < 500 {
		return
	}
	level := slog.LevelError
	if p.Status == http.StatusServiceUnavailable {
		level = slog.LevelWarn
	}
	LoggerFrom(r.Context()).Log(r.Context(), level, "request failed", "status", p.Status, "code", p.Code, "err", err)
}

// writeProblem sends p, as body (p itself or p with extension members).
func writeProblem(w http.ResponseWriter, r *http.Request, p Problem, body any) {
	setInfoCode(r.Context(), p.Code)
	h := w.Header()
	switch p.Status {
	case http.StatusUnauthorized:
		// RFC 6750 §3: a 401 names the scheme a client must use.
		h.Set("WWW-Authenticate", `Bearer realm="certseal"`)
	case http.StatusServiceUnavailable:
		if h.Get("Retry-After") == "" {
			h.Set("Retry-After", "5")
		}
	}
	h.Set("Cache-Control", "no-store")
	writeBody(w, p.Status, "application/problem+json", body)
}

// WriteJSON answers v as application/json with status. The body is encoded
// before anything is sent, so a value that cannot be encoded becomes a 500
// rather than half an answer.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	writeBody(w, status, "application/json; charset=utf-8", v)
}

func writeBody(w http.ResponseWriter, status int, contentType string, v any) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		slog.Error("cannot encode a response", "err", err)
		buf.Reset()
		status, contentType = http.StatusInternalServerError, "application/problem+json"
		_, title := statusOf(CodeInternal)
		json.NewEncoder(&buf).Encode(Problem{Type: ProblemTypePrefix + string(CodeInternal), Title: title,
			Status: status, Code: string(CodeInternal)})
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// NotFound and MethodNotAllowed answer problems for what the router itself
// rejects (chi's r.NotFound and r.MethodNotAllowed).
func NotFound(w http.ResponseWriter, r *http.Request) {
	WriteProblem(w, r, registry.Errf(registry.CodeNotFound, "no such resource"))
}

func MethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	// chi hands a custom 405 handler no list of allowed methods: ask the
	// router again (RFC 9110 §15.5.6 wants an Allow header). Routes is the
	// top router, so it is asked with the whole path, not what is left of
	// it in a subrouter; a GET route takes HEAD too (middleware.GetHead).
	if rc := chi.RouteContext(r.Context()); rc != nil && rc.Routes != nil {
		path := r.URL.RawPath
		if path == "" {
			path = r.URL.Path
		}
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			if rc.Routes.Match(chi.NewRouteContext(), m, path) ||
				(m == http.MethodHead && rc.Routes.Match(chi.NewRouteContext(), http.MethodGet, path)) {
				allow = append(allow, m)
			}
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
	}
	WriteProblem(w, r, registry.Errf(CodeMethodNotAllowed, "%s is not allowed here", r.Method))
}
