package api

import (
	"context"
	"net/http"
	"sort"
	"sync"
	"time"
)

// readyTimeout bounds each readiness check: a load balancer asks often and
// a backend that takes longer than this is as good as down.
const readyTimeout = 2 * time.Second

// Health is the JSON of /healthz and /readyz.
type Health struct {
	Status string            `json:"status"` // "ok" or "unavailable"
	Checks map[string]string `json:"checks,omitempty"`
}

// Healthz answers 200 while the process serves HTTP at all (liveness).
func Healthz() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		WriteJSON(w, http.StatusOK, Health{Status: "ok"})
	}
}

// Readyz runs every check at once, each with a short timeout, and answers
// 200 when all pass, else 503; each check's result is "ok" or "fail". Why a
// check failed goes to the log, not to the public answer (it may name
// hosts and addresses).
func Readyz(checks map[string]func(context.Context) error) http.HandlerFunc {
	return readyz(checks, readyTimeout)
}

func readyz(checks map[string]func(context.Context) error, timeout time.Duration) http.HandlerFunc {
	names := make([]string, 0, len(checks))
	for name := range checks {
		names = append(names, name)
	}
	sort.Strings(names)
	return func(w http.ResponseWriter, r *http.Request) {
		errs := make([]error, len(names))
		var wg sync.WaitGroup
		for i, name := range names {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(r.Context(), timeout)
				defer cancel()
				// A check that ignores its context still cannot hold the
				// answer past the timeout.
				done := make(chan error, 1)
				go func() { done <- checks[name](ctx) }()
				select {
				case errs[i] = <-done:
				case <-ctx.Done():
					errs[i] = ctx.Err()
				}
			})
		}
		wg.Wait()
		h, status := Health{Status: "ok", Checks: make(map[string]string, len(names))}, http.StatusOK
		for i, name := range names {
			h.Checks[name] = "ok"
			if errs[i] != nil {
				h.Checks[name] = "fail"
				h.Status, status = "unavailable", http.StatusServiceUnavailable
				LoggerFrom(r.Context()).Warn("readiness check failed", "check", name, "err", errs[i])
			}
		}
		w.Header().Set("Cache-Control", "no-store")
		WriteJSON(w, status, h)
	}
}
