package api

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/certseal/certseal/registry"
)

func TestRequestID(t *testing.T) {
	tests := []struct {
		name, incoming string
		kept           bool
	}{
		{"none", "", false},
		{"plain", "lb-7f3a9c:0001", true},
		{"uuid", "8c1b6f2e-7d7a-4d0c-9a53-5f1f0a2b3c4d", true},
		{"64 chars", strings.Repeat("a", 64), true},
		{"too long", strings.Repeat("a", 65), false},
		{"space", "a b", false},
		{"log injection", "x\n{\"level\":\"ERROR\"}", false},
		{"non-ASCII", "请求", false},
		{"slash", "a/b", false},
	}
	seen := map[string]bool{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var inCtx string
			h := plumbing{}.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { inCtx = RequestIDFrom(r.Context()) }))
			req := httptest.NewRequest("GET", "/", nil)
			if tc.incoming != "" {
				req.Header.Set("X-Request-ID", tc.incoming)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			out := rec.Header().Get("X-Request-ID")
			if out != inCtx || !validRequestID(out) {
				t.Fatalf("header %q, context %q", out, inCtx)
			}
			if (out == tc.incoming) != tc.kept {
				t.Errorf("incoming %q, used %q", tc.incoming, out)
			}
			if !tc.kept {
				if seen[out] {
					t.Errorf("generated id %q twice", out)
				}
				seen[out] = true
			}
		})
	}
	if RequestIDFrom(httptest.NewRequest("GET", "/", nil).Context()) != "" {
		t.Errorf("an id outside the plumbing")
	}
}

func FuzzValidRequestID(f *testing.F) {
	for _, s := range []string{"abc", "", "a\nb", strings.Repeat("x", 65)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if validRequestID(s) && (len(s) > 64 || strings.ContainsAny(s, " \t\r\n\"\\/{}")) {
			t.Fatalf("accepted %q", s)
		}
	})
}

// plumbLogLines parses JSON log lines.
func plumbLogLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestAccessLog(t *testing.T) {
	const number, token, key = "372026000000013", "QRsecretToken", "cs_notARealKeyButSecret"
	r := chi.NewRouter()
	r.Get("/v/{number}", func(w http.ResponseWriter, r *http.Request) {
		setInfoActor(r.Context(), "unit:12#5") // as Authenticate does
		w.Write([]byte("hello"))
	})
	r.Post("/api/v1/units", func(w http.ResponseWriter, r *http.Request) {
		WriteProblem(w, r, registry.FieldErr("id_number", "bad"))
	})
	tests := []struct {
		method, target, body string
		route                string
		status               int
		bytes                float64
		actor, code          string
	}{
		{"GET", "/v/" + number + "?k=" + token, "", "/v/{number}", 200, 5, "unit:12#5", ""},
		{"POST", "/api/v1/units", `{"id_number":"110101199003077777"}`, "/api/v1/units", 422, -1, "", "invalid"},
		{"GET", "/v/" + number + "/more?k=" + token, "", "unmatched", 404, -1, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.route, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("X-Request-ID", "req-1")
			rec, logs := plumbLogged(r, req)
			for _, secret := range []string{number, token, key, "110101199003077777"} {
				if strings.Contains(logs, secret) {
					t.Errorf("the log holds %q:\n%s", secret, logs)
				}
			}
			lines := plumbLogLines(t, logs)
			if len(lines) != 1 {
				t.Fatalf("%d log lines, want 1:\n%s", len(lines), logs)
			}
			l := lines[0]
			if l["method"] != tc.method || l["route"] != tc.route || l["status"] != float64(tc.status) || l["request_id"] != "req-1" ||
				l["actor"] != tc.actor || l["code"] != tc.code || l["panic"] != false {
				t.Errorf("log line %v", l)
			}
			if tc.bytes >= 0 && l["bytes"] != tc.bytes {
				t.Errorf("bytes %v, want %v", l["bytes"], tc.bytes)
			}
			if float64(rec.Body.Len()) != l["bytes"] {
				t.Errorf("bytes %v, body %d", l["bytes"], rec.Body.Len())
			}
			if _, ok := l["duration"]; !ok {
				t.Errorf("no duration")
			}
		})
	}
}

