package api

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/certseal/certseal/registry"
)

// The real router, built over the real dependencies, and the OpenAPI
// document name the same operations, both ways.
func TestOpenAPIMatchesRouter(t *testing.T) {
	env := newE2E(t)
	routes, ok := env.h.(chi.Routes)
	if !ok {
		t.Fatalf("New returns %T, not a chi router", env.h)
	}
	if err := CheckOpenAPI(routes); err != nil {
		t.Errorf("router and openapi.json differ:\n%v", err)
	}
}

func TestOpenAPIServed(t *testing.T) {
	env := newE2E(t)
	rec := env.must(call{method: "GET", path: "/api/v1/openapi.json"}, http.StatusOK, nil)
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatalf("served document does not parse: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	for _, p := range []string{"/api/v1/units", "/api/v1/certificates", "/v/{number}", "/api/v1/openapi.json"} {
		if _, ok := doc.Paths[p]; !ok {
			t.Errorf("served document lacks %s", p)
		}
	}
}

// Approving a change makes the next seal version active and the previous
// one superseded, in one transaction: when the new version cannot be made,
// the old one stays active and nothing is stored.
func TestApproveChangeSupersedesInOneTransaction(t *testing.T) {
	w := newWorld(t)
	before := w.seals(w.a.ID)
	if len(before) != 1 || before[0].State != registry.SealActive || before[0].Version != 1 {
		t.Fatalf("seals before: %+v", before)
	}
	review := call{method: "POST", path: fmt.Sprintf("/api/v1/seal-applications/%d/review", w.a.pendingApp),
		key: w.reviewer[weihai], body: map[string]any{"decision": "approve", "opinion": "同意变更"}}

	w.keys.fail.Store(true)
	st := w.state()
	rec := w.do(review)
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("approval with key generation failing: %d %s", rec.Code, rec.Body.String())
	}
	problemOf(t, rec)
	w.unchanged(t, st, "an approval that failed half-way")
	if got := w.seals(w.a.ID); len(got) != 1 || got[0].State != registry.SealActive {
		t.Errorf("after a failed approval the seals are %+v; want version 1 still active", got)
	}

	w.keys.fail.Store(false)
	var app struct {
		State  registry.ApplicationState `json:"state"`
		SealID int64                     `json:"seal_id"`
	}
	w.must(review, http.StatusOK, &app)
	if app.State != registry.ApplicationApproved {
		t.Errorf("application state %q", app.State)
	}
	after := w.seals(w.a.ID)
	if len(after) != 2 {
		t.Fatalf("seals after the change: %+v", after)
	}
	old, cur := after[0], after[1]
	if old.ID != before[0].ID || old.State != registry.SealSuperseded || old.Reason != registry.ReasonSuperseded || old.RevokedAt == nil {
		t.Errorf("old version: %+v; want superseded", old)
	}
	if cur.Version != 2 || cur.State != registry.SealActive || cur.ID != app.SealID || cur.CertificatePEM == "" {
		t.Errorf("new version: %+v; want version 2 active, made by the application", cur)
	}
	if !old.RevokedAt.Equal(cur.CreatedAt) {
		t.Errorf("superseded at %v, new version made at %v: not one step", old.RevokedAt, cur.CreatedAt)
	}
	// Certificates are signed with the new version now.
	c := w.issue(w.a.key, w.appointment(w.a.ID))
	var got certificateJSON
	w.must(call{method: "GET", path: "/api/v1/certificates/" + c.Number, key: w.a.key}, http.StatusOK, &got)
	if got.SealVersion != 2 {
		t.Errorf("certificate signed with seal version %d after the change", got.SealVersion)
	}
	// The application cannot be decided twice.
	wantProblem(t, w.do(review), http.StatusConflict, registry.CodeIllegalTransition, "")
}

