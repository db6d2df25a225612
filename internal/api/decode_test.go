package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/certseal/certseal/registry"
)

type plumbHandler struct {
	Name   string `json:"name"`
	Mobile string `json:"mobile"`
}

type plumbApplication struct {
	Kind        string        `json:"kind"`
	Handler     plumbHandler  `json:"handler"`
	Declaration bool          `json:"declaration"`
	Count       int           `json:"count"`
	Years       []int         `json:"years"`
	Imprint     []byte        `json:"imprint_png"`
	TermFrom    registry.Date `json:"term_from"`
}

// plumbDecode runs DecodeJSON on body behind the given middleware.
func plumbDecode(contentType, body string, mw func(http.Handler) http.Handler) (plumbApplication, error) {
	var dst plumbApplication
	var err error
	h := http.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { err = DecodeJSON(r, &dst) }))
	if mw != nil {
		h = mw(h)
	}
	req := httptest.NewRequest("POST", "/x", strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.ContentLength = -1 // as a chunked upload: the limit must hold while reading
	h.ServeHTTP(httptest.NewRecorder(), req)
	return dst, err
}

func TestDecodeJSON(t *testing.T) {
	const js = "application/json"
	tests := []struct {
		name        string
		contentType string
		body        string
		mw          func(http.Handler) http.Handler
		code        registry.Code // "" for success
		field       string
		msg         string // substring of the message
	}{
		{"ok", js, `{"kind":"new","handler":{"name":"张三"},"declaration":true,"years":[1,2,3],"imprint_png":"iVBORw==","term_from":"2024-01-01"}`, nil, "", "", ""},
		{"charset utf-8 and white space after", "application/json; charset=UTF-8", "{\"kind\":\"new\"}\n \t\r\n", nil, "", "", ""},
		{"no content type", "", `{}`, nil, CodeUnsupportedMediaType, "", "application/json"},
		{"text/plain", "text/plain", `{}`, nil, CodeUnsupportedMediaType, "", ""},
		{"json-ish suffix", "application/problem+json", `{}`, nil, CodeUnsupportedMediaType, "", ""},
		{"latin-1", "application/json; charset=iso-8859-1", `{}`, nil, CodeUnsupportedMediaType, "", "UTF-8"},
		{"garbled content type", "application/json; ;;=", `{}`, nil, CodeUnsupportedMediaType, "", ""},
		{"unknown field", js, `{"kind":"new","kidn":"x"}`, nil, registry.CodeInvalid, "kidn", "not a known field"},
		{"unknown nested field", js, `{"handler":{"nmae":"x"}}`, nil, registry.CodeInvalid, "nmae", ""},
		{"wrong type", js, `{"kind":7}`, nil, registry.CodeInvalid, "kind", "must be a string, not a JSON number"},
		{"wrong nested type", js, `{"handler":{"name":true}}`, nil, registry.CodeInvalid, "handler.name", "string"},
		{"wrong type bool", js, `{"declaration":"yes"}`, nil, registry.CodeInvalid, "declaration", "boolean"},
		{"wrong element type", js, `{"years":[1,"2"]}`, nil, registry.CodeInvalid, "years", "integer"},
		{"fraction for integer", js, `{"count":1.5}`, nil, registry.CodeInvalid, "count", "integer"},
		{"array for object", js, `[1]`, nil, registry.CodeInvalid, "", "object"},
		{"bad date", js, `{"term_from":"2023-02-30"}`, nil, registry.CodeInvalid, "term_from", "2023-02-30"},
		{"bad base64", js, `{"imprint_png":"**"}`, nil, registry.CodeInvalid, "imprint_png", "base64"},
		{"two values", js, `{} {}`, nil, CodeMalformed, "", "after the JSON value"},
		{"trailing garbage", js, `{"kind":"new"} x`, nil, CodeMalformed, "", "invalid JSON"},
		{"trailing brace", js, `{"kind":"new"}}`, nil, CodeMalformed, "", "invalid JSON"},
		{"syntax error", js, `{"kind":}`, nil, CodeMalformed, "", "byte"},
		{"empty", js, ``, nil, CodeMalformed, "", "empty"},
		{"cut short", js, `{"kind":"ne`, nil, CodeMalformed, "", "cut short"},
		{"over MaxBody", js, `{"kind":"` + strings.Repeat("x", 100) + `"}`, MaxBody(50), CodeTooLarge, "", "50 bytes"},
		{"within MaxBody", js, `{"kind":"new"}`, MaxBody(50), "", "", ""},
		{"over the default limit", js, `{"kind":"` + strings.Repeat("x", DefaultMaxJSONBody) + `"}`, nil, CodeTooLarge, "", "1048576"},
		{"MaxBody above the default", js, `{"kind":"` + strings.Repeat("x", DefaultMaxJSONBody) + `"}`, MaxBody(2 << 20), "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := plumbDecode(tc.contentType, tc.body, tc.mw)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var e *registry.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T), want a *registry.Error", err, err)
			}
			if e.Code != tc.code || e.Field != tc.field || !strings.Contains(e.Msg, tc.msg) {
				t.Errorf("got code %s field %q msg %q; want %s %q ~%q", e.Code, e.Field, e.Msg, tc.code, tc.field, tc.msg)
			}
		})
	}
}

func TestDecodeJSONFillsValues(t *testing.T) {
	got, err := plumbDecode("application/json", `{"kind":"change","handler":{"name":"李四","mobile":"13800000000"},"count":3,"imprint_png":"AQID","term_from":"2024-07-01"}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := plumbApplication{Kind: "change", Handler: plumbHandler{"李四", "13800000000"}, Count: 3, Imprint: []byte{1, 2, 3},
		TermFrom: registry.Date{Year: 2024, Month: 7, Day: 1}}
	if got.Kind != want.Kind || got.Handler != want.Handler || got.Count != want.Count || string(got.Imprint) != string(want.Imprint) || got.TermFrom != want.TermFrom {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// A programming error (not a pointer) is the server's fault: 500.
func TestDecodeJSONNonPointerIsInternal(t *testing.T) {
	req := httptest.NewRequest("POST", "/x", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	err := DecodeJSON(req, plumbApplication{})
	if p := problemFor(req, err); p.Status != 500 {
		t.Errorf("non-pointer destination gave %d %s", p.Status, p.Code)
	}
}

func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"kind":"new","handler":{"name":"x"}}`, `[`, `{"years":[1,2]} {}`, `{"term_from":"2024-02-29"}`, `{"imprint_png":"AA=="}`, "\xff", `null`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		_, err := plumbDecode("application/json", body, MaxBody(4096))
		if err == nil {
			return
		}
		var e *registry.Error
		if !errors.As(err, &e) {
			t.Fatalf("error %v (%T) is not a *registry.Error", err, err)
		}
		req := httptest.NewRequest("POST", "/x", nil)
		if p := problemFor(req, err); p.Status < 400 || p.Status >= 500 {
			t.Fatalf("client input %q gave status %d (%s)", body, p.Status, err)
		}
	})
}