func TestRecoverer(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	mux := chi.NewRouter()
	mux.Get("/boom/{n}", func(w http.ResponseWriter, r *http.Request) { panic("nil map in handler") })
	mux.Get("/half", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.Write([]byte("partial"))
		panic("late")
	})
	mux.Get("/abort", func(w http.ResponseWriter, r *http.Request) { panic(http.ErrAbortHandler) })
	r := plumbing{log: logger}.wrap(mux)

	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/boom/1", nil))
	if rec.Code != 500 {
		t.Fatalf("status %d", rec.Code)
	}
	p := plumbProblem(t, rec)
	if p.Code != "internal" || p.RequestID == "" || strings.Contains(rec.Body.String(), "nil map") {
		t.Errorf("problem %s", rec.Body)
	}
	var sawAccess, sawPanic bool
	for _, l := range plumbLogLines(t, logs.String()) {
		switch l["msg"] {
		case "http request":
			sawAccess = l["status"] == float64(500) && l["panic"] == true && l["route"] == "/boom/{n}"
		case "panic serving a request":
			sawPanic = l["request_id"] == p.RequestID && strings.Contains(l["stack"].(string), "middleware_test.go")
		}
	}
	if !sawAccess || !sawPanic {
		t.Errorf("logs lack the access line or the panic with stack:\n%s", logs.String())
	}

	// An answer already begun is left alone.
	rec = httptest.NewRecorder()
	r.ServeHTTP(rec, httptest.NewRequest("GET", "/half", nil))
	if rec.Code != 200 || rec.Body.String() != "partial" {
		t.Errorf("begun answer: %d %q", rec.Code, rec.Body)
	}

	// http.ErrAbortHandler is the server's and goes on up.
	defer func() {
		if v := recover(); v != http.ErrAbortHandler {
			t.Errorf("recovered %v, want http.ErrAbortHandler to pass through", v)
		}
	}()
	r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/abort", nil))
}

func TestMaxBody(t *testing.T) {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			WriteProblem(w, r, err)
			return
		}
		w.Write(b)
	})
	tests := []struct {
		name    string
		limit   int64
		body    string
		chunked bool
		status  int
	}{
		{"under", 10, "12345", false, 200},
		{"at", 10, "1234567890", false, 200},
		{"declared over", 10, "12345678901", false, 413},
		{"chunked over", 10, "12345678901", true, 413},
		{"chunked under", 10, "123", true, 200},
		{"no body allowed, none sent", 0, "", false, 200},
		{"no body allowed, one sent", 0, "x", false, 413},
		{"no body allowed, chunked", 0, "x", true, 413},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
			if tc.chunked {
				req.ContentLength = -1
			}
			rec := httptest.NewRecorder()
			MaxBody(tc.limit)(echo).ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			if tc.status == 413 {
				if p := plumbProblem(t, rec); p.Code != "too_large" {
					t.Errorf("code %s", p.Code)
				}
			} else if rec.Body.String() != tc.body {
				t.Errorf("body %q", rec.Body)
			}
		})
	}
}

// BenchmarkPlumbingStack measures what the generic layers add to a public
// request: request id, recoverer, metrics, access log, rate limit.
func BenchmarkPlumbingStack(b *testing.B) {
	m := NewMetrics()
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	mux := chi.NewRouter()
	mux.Use(RateLimit(1e9, 1e9))
	mux.Get("/v/{number}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	r := plumbing{log: logger, metrics: m}.wrap(mux)
	req := httptest.NewRequest("GET", "/v/372026000000013?k=token", nil)
	b.ReportAllocs()
	for b.Loop() {
		r.ServeHTTP(httptest.NewRecorder(), req)
	}
}