// A unit revokes its own seal at once; nothing is signed with it any more,
// standard validators see it in the CRL, and what it signed before stays
// verifiable.
func TestUnitRevokesOwnSeal(t *testing.T) {
	w := newWorld(t)
	seal := w.activeSeal(w.a)
	revoke := call{method: "POST", path: fmt.Sprintf("/api/v1/seals/%d/revoke", seal), key: w.a.key,
		body: map[string]any{"reason": "cessationOfOperation"}}
	var got sealJSON
	w.must(revoke, http.StatusOK, &got)
	if got.State != registry.SealRevoked || got.Reason != registry.ReasonCessationOfOperation || got.RevokedAt == nil {
		t.Errorf("revoked seal: %+v", got)
	}
	if s := w.seals(w.a.ID); len(s) != 1 || s[0].State != registry.SealRevoked {
		t.Errorf("seals after revocation: %+v", s)
	}

	st := w.state()
	wantProblem(t, w.do(call{method: "POST", path: "/api/v1/certificates", key: w.a.key, body: w.appointment(w.a.ID)}),
		http.StatusConflict, registry.CodeSealNotActive, "")
	wantProblem(t, w.do(call{method: "POST", path: "/api/v1/certificates/" + w.a.cert + "/reissue", key: w.a.key,
		body: withField(w.appointment(w.a.ID), "post", "教授")}), http.StatusConflict, registry.CodeSealNotActive, "")
	// A batch is refused whole, before anything is stored, rather than
	// accepted for every row to fail.
	wantProblem(t, w.do(call{method: "POST", path: fmt.Sprintf("/api/v1/certificate-batches?unit_id=%d", w.a.ID), key: w.a.key,
		body: []map[string]any{w.appointment(w.a.ID)}}), http.StatusConflict, registry.CodeSealNotActive, "")
	w.unchanged(t, st, "issuing, reissuing and a batch with a revoked seal")
	wantProblem(t, w.do(revoke), http.StatusConflict, registry.CodeIllegalTransition, "")

	// The CRL lists it.
	crlRec := w.must(call{method: "GET", path: "/pki/crl"}, http.StatusOK, nil)
	crl, err := x509.ParseRevocationList(crlRec.Body.Bytes())
	if err != nil {
		t.Fatalf("CRL: %v", err)
	}
	if !slices.ContainsFunc(crl.RevokedCertificateEntries, func(e x509.RevocationListEntry) bool {
		return e.SerialNumber.Text(16) == got.Serial
	}) {
		t.Errorf("CRL does not list revoked seal serial %s", got.Serial)
	}

	// The certificate it signed before stays valid, and says so.
	var page struct {
		Status    registry.CertState `json:"status"`
		SealState registry.SealState `json:"seal_state"`
	}
	w.must(call{method: "GET", path: "/v/" + w.a.cert + "?k=" + w.a.token, header: map[string]string{"Accept": "application/json"}}, http.StatusOK, &page)
	if page.Status != registry.CertValid || page.SealState != registry.SealRevoked {
		t.Errorf("verification of a certificate signed before the revocation: %+v", page)
	}

	// A new seal (a new application, approved) signs again.
	w.sealApproved(w.a, registry.KindNew)
	w.issue(w.a.key, w.appointment(w.a.ID))

	// Another unit's seal is not the unit's to revoke.
	st = w.state()
	wantProblem(t, w.do(call{method: "POST", path: fmt.Sprintf("/api/v1/seals/%d/revoke", w.activeSeal(w.b)), key: w.a.key,
		body: map[string]any{"reason": "keyCompromise", "invalidity_date": e2eStart.Format(time.RFC3339)}}), http.StatusNotFound, registry.CodeNotFound, "")
	w.unchanged(t, st, "revoking another unit's seal")
}

