package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
)

func TestCheckOpenAPIBothWays(t *testing.T) {
	doc := []byte(`{"openapi":"3.1.0","paths":{
		"/a":{"get":{}},
		"/b/{id}":{"get":{},"parameters":[]},
		"/n/{id}":{"get":{}},
		"/u/{id}":{"get":{}},
		"/pki/ocsp/{request}":{"get":{}},
		"/pki/ocsp":{"post":{}},
		"/metrics":{"get":{}},
		"/api/v1/x":{"get":{},"post":{}},
		"/c":{"delete":{}}
	}}`)
	nop := func(w http.ResponseWriter, r *http.Request) {}
	r := chi.NewRouter()
	r.Get("/a", nop)
	r.Post("/b/{id}", nop)                       // documented as GET only
	r.Get("/n/{id:[0-9]+}", nop)                 // a regexp does not change the path
	r.Get("/u/{unit_id}", nop)                   // another parameter name is another path
	r.Get("/pki/ocsp/*", nop)                    // the wildcard is the trailing parameter
	r.Post("/pki/ocsp", nop)                     //
	r.Handle("/metrics", http.NotFoundHandler()) // every method: matches the documented GET
	r.Route("/api/v1", func(r chi.Router) {
		r.Get("/x", nop)
		r.Post("/x", nop)
		r.Put("/y", nop) // not documented
	})

	err := checkOpenAPI(r, doc)
	if err == nil {
		t.Fatal("no differences found")
	}
	got := strings.Split(err.Error(), "\n")
	want := []string{
		"documented but not routed: DELETE /c",
		"documented but not routed: GET /b/{id}",
		"documented but not routed: GET /u/{id}",
		"routed but not documented: GET /u/{unit_id}",
		"routed but not documented: POST /b/{id}",
		"routed but not documented: PUT /api/v1/y",
	}
	if !slices.Equal(got, want) {
		t.Errorf("CheckOpenAPI reported\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A route registered for any method needs its path documented.
	r2 := chi.NewRouter()
	r2.Handle("/debug", http.NotFoundHandler())
	if err := checkOpenAPI(r2, []byte(`{"paths":{}}`)); err == nil || err.Error() != "routed but not documented: (any method) /debug" {
		t.Errorf("any-method route: %v", err)
	}
	if err := checkOpenAPI(r2, []byte(`{"paths":`)); err == nil {
		t.Errorf("a broken document passed")
	}
}

func TestSamePath(t *testing.T) {
	tests := []struct {
		chi, doc string
		same     bool
	}{
		{"/v/{number}", "/v/{number}", true},
		{"/v/{number}", "/v/{no}", false},
		{"/v/{number:[0-9X]+}", "/v/{number}", true},
		{"/pki/ocsp/*", "/pki/ocsp/{request}", true},
		{"/pki/ocsp/*", "/pki/ocsp/fixed", false},
		{"/pki/ocsp/*", "/pki/ocsp", false},
		{"/a/*/b", "/a/{x}/b", false}, // only a trailing wildcard stands for a parameter
		{"/v", "/v/", false},
		{"/", "/", true},
	}
	for _, tc := range tests {
		if got := samePath(tc.chi, tc.doc); got != tc.same {
			t.Errorf("samePath(%q, %q) = %v", tc.chi, tc.doc, got)
		}
	}
}

// plumbDoc is the embedded document, parsed loosely.
type plumbDoc struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components map[string]map[string]json.RawMessage `json:"components"`
}

type plumbOp struct {
	OperationID string            `json:"operationId"`
	Security    *[]map[string]any `json:"security"`
	Roles       []string          `json:"x-certseal-roles"`
	Parameters  []struct {
		Ref  string `json:"$ref"`
		Name string `json:"name"`
		In   string `json:"in"`
	} `json:"parameters"`
	RequestBody *struct {
		Content map[string]any `json:"content"`
	} `json:"requestBody"`
	Responses map[string]struct {
		Ref     string         `json:"$ref"`
		Content map[string]any `json:"content"`
	} `json:"responses"`
}

func plumbLoadDoc(t *testing.T) plumbDoc {
	t.Helper()
	var d plumbDoc
	if err := json.Unmarshal(openAPIDoc, &d); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return d
}

// The document lists exactly the routes of DESIGN.md §8, the additions
// (withdraw, reads, reports), and the operational ones.
func TestOpenAPIListsEveryRoute(t *testing.T) {
	want := []string{
		"POST /api/v1/units",
		"GET /api/v1/units/{unit_id}",
		"POST /api/v1/units/{unit_id}/filings",
		"GET /api/v1/units/{unit_id}/filings",
		"GET /api/v1/filings/{id}",
		"POST /api/v1/filings/{id}/review",
		"POST /api/v1/filings/{id}/withdraw",
		"GET /api/v1/catalog",
		"GET /catalog",
		"POST /api/v1/units/{unit_id}/seal-applications",
		"GET /api/v1/seal-applications/{id}",
		"POST /api/v1/seal-applications/{id}/review",
		"POST /api/v1/seal-applications/{id}/withdraw",
		"GET /api/v1/units/{unit_id}/seals",
		"POST /api/v1/seals/{id}/revoke",
		"POST /api/v1/certificates",
		"POST /api/v1/certificate-batches",
		"GET /api/v1/certificate-batches/{id}",
		"GET /api/v1/certificate-batches/{id}/rows",
		"GET /api/v1/certificates/{number}",
		"GET /api/v1/certificates/{number}/pdf",
		"POST /api/v1/certificates/{number}/revoke",
		"POST /api/v1/certificates/{number}/reissue",
		"GET /",
		"GET /v/{number}",
		"GET /v",
		"POST /v/pdf",
		"GET /pki/root.crt",
		"GET /pki/issuing.crt",
		"GET /pki/crl",
		"GET /pki/ocsp/{request}",
		"POST /pki/ocsp",
		"GET /healthz",
		"GET /readyz",
		"GET /metrics",
		"GET /api/v1/openapi.json",
		// The notice's rules: reports, the integrity record, renewals.
		"GET /api/v1/reports",
		"GET /api/v1/integrity-records",
		"GET /api/v1/filings/expiring",
		"POST /tsa",
		// Daily operation: key lifecycle, listings, the holder's PDF.
		"GET /api/v1/api-keys",
		"POST /api/v1/api-keys",
		"POST /api/v1/api-keys/{id}/revoke",
		"GET /api/v1/units",
		"GET /api/v1/certificates",
		"GET /api/v1/holder-certificates",
		"POST /v/{number}",
		"GET /download/{number}",
		// The 国密 twin (GB/T 38540).
		"GET /pki/sm2-root.crt",
		"GET /pki/sm2-issuing.crt",
		"GET /pki/seals/{id}/ses",
		"GET /v/{number}/ses",
		"GET /api/v1/certificates/{number}/ses",
		// Receipts, the holder's view of verifications, token rotation.
		"POST /v/{number}/receipt",
		"POST /v/receipt",
		"GET /r/{serial}",
		"GET /r/{serial}/pdf",
		"GET /api/v1/certificates/{number}/verifications",
		"POST /api/v1/certificates/{number}/rotate-token",
		// The transparency log over the audit trail.
		"GET /log/checkpoint",
		"GET /log/key",
		"GET /log/leaves",
		"GET /log/proof/inclusion",
		"GET /log/proof/consistency",
		"GET /log/certificates/{number}",
	}
	ops, err := documentedOps(openAPIDoc)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for path, methods := range ops {
		for _, m := range methods {
			got = append(got, m+" "+path)
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("documented operations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A router with exactly these routes passes CheckOpenAPI.
	r := chi.NewRouter()
	for _, op := range want {
		method, path, _ := strings.Cut(op, " ")
		r.Method(method, strings.Replace(path, "/pki/ocsp/{request}", "/pki/ocsp/*", 1), http.NotFoundHandler())
	}
	if err := CheckOpenAPI(r); err != nil {
		t.Errorf("CheckOpenAPI on the documented routes: %v", err)
	}
}

// The document is well-formed beyond JSON: references resolve, path
// parameters are declared, operations have unique ids, API operations say
// who may call them, mutating ones take Idempotency-Key, errors are
// problem+json, and member names are snake_case.
func TestOpenAPIDocumentIsConsistent(t *testing.T) {
	d := plumbLoadDoc(t)
	if d.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q", d.OpenAPI)
	}

	// Every $ref points at something.
	refs := regexp.MustCompile(`"\$ref":\s*"#/components/([a-zA-Z]+)/([^"]+)"`).FindAllStringSubmatch(string(openAPIDoc), -1)
	if len(refs) == 0 {
		t.Fatal("no references found")
	}
	for _, m := range refs {
		if _, ok := d.Components[m[1]][m[2]]; !ok {
			t.Errorf("dangling $ref #/components/%s/%s", m[1], m[2])
		}
	}
	var params map[string]struct {
		Name string `json:"name"`
		In   string `json:"in"`
	}
	if err := json.Unmarshal(mustJSON(t, d.Components["parameters"]), &params); err != nil {
		t.Fatal(err)
	}
	var problemResponses map[string]struct {
		Content map[string]any `json:"content"`
	}
	if err := json.Unmarshal(mustJSON(t, d.Components["responses"]), &problemResponses); err != nil {
		t.Fatal(err)
	}

	// Error statuses whose body is deliberately not a problem.
	notProblem := map[string]bool{
		"GET /readyz 503":     true, // per-check status for load balancers
		"GET /v/{number} 404": true, // the verification page saying 不存在
		"GET /v 404":          true, // the same for typed lookups
		"GET /r/{serial} 404": true, // the receipt check saying it is no receipt
		"POST /v/receipt 404": true,
	}
	ids := map[string]string{}
	pathParam := regexp.MustCompile(`\{([^}]+)\}`)
	for path, item := range d.Paths {
		for method, raw := range item {
			if !slices.Contains(openAPIMethods[:], method) {
				continue
			}
			where := strings.ToUpper(method) + " " + path
			var op plumbOp
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			if op.OperationID == "" || ids[op.OperationID] != "" {
				t.Errorf("%s: operationId %q missing or also on %s", where, op.OperationID, ids[op.OperationID])
			}
			ids[op.OperationID] = where

			declared := map[string]bool{}
			for _, p := range op.Parameters {
				name, in := p.Name, p.In
				if p.Ref != "" {
					c := params[strings.TrimPrefix(p.Ref, "#/components/parameters/")]
					name, in = c.Name, c.In
				}
				declared[in+":"+name] = true
			}
			for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
				if !declared["path:"+m[1]] {
					t.Errorf("%s: path parameter %s not declared", where, m[1])
				}
			}

			api := strings.HasPrefix(path, "/api/v1/") && path != "/api/v1/openapi.json" && path != "/api/v1/catalog"
			if op.Security == nil {
				t.Errorf("%s: no security (say [] for public operations)", where)
			} else if api != (len(*op.Security) == 1) {
				t.Errorf("%s: security %v", where, *op.Security)
			}
			if api {
				if len(op.Roles) == 0 {
					t.Errorf("%s: x-certseal-roles missing", where)
				}
				if op.Responses["401"].Ref == "" || op.Responses["403"].Ref == "" {
					t.Errorf("%s: 401/403 not documented", where)
				}
				if method != "get" && !declared["header:Idempotency-Key"] {
					t.Errorf("%s: Idempotency-Key not documented", where)
				}
			}
			if method == "post" && path != "/api/v1/certificate-batches" && op.RequestBody != nil {
				if _, isJSON := op.RequestBody.Content["application/json"]; isJSON && op.Responses["415"].Ref == "" {
					t.Errorf("%s: a JSON body without 415", where)
				}
			}
			success := false
			for status, resp := range op.Responses {
				if status[0] == '2' || status[0] == '3' {
					success = true
					continue
				}
				if resp.Ref != "" {
					name := strings.TrimPrefix(resp.Ref, "#/components/responses/")
					if _, ok := problemResponses[name].Content["application/problem+json"]; !ok {
						t.Errorf("%s %s: %s is not problem+json", where, status, name)
					}
				} else if _, ok := resp.Content["application/problem+json"]; !ok && !notProblem[where+" "+status] {
					t.Errorf("%s %s: error answer is not problem+json", where, status)
				}
			}
			if !success {
				t.Errorf("%s: no success response", where)
			}
		}
	}

	// DESIGN.md §8: snake_case members in and out.
	snake := regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)
	var walk func(v any, where string)
	walk = func(v any, where string) {
		switch v := v.(type) {
		case map[string]any:
			if props, ok := v["properties"].(map[string]any); ok {
				for name := range props {
					if !snake.MatchString(name) {
						t.Errorf("%s: member %q is not snake_case", where, name)
					}
				}
			}
			for k, c := range v {
				walk(c, where+"/"+k)
			}
		case []any:
			for _, c := range v {
				walk(c, where)
			}
		}
	}
	var all any
	json.Unmarshal(openAPIDoc, &all)
	walk(all, "#")
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOpenAPIHandler(t *testing.T) {
	h := OpenAPIHandler()
	rec := httptest.NewRecorder()
	h(rec, httptest.NewRequest("GET", "/api/v1/openapi.json", nil))
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("%d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	if !json.Valid(rec.Body.Bytes()) || rec.Body.Len() != len(openAPIDoc) {
		t.Errorf("body is not the document")
	}
	etag := rec.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	req := httptest.NewRequest("GET", "/api/v1/openapi.json", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h(rec, req)
	if rec.Code != 304 || rec.Body.Len() != 0 {
		t.Errorf("If-None-Match: %d, %d bytes", rec.Code, rec.Body.Len())
	}
}
