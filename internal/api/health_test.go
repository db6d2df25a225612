package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func plumbDiscardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestHealthz(t *testing.T) {
	rec := httptest.NewRecorder()
	Healthz()(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != `{"status":"ok"}` {
		t.Errorf("%d %s", rec.Code, rec.Body)
	}
}

func TestReadyz(t *testing.T) {
	ok := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("dial tcp 10.9.8.7:5432: connection refused") }
	// Ignores its context: Readyz must not wait for it.
	stuck := func(context.Context) error { select {} }
	tests := []struct {
		name   string
		checks map[string]func(context.Context) error
		status int
		want   map[string]string
	}{
		{"none", nil, 200, nil},
		{"all ok", map[string]func(context.Context) error{"store": ok, "cache": ok}, 200, map[string]string{"store": "ok", "cache": "ok"}},
		{"one down", map[string]func(context.Context) error{"store": ok, "cache": down}, 503, map[string]string{"store": "ok", "cache": "fail"}},
		{"one stuck", map[string]func(context.Context) error{"store": stuck, "cache": ok}, 503, map[string]string{"store": "fail", "cache": "ok"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			readyz(tc.checks, 50*time.Millisecond)(rec, httptest.NewRequest("GET", "/readyz", nil))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			var h Health
			if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil {
				t.Fatal(err)
			}
			if (h.Status == "ok") != (tc.status == 200) || len(h.Checks) != len(tc.want) {
				t.Errorf("answer %+v", h)
			}
			for name, want := range tc.want {
				if h.Checks[name] != want {
					t.Errorf("check %s = %q, want %q", name, h.Checks[name], want)
				}
			}
			if strings.Contains(rec.Body.String(), "10.9.8.7") {
				t.Errorf("the public answer names a backend address")
			}
		})
	}
}
