package api

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-chi/chi/v5"
)

// TestHotRouteAgreesWithRouter holds the plumbing's direct path to the
// verification page to the router's own decision: whatever it takes, the
// router would have routed to the same pattern with the same parameter.
func TestHotRouteAgreesWithRouter(t *testing.T) {
	h, ok := newE2E(t).h.(*plumbed)
	if !ok || h.hot == nil {
		t.Fatalf("the service's handler %T has no hot route", h)
	}
	for _, tc := range []struct {
		path string
		take bool // the hot route serves it
	}{
		{"/v/ZC2026440000000017", true},
		{"/v/ZC2026440000000017?k=abc", true},
		{"/v/not-a-number", true}, // the page answers a malformed number itself
		{"/v/%E4%B8%AD", true},
		{"/v/a%2Fb", true}, // an escaped slash is part of the segment, as the router sees it
		{"/v/pdf", false},  // POST /v/pdf is a route of its own
		{"/v/receipt", false},
		{"/v/", false},
		{"/v", false},
		{"/v//", false},
		{"/v/x/", false},
		{"/v/x/receipt", false},
		{"/vx/abc", false},
		{"//v/abc", false},
		{"/download/x", false},
	} {
		r := httptest.NewRequest(http.MethodGet, tc.path, nil)
		v, took := h.hot.match(r.URL)
		if took != tc.take {
			t.Errorf("%s: hot route takes it: %v, want %v", tc.path, took, tc.take)
		}
		if !took {
			continue
		}
		path := r.URL.RawPath
		if path == "" {
			path = r.URL.Path
		}
		rctx := chi.NewRouteContext()
		if got := h.routes.Find(rctx, http.MethodGet, path); got != h.hot.pattern || rctx.URLParam(h.hot.param) != v {
			t.Errorf("%s: hot route gives %s with %q, the router %q with %q", tc.path, h.hot.pattern, v, got, rctx.URLParam(h.hot.param))
		}
	}
}