func TestWithdraw(t *testing.T) {
	w := newWorld(t)
	for _, tc := range []struct {
		name, path, review string
		want               string
	}{
		{"seal application", fmt.Sprintf("/api/v1/seal-applications/%d", w.a.pendingApp), fmt.Sprintf("/api/v1/seal-applications/%d/review", w.a.pendingApp), string(registry.ApplicationWithdrawn)},
		{"filing", fmt.Sprintf("/api/v1/filings/%d", w.a.pendingFiling), fmt.Sprintf("/api/v1/filings/%d/review", w.a.pendingFiling), string(registry.FilingWithdrawn)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := w.on(t)
			var got idAnswer
			w.must(call{method: "POST", path: tc.path + "/withdraw", key: w.a.key}, http.StatusOK, &got)
			if got.State != tc.want {
				t.Errorf("state %q after withdrawal", got.State)
			}
			w.must(call{method: "GET", path: tc.path, key: w.a.key}, http.StatusOK, &got)
			if got.State != tc.want {
				t.Errorf("stored state %q after withdrawal", got.State)
			}
			st := w.state()
			wantProblem(t, w.do(call{method: "POST", path: tc.path + "/withdraw", key: w.a.key}), http.StatusConflict, registry.CodeIllegalTransition, "")
			wantProblem(t, w.do(call{method: "POST", path: tc.review, key: w.reviewer[weihai], body: map[string]any{"decision": "approve", "opinion": "同意"}}),
				http.StatusConflict, registry.CodeIllegalTransition, "")
			w.unchanged(t, st, "withdrawing twice and reviewing a withdrawn "+tc.name)
		})
	}
	// The withdrawn change application did not touch the seal.
	if s := w.seals(w.a.ID); len(s) != 1 || s[0].State != registry.SealActive {
		t.Errorf("seals after withdrawing a change: %+v", s)
	}
}

func (w *e2eWorld) catalog(query string) []catalogEntry {
	w.t.Helper()
	var l listJSON[catalogEntry]
	w.must(call{method: "GET", path: "/api/v1/catalog" + query}, http.StatusOK, &l)
	return l.Items
}

