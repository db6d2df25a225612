package api

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/certseal/certseal/registry"
)

type cursorList[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next"`
}

// all follows a listing's cursor to its end, a page of limit at a time.
func all[T any](t *testing.T, w *e2eWorld, c call, limit int) []T {
	t.Helper()
	var out []T
	sep := "?"
	if strings.Contains(c.path, "?") {
		sep = "&"
	}
	base := c.path + sep + fmt.Sprintf("limit=%d", limit)
	c.path = base
	for range 100 {
		var page cursorList[T]
		w.must(c, http.StatusOK, &page)
		if len(page.Items) > limit {
			t.Fatalf("%s: %d items on a page of %d", c.path, len(page.Items), limit)
		}
		out = append(out, page.Items...)
		if page.Next == "" {
			return out
		}
		c.path = base + "&cursor=" + url.QueryEscape(page.Next)
	}
	t.Fatal("the cursor never ends")
	return nil
}

func TestListUnits(t *testing.T) {
	w := newWorld(t)
	c := w.newUnit("威海第二学院", weihai)
	ids := func(units []registry.Unit) []int64 {
		var out []int64
		for _, u := range units {
			out = append(out, u.ID)
		}
		return out
	}
	tests := []struct {
		name, key, query string
		want             []int64
	}{
		{"platform", w.platform, "", []int64{w.a.ID, w.b.ID, c.ID}},
		{"platform by jurisdiction", w.platform, "?jurisdiction=" + url.QueryEscape(weihai), []int64{w.a.ID, c.ID}},
		{"reviewer", w.reviewer[weihai], "", []int64{w.a.ID, c.ID}},
		{"reviewer asking for another jurisdiction", w.reviewer[weihai], "?jurisdiction=" + url.QueryEscape(jinan), nil},
		{"unit", w.b.key, "", []int64{w.b.ID}},
	}
	for _, tc := range tests {
		for _, limit := range []int{1, 2, 100} {
			got := all[registry.Unit](t, w, call{method: "GET", path: "/api/v1/units" + tc.query, key: tc.key}, limit)
			if !slices.Equal(ids(got), tc.want) {
				t.Errorf("%s, pages of %d: units %v, want %v", tc.name, limit, ids(got), tc.want)
			}
		}
	}
	for q, field := range map[string]string{"?limit=0": "limit", "?limit=1001": "limit", "?cursor=nonsense": "cursor", "?cursor=" + cursorOf(1) + "x": "cursor"} {
		wantProblem(t, w.do(call{method: "GET", path: "/api/v1/units" + q, key: w.platform}), 422, registry.CodeInvalid, field)
	}
}

