package api

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ocsp"

	"github.com/certseal/certseal/registry"
)

// The callers of the authorisation table. Each route is tried on the
// objects of one unit (the target) by every one of them.
type authzRole int

const (
	asPlatform      authzRole = iota
	asReviewer                // reviewer of the target's jurisdiction
	asOtherReviewer           // reviewer of the other unit's jurisdiction
	asUnit                    // the target unit itself
	asOtherUnit               // the other unit
	asNoKey
	asUnknownKey   // well-formed, but no such key
	asMalformedKey // not a certseal key at all
	authzRoles
)

var authzRoleNames = [authzRoles]string{"platform", "reviewer", "other reviewer", "unit", "other unit", "no key", "unknown key", "malformed key"}

// authzRoute is one API route: the status each scoped caller gets on the
// target unit's objects (platform, reviewer, other reviewer, unit, other
// unit); callers without a valid key always get 401.
type authzRoute struct {
	method, pattern string
	want            [asNoKey]int
	// req builds the request on u's objects. fresh is set when the call
	// is to succeed and change something: it then acts on new objects,
	// so the standing ones stay for the other callers.
	req func(w *e2eWorld, u *e2eUnit, fresh bool) (path string, body any)
	// after restores what a successful call used up.
	after func(w *e2eWorld, u *e2eUnit)
}

const (
	ok200 = http.StatusOK
	ok201 = http.StatusCreated
	ok202 = http.StatusAccepted
	no403 = http.StatusForbidden
	no404 = http.StatusNotFound
)

var approve = map[string]any{"decision": "approve", "opinion": "同意"}

