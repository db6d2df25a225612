package api

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
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
	// curl and programs: as before.
	if rec := w.do(call{method: "GET", path: "/v?no=" + mistyped + "&name=x"}); rec.Code != 422 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/problem+json") {
		t.Errorf("a program's mistyped number: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	if rec := w.do(call{method: "POST", path: "/v/pdf", body: pdf, header: map[string]string{"Content-Type": "application/pdf"}}); !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Errorf("a program's upload: %s", rec.Header().Get("Content-Type"))
	}
}