func TestListCertificates(t *testing.T) {
	w := newWorld(t)
	// Unit A: its standing certificate and one in its batch (newWorld),
	// one of 卫生 at 中级 for the holder of its standing one, one revoked,
	// one reissued.
	w.fileApproved(w.a, seriesHealth)
	health := w.issue(w.a.key, withField(withField(withField(w.appointment(w.a.ID), "series", seriesHealth), "level", "中级"), "id_number", w.a.holder))
	revoked := w.issue(w.a.key, w.appointment(w.a.ID))
	w.must(call{method: "POST", path: "/api/v1/certificates/" + revoked.Number + "/revoke", key: w.a.key, body: map[string]any{"reason": "误发"}}, http.StatusOK, nil)
	reissued := w.issue(w.a.key, w.appointment(w.a.ID))
	w.must(call{method: "POST", path: "/api/v1/certificates/" + reissued.Number + "/reissue", key: w.a.key, body: withField(w.appointment(w.a.ID), "post", "教授")}, http.StatusCreated, nil)
	batchCert := w.a.batchCert(w)

	type item struct {
		Number         string             `json:"number"`
		Version        int                `json:"version"`
		Status         registry.CertState `json:"status"`
		UnitID         int64              `json:"unit_id"`
		IDNumberMasked string             `json:"id_number_masked"`
	}
	numbers := func(items []item) []string {
		var out []string
		for _, it := range items {
			out = append(out, fmt.Sprintf("%s/%d", it.Number, it.Version))
		}
		return out
	}
	v := func(n string, version int) string { return fmt.Sprintf("%s/%d", n, version) }
	today := registry.Today(w.clock.Now()).String()
	tests := []struct {
		name, key, query string
		holder           string
		want             []string
	}{
		{"platform, unit A", w.platform, fmt.Sprintf("?unit_id=%d", w.a.ID), "",
			[]string{v(w.a.cert, 1), v(batchCert, 1), v(health.Number, 1), v(revoked.Number, 1), v(reissued.Number, 2)}},
		{"unit A, itself", w.a.key, "", "", []string{v(w.a.cert, 1), v(batchCert, 1), v(health.Number, 1), v(revoked.Number, 1), v(reissued.Number, 2)}},
		{"series", w.a.key, "?series=" + url.QueryEscape(seriesHealth), "", []string{v(health.Number, 1)}},
		{"level", w.platform, "?level=" + url.QueryEscape("中级"), "", []string{v(health.Number, 1)}},
		{"revoked", w.a.key, "?status=revoked", "", []string{v(revoked.Number, 1)}},
		{"superseded versions", w.a.key, "?status=superseded", "", []string{v(reissued.Number, 1)}},
		{"valid", w.a.key, "?status=valid", "", []string{v(w.a.cert, 1), v(batchCert, 1), v(health.Number, 1), v(reissued.Number, 2)}},
		{"batch", w.a.key, fmt.Sprintf("?batch_id=%d", w.a.batch), "", []string{v(batchCert, 1)}},
		{"issued today", w.platform, fmt.Sprintf("?unit_id=%d&issued_from=%s&issued_to=%s", w.b.ID, today, today), "",
			[]string{v(w.b.cert, 1), v(w.b.batchCert(w), 1)}},
		{"issued before today", w.platform, "?issued_to=" + registry.Today(w.clock.Now()).AddDate(0, 0, -1).String(), "", nil},
		{"holder", w.platform, "", w.a.holder, []string{v(w.a.cert, 1), v(health.Number, 1)}},
		{"holder, lower-case", w.a.key, "", strings.ToLower(w.a.holder), []string{v(w.a.cert, 1), v(health.Number, 1)}},
		{"holder of another unit", w.a.key, "", w.b.holder, nil},
	}
	for _, tc := range tests {
		for _, limit := range []int{2, 1000} {
			c := call{method: "GET", path: "/api/v1/certificates" + tc.query, key: tc.key}
			if tc.holder != "" {
				c.header = map[string]string{HolderIDHeader: tc.holder}
			}
			got := all[item](t, w, c, limit)
			if !slices.Equal(numbers(got), tc.want) {
				t.Errorf("%s, pages of %d: %v, want %v", tc.name, limit, numbers(got), tc.want)
			}
			for _, it := range got {
				if !strings.Contains(it.IDNumberMasked, "****") || (tc.key == w.a.key && it.UnitID != w.a.ID) {
					t.Errorf("%s: %+v", tc.name, it)
				}
			}
		}
	}

	// A unit sees only its own; bad filters say which.
	wantProblem(t, w.do(call{method: "GET", path: fmt.Sprintf("/api/v1/certificates?unit_id=%d", w.b.ID), key: w.a.key}), 404, registry.CodeNotFound, "")
	for q, field := range map[string]string{"?status=lost": "status", "?level=x": "level", "?issued_from=2026-13-01": "issued_from",
		"?batch_id=-1": "batch_id", "?limit=5000": "limit"} {
		wantProblem(t, w.do(call{method: "GET", path: "/api/v1/certificates" + q, key: w.platform}), 422, registry.CodeInvalid, field)
	}
	rec := w.do(call{method: "GET", path: "/api/v1/certificates", key: w.platform, header: map[string]string{HolderIDHeader: "12345"}})
	if p := wantProblem(t, rec, 422, registry.CodeInvalid, HolderIDHeader); strings.Contains(p.Detail, "12345") {
		t.Errorf("the problem repeats the ID number: %q", p.Detail)
	}
}

// batchCert is the certificate of the unit's standing batch.
func (u *e2eUnit) batchCert(w *e2eWorld) string {
	var rows listJSON[registry.BatchRow]
	w.must(call{method: "GET", path: fmt.Sprintf("/api/v1/certificate-batches/%d/rows", u.batch), key: u.key}, http.StatusOK, &rows)
	return rows.Items[0].Number
}
