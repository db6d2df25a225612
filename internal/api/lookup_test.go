package api

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/certseal/certseal/registry"
)

// A browser gets pages in Chinese on the public routes: the page to type
// a number and a name into or to upload a PDF, the upload's verdict, and
// what went wrong. Other clients keep problem+json and JSON verdicts.
func TestLookupPageForBrowsers(t *testing.T) {
	w := newWorld(t)
	browser := map[string]string{"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
	pdf := w.must(call{method: "GET", path: "/api/v1/certificates/" + w.a.cert + "/pdf", key: w.a.key}, http.StatusOK, nil).Body.Bytes()
	form := func(file []byte) (string, []byte) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		fw, _ := mw.CreateFormFile("file", "证书.pdf")
		fw.Write(file)
		mw.Close()
		return mw.FormDataContentType(), b.Bytes()
	}
	mistyped := w.a.cert[:len(w.a.cert)-1] + "Y"
	tests := []struct {
		name   string
		c      call
		status int
		want   []string
	}{
		{"front door", call{method: "GET", path: "/"}, http.StatusFound, nil},
		{"the form", call{method: "GET", path: "/v", header: browser}, http.StatusOK,
			[]string{`<form method="get" action="/v">`, `action="/v/pdf"`, `name="file"`}},
		{"only a number", call{method: "GET", path: "/v?no=" + w.a.cert, header: browser}, http.StatusUnprocessableEntity,
			[]string{"请填写证书编号和持证人姓名", `value="` + w.a.cert + `"`}},
		{"a mistyped number", call{method: "GET", path: "/v?no=" + mistyped + "&name=王晓明", header: browser}, http.StatusUnprocessableEntity,
			[]string{"证书编号有误", `value="王晓明"`}},
		{"a mistyped number in a QR address", call{method: "GET", path: "/v/" + mistyped + "?k=x", header: browser}, http.StatusUnprocessableEntity,
			[]string{"证书编号有误"}},
		{"a genuine PDF", call{method: "POST", path: "/v/pdf", header: browser}, http.StatusOK,
			[]string{"验证通过", w.a.cert, "王晓明", "有效"}},
		{"not a PDF", call{method: "POST", path: "/v/pdf", header: browser, body: "hello"}, http.StatusOK, []string{"验证未通过"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.c.method == "POST" {
				file := pdf
				if s, ok := tc.c.body.(string); ok {
					file = []byte(s)
				}
				ct, body := form(file)
				tc.c.body, tc.c.header = body, map[string]string{"Accept": browser["Accept"], "Content-Type": ct}
			}
			rec := w.do(tc.c)
			page := rec.Body.String()
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, page)
			}
			if tc.status == http.StatusFound {
				if rec.Header().Get("Location") != "/v" {
					t.Errorf("Location %q", rec.Header().Get("Location"))
				}
				return
			}
			if !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") || rec.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("headers %v", rec.Header())
			}
			for _, want := range tc.want {
				if !strings.Contains(page, want) {
					t.Errorf("page lacks %q:\n%s", want, page)
				}
			}
		})
	}
	// Programs asking for JSON get problem+json; the upload answers JSON
	// unless asked for the page.
	if rec := w.do(call{method: "GET", path: "/v?no=" + mistyped + "&name=x", header: acceptJSON}); rec.Code != 422 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/problem+json") {
		t.Errorf("a program's mistyped number: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	if rec := w.do(call{method: "POST", path: "/v/pdf", body: pdf, header: map[string]string{"Content-Type": "application/pdf"}}); !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Errorf("a program's upload: %s", rec.Header().Get("Content-Type"))
	}
}

