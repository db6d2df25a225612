package api

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certseal/certseal/registry"
)

// leavesAfterCommit is a store whose caller's client hangs up the moment a
// write transaction commits.
type leavesAfterCommit struct {
	registry.Store
	hangUp atomic.Pointer[context.CancelFunc]
}

func (s *leavesAfterCommit) InTx(ctx context.Context, fn func(registry.Tx) error) error {
	err := s.Store.InTx(ctx, fn)
	if c := s.hangUp.Load(); err == nil && c != nil {
		(*c)()
	}
	return err
}

// A revocation that committed shows on the verification page at once,
// even when the client that asked for it left as it committed. The seal
// case listed the seal's certificates under the request's context and,
// that failing, left 有效 cached for ten minutes.
func TestRevocationShowsWhenTheClientLeaves(t *testing.T) {
	for _, tc := range []struct {
		name   string
		revoke func(w *e2eWorld) (path string, body map[string]any)
	}{
		{"seal revoked", func(w *e2eWorld) (string, map[string]any) {
			return fmt.Sprintf("/api/v1/seals/%d/revoke", w.activeSeal(w.a)), map[string]any{"reason": "keyCompromise",
				"invalidity_date": w.clock.Now().Add(-24 * time.Hour).Format(time.RFC3339)}
		}},
		{"certificate revoked", func(w *e2eWorld) (string, map[string]any) {
			return "/api/v1/certificates/" + w.a.cert + "/revoke", map[string]any{"reason": "聘任文号有误"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := &leavesAfterCommit{}
			w := newWorldWith(t, func(s registry.Store) registry.Store { store.Store = s; return store })
			page := func() (a map[string]any) {
				w.must(call{method: "GET", path: "/v/" + w.a.cert + "?k=" + w.a.token, header: map[string]string{"Accept": "application/json"}}, http.StatusOK, &a)
				return a
			}
			if a := page(); a["status"] != "valid" { // now cached
				t.Fatalf("before the revocation: %v", a["status"])
			}
			path, body := tc.revoke(w)
			ctx, hangUp := context.WithCancel(context.Background())
			store.hangUp.Store(&hangUp)
			req := httptest.NewRequestWithContext(ctx, "POST", path, bytes.NewReader(mustJSON(t, body)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+w.a.key)
			rec := httptest.NewRecorder()
			w.h.ServeHTTP(rec, req)
			store.hangUp.Store(nil)
			if rec.Code != http.StatusOK {
				t.Fatalf("revoke: %d %s", rec.Code, rec.Body)
			}
			if a := page(); a["status"] != "revoked" {
				t.Errorf("after the revocation committed the page says %v (%v)", a["status"], a["indication"])
			}
		})
	}
}
