package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/certseal/certseal/registry"
)

// plumbProblem decodes a problem answer and checks its media type.
func plumbProblem(t *testing.T, rec *httptest.ResponseRecorder) Problem {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json; body %s", ct, rec.Body)
	}
	var p Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem body %q: %v", rec.Body, err)
	}
	if p.Status != rec.Code {
		t.Errorf("problem status %d, HTTP status %d", p.Status, rec.Code)
	}
	if p.Type != ProblemTypePrefix+p.Code {
		t.Errorf("type %q does not follow code %q", p.Type, p.Code)
	}
	return p
}

// plumbLogged runs h behind the plumbing with a JSON logger and
// returns the answer and everything logged.
func plumbLogged(h http.Handler, req *http.Request) (*httptest.ResponseRecorder, string) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	rec := httptest.NewRecorder()
	plumbing{log: logger}.wrap(h).ServeHTTP(rec, req)
	return rec, logs.String()
}

func TestWriteProblemMapsCodes(t *testing.T) {
	secret := "password=hunter2 host=10.1.2.3"
	tests := []struct {
		name       string
		err        error
		status     int
		code       string
		field      string
		detail     string // substring of detail
		header     string // a header that must be set
		logged     bool   // the cause is logged
		hiddenText string // must not appear in the answer
	}{
		{"not found", registry.Errf(registry.CodeNotFound, "unit 3 not found"), 404, "not_found", "", "unit 3 not found", "", false, ""},
		{"invalid field", registry.FieldErr("name", "is required"), 422, "invalid", "name", "is required", "", false, ""},
		{"wrapped invalid", fmt.Errorf("create unit: %w", registry.FieldErr("uscc", "bad check character")), 422, "invalid", "uscc", "bad check character", "", false, ""},
		{"illegal transition", registry.Errf(registry.CodeIllegalTransition, "filing is approved"), 409, "illegal_transition", "", "filing is approved", "", false, ""},
		{"conflict", registry.ErrConflict, 409, "conflict", "", "Changed concurrently", "", false, ""},
		{"duplicate", registry.Errf(registry.CodeDuplicate, "USCC taken"), 409, "duplicate", "", "USCC taken", "", false, ""},
		{"filing not in force", registry.ErrFilingNotInForce, 422, "filing_not_in_force", "", "", "", false, ""},
		{"seal not active", registry.ErrSealNotActive, 409, "seal_not_active", "", "", "", false, ""},
		{"term ended", registry.ErrTermEnded, 422, "term_ended", "", "", "", false, ""},
		{"unavailable hides cause", &registry.Error{Code: registry.CodeUnavailable, Msg: "postgres " + secret, Err: errors.New(secret)}, 503, "unavailable", "", "try again", "Retry-After", true, secret},
		{"malformed", registry.Errf(CodeMalformed, "broken JSON"), 400, "malformed", "", "broken JSON", "", false, ""},
		{"unauthorized", registry.Errf(CodeUnauthorized, "no key"), 401, "unauthorized", "", "no key", "WWW-Authenticate", false, ""},
		{"forbidden", ErrForbidden, 403, "forbidden", "", "Forbidden", "", false, ""},
		{"method not allowed", registry.Errf(CodeMethodNotAllowed, "no"), 405, "method_not_allowed", "", "", "", false, ""},
		{"too large", ErrTooLarge, 413, "too_large", "", "", "", false, ""},
		{"max bytes error", &http.MaxBytesError{Limit: 10}, 413, "too_large", "", "10 bytes", "", false, ""},
		{"unsupported media", ErrUnsupportedMediaType, 415, "unsupported_media_type", "", "", "", false, ""},
		{"rate limited", ErrRateLimited, 429, "rate_limited", "", "", "", false, ""},
		{"idempotency mismatch", ErrIdempotencyMismatch, 409, "idempotency_mismatch", "", "", "", false, ""},
		{"deadline", fmt.Errorf("query: %w", context.DeadlineExceeded), 503, "unavailable", "", "", "", true, ""},
		{"plain error is internal", errors.New("scan row: " + secret), 500, "internal", "", "request id", "", true, secret},
		{"unknown code is internal", &registry.Error{Code: "brand_new", Msg: secret}, 500, "internal", "", "request id", "", true, secret},
		{"internal field hidden", &registry.Error{Code: CodeInternal, Field: "x", Msg: secret}, 500, "internal", "", "", "", true, secret},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { WriteProblem(w, r, tc.err) })
			rec, logs := plumbLogged(h, httptest.NewRequest("GET", "/api/v1/units/3?k=qrtoken", nil))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			p := plumbProblem(t, rec)
			if p.Code != tc.code || p.Field != tc.field || !strings.Contains(p.Detail, tc.detail) {
				t.Errorf("problem %+v, want code %s field %q detail ~%q", p, tc.code, tc.field, tc.detail)
			}
			if p.Instance != "/api/v1/units/3" {
				t.Errorf("instance %q: want the path without the query", p.Instance)
			}
			if p.RequestID == "" || p.RequestID != rec.Header().Get("X-Request-ID") {
				t.Errorf("request_id %q, X-Request-ID %q", p.RequestID, rec.Header().Get("X-Request-ID"))
			}
			if tc.header != "" && rec.Header().Get(tc.header) == "" {
				t.Errorf("header %s missing", tc.header)
			}
			if rec.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", rec.Header().Get("Cache-Control"))
			}
			if tc.hiddenText != "" && strings.Contains(rec.Body.String(), "hunter2") {
				t.Errorf("answer leaks the cause: %s", rec.Body)
			}
			errLogged := strings.Contains(logs, `"msg":"request failed"`)
			if errLogged != tc.logged {
				t.Errorf("cause logged = %v, want %v; logs:\n%s", errLogged, tc.logged, logs)
			}
			if tc.logged && !strings.Contains(logs, `"request_id":"`+p.RequestID+`"`) {
				t.Errorf("the failure log does not carry the request id:\n%s", logs)
			}
			if tc.hiddenText != "" && !strings.Contains(logs, "hunter2") {
				t.Errorf("the cause is not in the log:\n%s", logs)
			}
		})
	}
}