// The catalog lists the filings in force, with unit, series, specialty,
// office, contact and last day; a filing drops off the day after its three
// years, and then certificates of that series are refused.
func TestCatalog(t *testing.T) {
	w := newWorld(t)
	// A rejected and a withdrawn filing are not in force either.
	w.rejectAndWithdraw(w.a)
	// B files a specialty.
	spec := filingBody("卫生")
	spec["specialty"], spec["office"], spec["contact"] = "护理", "组织人事部", "王五 0531-8888888"
	var f idAnswer
	w.must(call{method: "POST", path: fmt.Sprintf("/api/v1/units/%d/filings", w.b.ID), key: w.b.key, body: spec}, http.StatusCreated, &f)
	// Approved a year later than the others: it outlives them.
	w.clock.Set(e2eStart.AddDate(1, 0, 0))
	w.must(call{method: "POST", path: fmt.Sprintf("/api/v1/filings/%d/review", f.ID), key: w.reviewer[jinan],
		body: map[string]any{"decision": "approve", "opinion": "同意"}}, http.StatusOK, nil)

	start := registry.Today(e2eStart)
	until := start.AddDate(3, 0, -1)
	later := registry.Today(e2eStart.AddDate(1, 0, 0))
	want := []catalogEntry{
		{Unit: "威海示范大学", UnitID: w.a.ID, Jurisdiction: weihai, Series: seriesHE, Office: "人事处", Contact: "李四 0631-5190828", ValidFrom: start, ValidUntil: until},
		{Unit: "济南示范学院", UnitID: w.b.ID, Jurisdiction: jinan, Series: seriesHE, Office: "人事处", Contact: "李四 0631-5190828", ValidFrom: start, ValidUntil: until},
		{Unit: "济南示范学院", UnitID: w.b.ID, Jurisdiction: jinan, Series: "卫生", Specialty: "护理", Office: "组织人事部", Contact: "王五 0531-8888888", ValidFrom: later, ValidUntil: later.AddDate(3, 0, -1)},
	}
	if got := w.catalog(""); !slices.Equal(got, want) {
		t.Errorf("catalog:\n%+v\nwant\n%+v", got, want)
	}
	if got := w.catalog("?jurisdiction=" + jinan); !slices.Equal(got, want[1:]) {
		t.Errorf("catalog of 济南市:\n%+v\nwant\n%+v", got, want[1:])
	}
	if got := w.catalog("?series=" + seriesHE); !slices.Equal(got, want[:2]) {
		t.Errorf("catalog of 高校教师:\n%+v\nwant\n%+v", got, want[:2])
	}
	if got := w.catalog("?jurisdiction=" + weihai + "&series=卫生"); len(got) != 0 {
		t.Errorf("catalog of 威海市 卫生: %+v", got)
	}
	// Paging: one at a time, following next_after.
	var paged []catalogEntry
	q := "?limit=1"
	for range 5 {
		var l listJSON[catalogEntry]
		w.must(call{method: "GET", path: "/api/v1/catalog" + q}, http.StatusOK, &l)
		paged = append(paged, l.Items...)
		if l.Next == nil {
			break
		}
		q = fmt.Sprintf("?limit=1&after=%d", *l.Next)
	}
	if !slices.Equal(paged, want) {
		t.Errorf("catalog page by page:\n%+v\nwant\n%+v", paged, want)
	}
	html := w.must(call{method: "GET", path: "/catalog"}, http.StatusOK, nil)
	// Each filing's validity, from and until; the way back to the lookup;
	// a layout for a phone's width.
	for _, s := range []string{"威海示范大学", "济南示范学院", "组织人事部", "王五 0531-8888888", "护理", until.String(),
		`<span class="nw">` + start.String() + `</span> 至 <span class="nw">` + until.String() + `</span>`,
		`href="/v"`, `name="viewport"`, "@media (max-width:"} {
		if !strings.Contains(html.Body.String(), s) {
			t.Errorf("/catalog lacks %q", s)
		}
	}
	for _, s := range []string{"工程", "图书资料"} {
		if strings.Contains(html.Body.String(), s) {
			t.Errorf("/catalog shows %q, a filing not in force", s)
		}
	}

	// The last day of the three years: still in force.
	w.clock.Set(until.Time().Add(23 * time.Hour))
	if got := w.catalog(""); !slices.Equal(got, want) {
		t.Errorf("catalog on the last day:\n%+v\nwant\n%+v", got, want)
	}
	// The day after: A's and B's 高校教师 filings have dropped off.
	w.clock.Set(until.AddDate(0, 0, 1).Time().Add(time.Minute))
	if got := w.catalog(""); !slices.Equal(got, want[2:]) {
		t.Errorf("catalog the day after three years:\n%+v\nwant\n%+v", got, want[2:])
	}
	if body := w.must(call{method: "GET", path: "/catalog"}, http.StatusOK, nil).Body.String(); strings.Contains(body, "威海示范大学") {
		t.Errorf("/catalog still shows an expired filing")
	}
	var got idAnswer
	w.must(call{method: "GET", path: fmt.Sprintf("/api/v1/filings/%d", w.a.filing), key: w.a.key}, http.StatusOK, &got)
	if got.State != string(registry.FilingExpired) {
		t.Errorf("filing past its three years is %q, want expired", got.State)
	}
	st := w.state()
	appt := w.appointment(w.a.ID)
	appt["term_from"], appt["term_to"], appt["appointed_on"] = "2029-01-01", "2031-12-31", "2029-01-01"
	wantProblem(t, w.do(call{method: "POST", path: "/api/v1/certificates", key: w.a.key, body: appt}),
		http.StatusUnprocessableEntity, registry.CodeFilingNotInForce, "series")
	w.unchanged(t, st, "issuing under an expired filing")
}
