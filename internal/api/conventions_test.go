package api

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
)

// HEAD answers wherever GET does, with GET's status and headers and no
// body; a method a route does not take is 405 naming the ones it does.
func TestHeadAndAllowOnEveryRoute(t *testing.T) {
	w := newWorld(t)
	routes := map[string][]string{} // path pattern -> methods
	err := chi.Walk(w.h.(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		routes[route] = append(routes[route], method)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	fill := strings.NewReplacer("{number}", w.a.cert, "{unit_id}", strconv.FormatInt(w.a.ID, 10), "{id}", strconv.FormatInt(w.a.filing, 10), "*", "x")
	keyFor := func(path string) string {
		if strings.HasPrefix(path, "/api/v1/") {
			return w.platform
		}
		return ""
	}
	for route, methods := range routes {
		path := fill.Replace(route)
		if slices.Contains(methods, http.MethodGet) {
			get := w.do(call{method: "GET", path: path, key: keyFor(path)})
			head := w.do(call{method: "HEAD", path: path, key: keyFor(path)})
			if head.Code != get.Code || head.Header().Get("Content-Type") != get.Header().Get("Content-Type") {
				t.Errorf("HEAD %s: %d %q, GET: %d %q", route, head.Code, head.Header().Get("Content-Type"), get.Code, get.Header().Get("Content-Type"))
			}
		}
		// What the router takes at this very path: GET /v/pdf is the page
		// of the number "pdf", say.
		var want []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
			if w.h.(chi.Routes).Match(chi.NewRouteContext(), m, path) {
				want = append(want, m)
			}
		}
		if slices.Contains(want, http.MethodGet) {
			want = append(want, http.MethodHead)
		}
		slices.Sort(want)
		for _, m := range []string{http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodPost, http.MethodGet} {
			if slices.Contains(want, m) {
				continue
			}
			rec := w.do(call{method: m, path: path, key: keyFor(path)})
			allow := strings.Split(rec.Header().Get("Allow"), ", ")
			slices.Sort(allow)
			if rec.Code != http.StatusMethodNotAllowed || !slices.Equal(allow, want) {
				t.Errorf("%s %s: %d, Allow %v, want 405 and Allow %v", m, route, rec.Code, allow, want)
			}
		}
	}
}