func authzRoutes() []authzRoute {
	unitPath := func(format string) func(*e2eWorld, *e2eUnit, bool) (string, any) {
		return func(_ *e2eWorld, u *e2eUnit, _ bool) (string, any) { return fmt.Sprintf(format, u.ID), nil }
	}
	// pending picks the standing pending object or, when fresh, a new one.
	pendingFiling := func(w *e2eWorld, u *e2eUnit, fresh bool) int64 {
		if fresh {
			return w.file(u, "工程")
		}
		return u.pendingFiling
	}
	pendingApp := func(w *e2eWorld, u *e2eUnit, fresh bool) int64 {
		if fresh {
			return w.apply(u, registry.KindChange)
		}
		return u.pendingApp
	}
	cert := func(w *e2eWorld, u *e2eUnit, fresh bool) string {
		if fresh {
			return w.issue(w.platform, w.appointment(u.ID)).Number
		}
		return u.cert
	}
	return []authzRoute{
		{"POST", "/api/v1/units", [5]int{ok201, no403, no403, no403, no403},
			func(w *e2eWorld, u *e2eUnit, _ bool) (string, any) {
				return "/api/v1/units", w.unitBody("新注册单位", u.Jurisdiction)
			}, nil},
		{"GET", "/api/v1/units/{unit_id}", [5]int{ok200, ok200, no404, ok200, no404}, unitPath("/api/v1/units/%d"), nil},
		{"POST", "/api/v1/units/{unit_id}/filings", [5]int{ok201, no403, no403, ok201, no404},
			func(_ *e2eWorld, u *e2eUnit, _ bool) (string, any) {
				return fmt.Sprintf("/api/v1/units/%d/filings", u.ID), filingBody("工程")
			}, nil},
		{"GET", "/api/v1/units/{unit_id}/filings", [5]int{ok200, ok200, no404, ok200, no404}, unitPath("/api/v1/units/%d/filings"), nil},
		{"GET", "/api/v1/filings/{id}", [5]int{ok200, ok200, no404, ok200, no404},
			func(_ *e2eWorld, u *e2eUnit, _ bool) (string, any) {
				return fmt.Sprintf("/api/v1/filings/%d", u.filing), nil
			}, nil},
		{"POST", "/api/v1/filings/{id}/review", [5]int{no403, ok200, no404, no403, no403},
			func(w *e2eWorld, u *e2eUnit, fresh bool) (string, any) {
				return fmt.Sprintf("/api/v1/filings/%d/review", pendingFiling(w, u, fresh)), approve
			}, nil},
		{"POST", "/api/v1/filings/{id}/withdraw", [5]int{ok200, no403, no403, ok200, no404},
			func(w *e2eWorld, u *e2eUnit, fresh bool) (string, any) {
				return fmt.Sprintf("/api/v1/filings/%d/withdraw", pendingFiling(w, u, fresh)), nil
			}, nil},
		{"POST", "/api/v1/units/{unit_id}/seal-applications", [5]int{ok201, no403, no403, ok201, no404},
			func(_ *e2eWorld, u *e2eUnit, _ bool) (string, any) {
				return fmt.Sprintf("/api/v1/units/%d/seal-applications", u.ID), sealAppBody(registry.KindChange)
			}, nil},
		{"GET", "/api/v1/seal-applications/{id}", [5]int{ok200, ok200, no404, ok200, no404},
			func(_ *e2eWorld, u *e2eUnit, _ bool) (string, any) {
				return fmt.Sprintf("/api/v1/seal-applications/%d", u.pendingApp), nil
			}, nil},
		{"POST", "/api/v1/seal-applications/{id}/review", [5]int{no403, ok200, no404, no403, no403},
			func(w *e2eWorld, u *e2eUnit, fresh bool) (string, any) {
				return fmt.Sprintf("/api/v1/seal-applications/%d/review", pendingApp(w, u, fresh)), approve
			}, nil},
		{"POST", "/api/v1/seal-applications/{id}/withdraw", [5]int{ok200, no403, no403, ok200, no404},
			func(w *e2eWorld, u *e2eUnit, fresh bool) (string, any) {
				return fmt.Sprintf("/api/v1/seal-applications/%d/withdraw", pendingApp(w, u, fresh)), nil
			}, nil},
		{"GET", "/api/v1/units/{unit_id}/seals", [5]int{ok200, ok200, no404, ok200, no404}, unitPath("/api/v1/units/%d/seals"), nil},
		{"POST", "/api/v1/seals/{id}/revoke", [5]int{ok200, no403, no403, ok200, no404},
			func(w *e2eWorld, u *e2eUnit, _ bool) (string, any) {
				return fmt.Sprintf("/api/v1/seals/%d/revoke", w.activeSeal(u)), map[string]any{"reason": "cessationOfOperation"}
			},
			// The unit needs a seal again for the callers after.
			func(w *e2eWorld, u *e2eUnit) { w.sealApproved(u, registry.KindNew) }},
		{"POST", "/api/v1/certificates", [5]int{ok201, no403, no403, ok201, no404},
			func(w *e2eWorld, u *e2eUnit, _ bool) (string, any) {
				return "/api/v1/certificates", w.appointment(u.ID)
			}, nil},
		{"POST", "/api/v1/certificate-batches", [5]int{ok202, no403, no403, ok202, no404},
			func(w *e2eWorld, u *e2eUnit, _ bool) (string, any) {
				return fmt.Sprintf("/api/v1/certificate-batches?unit_id=%d", u.ID), []map[string]any{w.appointment(u.ID)}
			}, nil},
		{"GET", "/api/v1/certificate-batches/{id}", [5]int{ok200, no403, no403, ok200, no404},
			func(_ *e2eWorld, u *e2eUnit, _ bool) (string, any) {
				return fmt.Sprintf("/api/v1/certificate-batches/%d", u.batch), nil
			}, nil},
		{"GET", "/api/v1/certificate-batches/{id}/rows", [5]int{ok200, no403, no403, ok200, no404},
			func(_ *e2eWorld, u *e2eUnit, _ bool) (string, any) {
				return fmt.Sprintf("/api/v1/certificate-batches/%d/rows", u.batch), nil
			}, nil},
		{"GET", "/api/v1/certificates/{number}", [5]int{ok200, no403, no403, ok200, no404},
			func(_ *e2eWorld, u *e2eUnit, _ bool) (string, any) { return "/api/v1/certificates/" + u.cert, nil }, nil},
		{"GET", "/api/v1/certificates/{number}/pdf", [5]int{ok200, no403, no403, ok200, no404},
			func(_ *e2eWorld, u *e2eUnit, _ bool) (string, any) {
				return "/api/v1/certificates/" + u.cert + "/pdf", nil
			}, nil},
		{"GET", "/api/v1/certificates/{number}/ses", [5]int{ok200, no403, no403, no403, no403},
			func(_ *e2eWorld, u *e2eUnit, _ bool) (string, any) {
				return "/api/v1/certificates/" + u.cert + "/ses", nil
			}, nil},
		{"POST", "/api/v1/certificates/{number}/revoke", [5]int{ok200, no403, no403, ok200, no404},
			func(w *e2eWorld, u *e2eUnit, fresh bool) (string, any) {
				return "/api/v1/certificates/" + cert(w, u, fresh) + "/revoke", map[string]any{"reason": "误发", "category": "error"}
			}, nil},
		{"GET", "/api/v1/reports", [5]int{ok200, ok200, no404, ok200, no404}, unitPath("/api/v1/reports?unit_id=%d"), nil},
		{"GET", "/api/v1/filings/expiring", [5]int{ok200, ok200, no404, ok200, no404}, unitPath("/api/v1/filings/expiring?unit_id=%d"), nil},
		{"GET", "/api/v1/integrity-records", [5]int{ok200, ok200, no404, no403, no403}, unitPath("/api/v1/integrity-records?unit_id=%d"), nil},
		{"POST", "/api/v1/certificates/{number}/reissue", [5]int{ok201, no403, no403, ok201, no404},
			func(w *e2eWorld, u *e2eUnit, fresh bool) (string, any) {
				return "/api/v1/certificates/" + cert(w, u, fresh) + "/reissue", withField(w.appointment(u.ID), "post", "教授")
			}, nil},
		{"GET", "/api/v1/api-keys", [5]int{ok200, no403, no403, no403, no403}, unitPath("/api/v1/api-keys?limit=%d"), nil},
		{"POST", "/api/v1/api-keys", [5]int{ok201, no403, no403, no403, no403},
			func(_ *e2eWorld, u *e2eUnit, _ bool) (string, any) {
				return "/api/v1/api-keys", map[string]any{"role": "unit", "unit_id": u.ID, "name": "新密钥"}
			}, nil},
		{"POST", "/api/v1/api-keys/{id}/revoke", [5]int{ok200, no403, no403, no403, no403},
			func(w *e2eWorld, u *e2eUnit, fresh bool) (string, any) {
				k := registry.APIKey{Role: registry.RoleUnit, UnitID: u.ID}
				if fresh {
					w.newKey(k) // a spare, so the standing keys stay usable
				}
				return fmt.Sprintf("/api/v1/api-keys/%d/revoke", w.lastKeyID()), nil
			}, nil},
		{"GET", "/api/v1/units", [5]int{ok200, ok200, ok200, ok200, ok200}, unitPath("/api/v1/units?limit=%d"), nil},
		{"GET", "/api/v1/certificates", [5]int{ok200, no403, no403, ok200, no404}, unitPath("/api/v1/certificates?unit_id=%d"), nil},
		{"GET", "/api/v1/holder-certificates", [5]int{ok200, no403, no403, no403, no403},
			func(w *e2eWorld, u *e2eUnit, _ bool) (string, any) {
				return "/api/v1/holder-certificates", withHeader{HolderIDHeader: u.holder}
			}, nil},
		{"GET", "/api/v1/certificates/{number}/verifications", [5]int{ok200, no403, no403, no403, no403},
			func(_ *e2eWorld, u *e2eUnit, _ bool) (string, any) {
				return "/api/v1/certificates/" + u.cert + "/verifications", nil
			}, nil},
		{"POST", "/api/v1/certificates/{number}/rotate-token", [5]int{ok201, no403, no403, no403, no403},
			func(w *e2eWorld, u *e2eUnit, fresh bool) (string, any) {
				return "/api/v1/certificates/" + cert(w, u, fresh) + "/rotate-token", nil
			}, nil},
	}
}

