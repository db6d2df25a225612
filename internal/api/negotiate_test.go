package api

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

var acceptJSON = map[string]string{"Accept": "application/json"}

// A public route answers one Accept in one format, whether it succeeds or
// fails: never the page on success and problem+json on failure.
func TestOneFormatForAnswerAndProblem(t *testing.T) {
	w := newWorld(t)
	mistyped := w.a.cert[:len(w.a.cert)-1] + "Y"
	const page, json, def = "page", "json", "the route's own"
	routes := []struct {
		name, ok, bad string
		method        string
		def           string // what a client naming neither gets
		badStatus     int
	}{
		{"/v/{number}", "/v/" + w.a.cert + "?k=" + w.a.token, "/v/" + mistyped + "?k=x", "GET", page, 422},
		{"/v", "/v?no=" + w.a.cert + "&name=" + url.QueryEscape("王晓明"), "/v?no=" + w.a.cert, "GET", page, 422},
		{"/catalog", "/catalog", "/catalog?limit=5000", "GET", page, 422},
		{"/v/pdf", "/v/pdf", "/v/pdf?no=" + mistyped, "POST", json, 422},
	}
	pdf := w.must(call{method: "GET", path: "/api/v1/certificates/" + w.a.cert + "/pdf", key: w.a.key}, http.StatusOK, nil).Body.Bytes()
	for _, a := range []struct{ accept, want string }{
		{"", def},
		{"*/*", def},
		{"image/gif, image/jpeg, */*", def},
		{"text/html", page},
		{"TEXT/HTML", page},
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", page},
		{"application/xhtml+xml", page},
		{"application/json", json},
		{"application/problem+json", json},
		{"application/json, text/html", json},
		{"text/html, application/json", json},
		{"text/html;q=0.9, application/json;q=0.5", page},
		{"text/html;q=0.5, application/json", json},
		{"application/json;q=0", page},
		{"text/html;q=0", json},
	} {
		for _, rt := range routes {
			want := a.want
			if want == def {
				want = rt.def
			}
			for _, c := range []struct {
				path   string
				status int
			}{{rt.ok, http.StatusOK}, {rt.bad, rt.badStatus}} {
				req := call{method: rt.method, path: c.path, header: map[string]string{"Accept": a.accept}}
				if rt.method == "POST" {
					req.body, req.header["Content-Type"] = pdf, "application/pdf"
				}
				rec := w.do(req)
				ct := rec.Header().Get("Content-Type")
				wantCT := "text/html"
				if want == json {
					wantCT = "application/json"
					if c.status != http.StatusOK {
						wantCT = "application/problem+json"
					}
				}
				if rec.Code != c.status || !strings.HasPrefix(ct, wantCT) || !strings.Contains(rec.Header().Get("Vary"), "Accept") {
					t.Errorf("%s %s, Accept %q: %d %s (Vary %q), want %d %s", rt.method, c.path, a.accept, rec.Code, ct,
						rec.Header().Get("Vary"), c.status, wantCT)
				}
				if want == page && c.status != http.StatusOK && !strings.Contains(rec.Body.String(), `role="alert"`) {
					t.Errorf("%s %s, Accept %q: the page does not say what is wrong:\n%s", rt.method, c.path, a.accept, rec.Body)
				}
			}
		}
	}
}