func TestWriteProblemWithMembers(t *testing.T) {
	rows := []map[string]any{{"row": 2, "field": "id_number"}}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteProblemWith(w, r, registry.Errf(registry.CodeInvalid, "rows are invalid"),
			map[string]any{"errors": rows, "status": 200, "code": "mine"})
	})
	rec, _ := plumbLogged(h, httptest.NewRequest("POST", "/api/v1/certificate-batches", nil))
	p := plumbProblem(t, rec)
	if rec.Code != 422 || p.Code != "invalid" {
		t.Fatalf("got %d %+v: extension members must not override standard ones", rec.Code, p)
	}
	var body struct {
		Errors []map[string]any `json:"errors"`
	}
	json.Unmarshal(rec.Body.Bytes(), &body)
	if len(body.Errors) != 1 || body.Errors[0]["field"] != "id_number" {
		t.Errorf("extension member lost: %s", rec.Body)
	}
}

func TestWriteJSON(t *testing.T) {
	tests := []struct {
		name   string
		status int
		v      any
		want   int
		body   string
	}{
		{"object", 201, map[string]string{"name": "威海职业学院"}, 201, `{"name":"威海职业学院"}` + "\n"},
		{"list", 200, []int{1, 2}, 200, "[1,2]\n"},
		{"unencodable", 200, map[string]any{"c": make(chan int)}, 500, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			WriteJSON(rec, tc.status, tc.v)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d", rec.Code, tc.want)
			}
			if tc.want == 500 {
				plumbProblem(t, rec)
				return
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if rec.Body.String() != tc.body {
				t.Errorf("body %q, want %q", rec.Body, tc.body)
			}
		})
	}
}

func TestRouterNotFoundAndMethodNotAllowed(t *testing.T) {
	r := chi.NewRouter()
	r.Use(middleware.GetHead) // as New does
	r.NotFound(NotFound)
	r.MethodNotAllowed(MethodNotAllowed)
	r.Get("/api/v1/units/{unit_id}", func(w http.ResponseWriter, r *http.Request) {})
	r.Post("/api/v1/units/{unit_id}", func(w http.ResponseWriter, r *http.Request) {})
	tests := []struct {
		method, path string
		status       int
		code, allow  string
	}{
		{"GET", "/nowhere", 404, "not_found", ""},
		{"DELETE", "/api/v1/units/7", 405, "method_not_allowed", "GET, HEAD, POST"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			if rec.Code != tc.status || plumbProblem(t, rec).Code != tc.code {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			if got := strings.Join(rec.Header().Values("Allow"), ", "); got != tc.allow {
				t.Errorf("Allow %q, want %q", got, tc.allow)
			}
		})
	}
}