// withHeader is a request body that is no body but headers to send.
type withHeader map[string]string

// callFor builds the call of a route's request.
func callFor(method, path, key string, body any) call {
	if h, ok := body.(withHeader); ok {
		return call{method: method, path: path, key: key, header: h}
	}
	return call{method: method, path: path, key: key, body: body}
}

// Every API route, tried by every kind of caller on the objects of unit A
// (威海市) and of unit B (济南市): the right status, a problem for every
// refusal, a 404 for another unit's object that reads exactly like the
// 404 for an object that does not exist, and nothing stored when refused.
func TestAuthorization(t *testing.T) {
	w := newWorld(t)
	doc := documentedStatuses(t)
	routes := authzRoutes()

	// Every routed API operation is in the table.
	var tabled []string
	for _, rt := range routes {
		tabled = append(tabled, rt.method+" "+rt.pattern)
	}
	for op := range doc {
		method, path, _ := strings.Cut(op, " ")
		if strings.HasPrefix(path, "/api/v1/") && path != "/api/v1/openapi.json" && path != "/api/v1/catalog" && !slices.Contains(tabled, op) {
			t.Errorf("%s %s is documented but not in the authorisation table", method, path)
		}
	}

	unknown, _ := NewAPIKey()
	for _, target := range []struct{ u, other *e2eUnit }{{w.a, w.b}, {w.b, w.a}} {
		u, other := target.u, target.other
		keyOf := [authzRoles]string{w.platform, w.reviewer[u.Jurisdiction], w.reviewer[other.Jurisdiction], u.key, other.key, "", unknown, "not-a-key"}
		for _, rt := range routes {
			for role := range authzRoles {
				want := http.StatusUnauthorized
				if role < asNoKey {
					want = rt.want[role]
				}
				name := fmt.Sprintf("%s %s as %s on %s", rt.method, rt.pattern, authzRoleNames[role], u.Name)
				t.Run(name, func(t *testing.T) {
					w := w.on(t)
					succeeds := want < 300
					path, body := rt.req(w, u, succeeds && mutating(rt.method))
					before := w.state()
					c := callFor(rt.method, path, keyOf[role], body)
					rec := w.do(c)
					if rec.Code != want {
						// Go on: a refusal that came too late must still be
						// seen to have changed things.
						t.Errorf("status %d, want %d: %s", rec.Code, want, rec.Body.String())
					}
					if !slices.Contains(doc[rt.method+" "+rt.pattern], strconv.Itoa(rec.Code)) {
						t.Errorf("status %d is not among the documented answers %v", rec.Code, doc[rt.method+" "+rt.pattern])
					}
					switch {
					case !succeeds:
						p := problemOf(t, rec)
						wantCode := map[int]registry.Code{401: CodeUnauthorized, 403: CodeForbidden, 404: registry.CodeNotFound}[want]
						if p.Code != string(wantCode) {
							t.Errorf("code %q, want %q", p.Code, wantCode)
						}
						if want == http.StatusUnauthorized && rec.Header().Get("WWW-Authenticate") == "" {
							t.Errorf("401 without WWW-Authenticate")
						}
						w.unchanged(t, before, "a refused request")
						if want == http.StatusNotFound {
							sameAsNothing(t, w, rt, c, p, ghostOf(u))
						}
					case !mutating(rt.method):
						w.unchanged(t, before, "a read")
						if strings.HasSuffix(rt.pattern, "/pdf") {
							if ct := rec.Header().Get("Content-Type"); ct != "application/pdf" || !strings.HasPrefix(rec.Body.String(), "%PDF-") {
								t.Errorf("PDF answer: Content-Type %q, body %.8q", ct, rec.Body.String())
							}
						}
					default:
						if len(changed(before, w.state())) == 0 {
							t.Errorf("succeeded but stored nothing")
						}
						if rt.after != nil {
							rt.after(w, u)
						}
					}
				})
			}
		}
	}
}