// A number typed from paper (no token, or a wrong one) leads a browser to
// the typed lookup, the number filled in; an unknown number gets the very
// same page, so the page tells nothing of which numbers exist. JSON
// clients keep the one unknown answer.
func TestNumberWithoutTokenAsksForTheName(t *testing.T) {
	w := newWorld(t)
	unknown, err := registry.FormatCertNumber(registry.Today(w.clock.Now()).Year, 99999999)
	if err != nil {
		t.Fatal(err)
	}
	browsers := []string{
		"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
		"*/*", // some browsers' links, curl
		"",
	}
	pageOf := func(number, query, accept string) (int, string) {
		t.Helper()
		rec := w.do(call{method: "GET", path: "/v/" + number + query, header: map[string]string{"Accept": accept}})
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Fatalf("%s%s (Accept %q): Content-Type %q", number, query, accept, ct)
		}
		// The number is echoed into the form; the rest must not differ.
		return rec.Code, strings.ReplaceAll(rec.Body.String(), number, "NUMBER")
	}
	for _, accept := range browsers {
		code, want := pageOf(unknown, "?k=guess", accept)
		if code != http.StatusOK || strings.Contains(want, "不存在") {
			t.Fatalf("unknown number (Accept %q): %d\n%s", accept, code, want)
		}
		for _, c := range []struct{ number, query string }{
			{w.a.cert, ""}, {w.a.cert, "?k="}, {w.a.cert, "?k=guess"}, {unknown, ""},
		} {
			code, page := pageOf(c.number, c.query, accept)
			if code != http.StatusOK || page != want {
				t.Errorf("%s%s (Accept %q): %d, and the page differs from an unknown number's:\n%s", c.number, c.query, accept, code, page)
			}
		}
		for _, s := range []string{`<form method="get" action="/v">`, `value="NUMBER"`, `name="name"`, "持证人姓名", `href="/catalog"`} {
			if !strings.Contains(want, s) {
				t.Errorf("page lacks %q:\n%s", s, want)
			}
		}
	}
	// The right token still shows the certificate.
	if _, page := pageOf(w.a.cert, "?k="+w.a.token, browsers[0]); !strings.Contains(page, "有效") {
		t.Errorf("the QR address no longer shows the certificate:\n%s", page)
	}
	// JSON: the one unknown answer, the same for both.
	json := map[string]string{"Accept": "application/json"}
	genuine := w.do(call{method: "GET", path: "/v/" + w.a.cert + "?k=guess", header: json})
	none := w.do(call{method: "GET", path: "/v/" + unknown + "?k=guess", header: json})
	strip := func(s string) string { return regexp.MustCompile(`"server_time":"[^"]*"`).ReplaceAllString(s, "") }
	if genuine.Code != http.StatusNotFound || none.Code != http.StatusNotFound || strip(genuine.Body.String()) != strip(none.Body.String()) ||
		!strings.Contains(none.Body.String(), `"status":"unknown"`) {
		t.Errorf("JSON: %d %s / %d %s", genuine.Code, genuine.Body, none.Code, none.Body)
	}
}

// GET /v is the form for whatever a browser sends as Accept; only a
// client asking for JSON gets JSON (a problem: no number, no name).
func TestLookupFormForEveryBrowserAccept(t *testing.T) {
	w := newWorld(t)
	for _, accept := range []string{"text/html", "*/*", "", "image/gif, image/jpeg, */*", "application/xhtml+xml"} {
		rec := w.do(call{method: "GET", path: "/v", header: map[string]string{"Accept": accept}})
		if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") ||
			!strings.Contains(rec.Body.String(), `<form method="get" action="/v">`) || !strings.Contains(rec.Body.String(), `href="/catalog"`) {
			t.Errorf("Accept %q: %d %s", accept, rec.Code, rec.Header().Get("Content-Type"))
		}
	}
	rec := w.do(call{method: "GET", path: "/v", header: map[string]string{"Accept": "application/json"}})
	if rec.Code != http.StatusUnprocessableEntity || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/problem+json") {
		t.Errorf("Accept application/json: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
}

// The answer to a typed lookup, found or not, leads back to the form.
func TestTypedAnswerLinksBackToTheForm(t *testing.T) {
	w := newWorld(t)
	for _, name := range []string{"王晓明", "李四"} {
		rec := w.do(call{method: "GET", path: "/v?no=" + w.a.cert + "&name=" + name, header: map[string]string{"Accept": "text/html"}})
		if !strings.Contains(rec.Body.String(), `<a href="/v">`) {
			t.Errorf("%s: %d, no link back to the form:\n%s", name, rec.Code, rec.Body)
		}
	}
}