// digits stands for ids and numbers in a problem's words.
var digits = regexp.MustCompile(`[0-9]+X?`)

// sameAsNothing checks that a 404 for an object outside the caller's scope
// is word for word the 404 for an object that does not exist, so a caller
// learns nothing about other units.
func sameAsNothing(t *testing.T, w *e2eWorld, rt authzRoute, c call, got Problem, ghost *e2eUnit) {
	t.Helper()
	path, body := rt.req(w, ghost, false)
	rec := w.do(callFor(c.method, path, c.key, body))
	if rec.Code != http.StatusNotFound {
		t.Errorf("the same caller on an object that does not exist: %d %s", rec.Code, rec.Body.String())
		return
	}
	none := problemOf(t, rec)
	if got.Code != none.Code || got.Title != none.Title || digits.ReplaceAllString(got.Detail, "#") != digits.ReplaceAllString(none.Detail, "#") {
		t.Errorf("another unit's object: %q %q; an object that does not exist: %q %q", got.Code, got.Detail, none.Code, none.Detail)
	}
}

// documentedStatuses maps "METHOD path" to the statuses the OpenAPI
// document lists for it.
func documentedStatuses(t *testing.T) map[string][]string {
	t.Helper()
	var d struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDoc, &d); err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for path, item := range d.Paths {
		for _, method := range openAPIMethods {
			raw, ok := item[method]
			if !ok {
				continue
			}
			var op struct {
				Responses map[string]json.RawMessage `json:"responses"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			key := strings.ToUpper(method) + " " + path
			for status := range op.Responses {
				out[key] = append(out[key], status)
			}
		}
	}
	return out
}

// The public routes need no key, and a key, good or bad, changes nothing.
func TestPublicRoutesNeedNothing(t *testing.T) {
	w := newWorld(t)
	doc := documentedStatuses(t)
	pdf := w.must(call{method: "GET", path: "/api/v1/certificates/" + w.a.cert + "/pdf", key: w.platform}, http.StatusOK, nil).Body.Bytes()
	ocspReq := ocspRequestFor(t, w, w.a)

	unknown, _ := NewAPIKey()
	tests := []struct {
		pattern string
		c       call
		ctype   string // prefix of the answer's Content-Type
	}{
		{"GET /v/{number}", call{method: "GET", path: "/v/" + w.a.cert + "?k=" + w.a.token}, "text/html"},
		{"GET /v/{number}", call{method: "GET", path: "/v/" + w.a.cert + "?k=" + w.a.token, header: map[string]string{"Accept": "application/json"}}, "application/json"},
		{"GET /v", call{method: "GET", path: "/v?no=" + w.a.cert + "&name=" + url.QueryEscape("王晓明")}, "text/html"},
		{"POST /v/pdf", call{method: "POST", path: "/v/pdf", body: pdf, header: map[string]string{"Content-Type": "application/pdf"}}, "application/json"},
		{"GET /catalog", call{method: "GET", path: "/catalog"}, "text/html"},
		{"GET /api/v1/catalog", call{method: "GET", path: "/api/v1/catalog"}, "application/json"},
		{"GET /pki/root.crt", call{method: "GET", path: "/pki/root.crt"}, ""},
		{"GET /pki/issuing.crt", call{method: "GET", path: "/pki/issuing.crt"}, ""},
		{"GET /pki/crl", call{method: "GET", path: "/pki/crl"}, ""},
		{"POST /pki/ocsp", call{method: "POST", path: "/pki/ocsp", body: ocspReq, header: map[string]string{"Content-Type": "application/ocsp-request"}}, "application/ocsp-response"},
		{"GET /pki/ocsp/{request}", call{method: "GET", path: "/pki/ocsp/" + url.PathEscape(base64.StdEncoding.EncodeToString(ocspReq))}, "application/ocsp-response"},
		{"GET /healthz", call{method: "GET", path: "/healthz"}, "application/json"},
		{"GET /readyz", call{method: "GET", path: "/readyz"}, "application/json"},
		{"GET /metrics", call{method: "GET", path: "/metrics"}, "text/plain"},
		{"GET /api/v1/openapi.json", call{method: "GET", path: "/api/v1/openapi.json"}, "application/json"},
	}
	for _, tc := range tests {
		for _, key := range []string{"", unknown, "not-a-key"} {
			name := tc.pattern + "/no key"
			if key != "" {
				name = tc.pattern + "/key " + key[:min(len(key), 6)]
			}
			t.Run(name, func(t *testing.T) {
				w := w.on(t)
				before := w.state()
				c := tc.c
				c.key = key
				rec := w.do(c)
				if rec.Code != http.StatusOK {
					t.Fatalf("status %d: %.300s", rec.Code, rec.Body.String())
				}
				if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, tc.ctype) {
					t.Errorf("Content-Type %q, want %s", ct, tc.ctype)
				}
				if !slices.Contains(doc[tc.pattern], "200") {
					t.Errorf("200 is not documented for %s", tc.pattern)
				}
				w.unchanged(t, before, "a public request")
			})
		}
	}

	// What the answers say, once.
	var up struct {
		Indication string `json:"indication"`
	}
	w.must(call{method: "POST", path: "/v/pdf", body: pdf, header: map[string]string{"Content-Type": "application/pdf"}}, http.StatusOK, &up)
	if !strings.EqualFold(up.Indication, "passed") {
		t.Errorf("uploaded certificate PDF: indication %q", up.Indication)
	}
	rec := w.must(call{method: "POST", path: "/pki/ocsp", body: ocspReq, header: map[string]string{"Content-Type": "application/ocsp-request"}}, http.StatusOK, nil)
	resp, err := ocsp.ParseResponse(rec.Body.Bytes(), w.ca.Issuing())
	if err != nil || resp.Status != ocsp.Good {
		t.Errorf("OCSP for an active seal: %v, status %v", err, resp)
	}
}

// ocspRequestFor asks about the unit's active seal certificate.
func ocspRequestFor(t *testing.T, w *e2eWorld, u *e2eUnit) []byte {
	t.Helper()
	var pemCert string
	for _, s := range w.seals(u.ID) {
		if s.State == registry.SealActive {
			pemCert = s.CertificatePEM
		}
	}
	cert := parsePEMCert(t, pemCert)
	req, err := ocsp.CreateRequest(cert, w.ca.Issuing(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
