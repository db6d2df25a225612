package api

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/certseal/certseal/registry"
)

type integrityList struct {
	Items []registry.IntegrityRecord `json:"items"`
}

// Revoking for forgery, tampering or abuse needs evidence and writes the
// integrity record; reviewers see their jurisdiction's, units none.
func TestIntegrityRecordFromRevocation(t *testing.T) {
	w := newWorld(t)
	path := "/api/v1/certificates/" + w.a.cert + "/revoke"
	before := w.state()
	rec := w.do(call{method: "POST", path: path, key: w.a.key, body: map[string]any{"reason": "学历造假", "category": "forgery"}})
	wantProblem(t, rec, http.StatusUnprocessableEntity, registry.CodeInvalid, "evidence")
	w.unchanged(t, before, "revocation without evidence")

	w.must(call{method: "POST", path: path, key: w.a.key, body: map[string]any{"reason": "学历造假", "category": "forgery",
		"evidence": "毕业证书编号查无此人（核查函 2026-05）"}}, http.StatusOK, nil)
	var list integrityList
	w.must(call{method: "GET", path: "/api/v1/integrity-records", key: w.reviewer[weihai]}, http.StatusOK, &list)
	if len(list.Items) != 1 || list.Items[0].Number != w.a.cert || list.Items[0].Source != registry.FromRevocation ||
		list.Items[0].Category != registry.RevokeForgery || !strings.Contains(list.Items[0].Evidence, "核查函") || list.Items[0].HolderName == "" {
		t.Fatalf("reviewer of the unit's city sees %+v", list.Items)
	}
	w.must(call{method: "GET", path: "/api/v1/integrity-records", key: w.reviewer[jinan]}, http.StatusOK, &list)
	if len(list.Items) != 0 {
		t.Fatalf("another city's reviewer sees %+v", list.Items)
	}
	// A revocation for an error is no integrity matter.
	w.must(call{method: "POST", path: "/api/v1/certificates/" + w.b.cert + "/revoke", key: w.b.key,
		body: map[string]any{"reason": "误发", "category": "error"}}, http.StatusOK, nil)
	w.must(call{method: "GET", path: "/api/v1/integrity-records", key: w.platform}, http.StatusOK, &list)
	if len(list.Items) != 1 {
		t.Fatalf("platform sees %d records, want 1", len(list.Items))
	}
}

// A PDF presented as certificate N that is not a registered version of N
// is a suspected forgery in N's record; the genuine file is not, nor is
// what is no PDF at all. A file is noted once, and a number gets at most
// suspectedForgeriesPerDay notes a day: the route is public.
func TestIntegrityRecordFromUpload(t *testing.T) {
	w := newWorld(t)
	pdf := w.must(call{method: "GET", path: "/api/v1/certificates/" + w.a.cert + "/pdf", key: w.a.key}, http.StatusOK, nil).Body.Bytes()
	upload := func(no string, body []byte) {
		w.must(call{method: "POST", path: "/v/pdf?no=" + no, body: body, header: map[string]string{"Content-Type": "application/pdf"}}, http.StatusOK, nil)
	}
	// records waits for the notes written after the answers.
	records := func(want int) []registry.IntegrityRecord {
		t.Helper()
		var list integrityList
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			w.must(call{method: "GET", path: "/api/v1/integrity-records", key: w.platform}, http.StatusOK, &list)
			if len(list.Items) >= want || time.Now().After(deadline) {
				break
			}
		}
		if len(list.Items) != want {
			t.Fatalf("%d records, want %d: %+v", len(list.Items), want, list.Items)
		}
		return list.Items
	}
	upload(w.a.cert, pdf) // genuine
	for _, notPDF := range []string{"", "hello", "<html>certificate</html>"} {
		upload(w.a.cert, []byte(notPDF))
	}
	upload(w.b.cert, pdf) // A's file presented as B's certificate: the first note
	got := records(1)
	tampered := bytes.Replace(pdf, []byte("/Producer"), []byte("/Prodvcer"), 1)
	upload(w.a.cert, tampered)
	got = records(2)
	for i, want := range []string{w.b.cert, w.a.cert} {
		r := got[i]
		if r.Number != want || r.Source != registry.FromUpload || r.Actor != "public upload" || !strings.Contains(r.Evidence, "suspected forgery, not verified") {
			t.Errorf("record %d: %+v", i, r)
		}
	}
	upload(w.a.cert, tampered) // the same file again
	for i := range suspectedForgeriesPerDay + 2 {
		upload(w.a.cert, bytes.Replace(pdf, []byte("/Producer"), []byte(fmt.Sprintf("/Prod%04d", i)), 1))
	}
	got = records(1 + suspectedForgeriesPerDay)
	time.Sleep(50 * time.Millisecond) // any note beyond the bound would be written by now
	records(1 + suspectedForgeriesPerDay)
	w.clock.Set(w.clock.Now().Add(24 * time.Hour)) // a new day
	upload(w.a.cert, bytes.Replace(pdf, []byte("/Producer"), []byte("/ProdNext"), 1))
	records(2 + suspectedForgeriesPerDay)
}

func TestReports(t *testing.T) {
	w := newWorld(t)
	w.must(call{method: "POST", path: "/api/v1/certificates/" + w.a.cert + "/revoke", key: w.a.key,
		body: map[string]any{"reason": "伪造", "category": "forgery", "evidence": "核查"}}, http.StatusOK, nil)

	// Submitted Monday 2026-06-01. Appointed Friday May 8: the 15 working
	// days are May 9 (a make-up Saturday), 11-15, 18-22 and 25-29 less one,
	// so due May 28 and 2 over. The appraisal ended Wednesday May 20: due
	// May 27, filed May 29, 2 over. The filing was approved June 1: backfill.
	appt := w.appointment(w.a.ID)
	appt["appointed_on"], appt["appraisal_ended_on"], appt["result_filed_on"] = "2026-05-08", "2026-05-20", "2026-05-29"
	var late certificateJSON
	w.must(call{method: "POST", path: "/api/v1/certificates", key: w.a.key, body: appt}, http.StatusCreated, &late)
	if late.SubmittedOn.String() != "2026-06-01" || late.InfoLateWorkdays != 2 || late.ResultLateWorkdays != 2 || !late.Backfill {
		t.Fatalf("late certificate: submitted %v, info %d, result %d, backfill %v", late.SubmittedOn, late.InfoLateWorkdays, late.ResultLateWorkdays, late.Backfill)
	}

	var rep Report
	w.must(call{method: "GET", path: "/api/v1/reports", key: w.reviewer[weihai]}, http.StatusOK, &rep)
	if rep.Jurisdiction != weihai || len(rep.Issued) == 0 || len(rep.Filings) == 0 {
		t.Fatalf("reviewer report: %+v", rep)
	}
	for _, l := range rep.Issued {
		if l.Unit != w.a.Name || l.Month != "2026-06" {
			t.Errorf("issued line outside the reviewer's city or month: %+v", l)
		}
	}
	if len(rep.Revocations) != 1 || rep.Revocations[0].Category != registry.RevokeForgery || rep.Revocations[0].Count != 1 {
		t.Errorf("revocations: %+v", rep.Revocations)
	}
	var lateLines []string
	for _, l := range rep.Late {
		if l.Number == late.Number {
			lateLines = append(lateLines, fmt.Sprintf("%s %s %s %d", l.Deadline, l.From, l.Done, l.WorkdaysOver))
		}
	}
	if want := "information 2026-05-08 2026-06-01 2,result_filing 2026-05-20 2026-05-29 2"; strings.Join(lateLines, ",") != want {
		t.Errorf("late lines of %s: %q, want %q", late.Number, lateLines, want)
	}
	// A reviewer cannot widen its scope; a unit sees only itself.
	w.must(call{method: "GET", path: "/api/v1/reports?jurisdiction=" + jinan, key: w.reviewer[weihai]}, http.StatusNotFound, nil)
	w.must(call{method: "GET", path: "/api/v1/reports", key: w.b.key}, http.StatusOK, &rep)
	if rep.UnitID != w.b.ID || len(rep.Revocations) != 0 {
		t.Errorf("unit B's report: %+v", rep)
	}

	rec := w.must(call{method: "GET", path: "/api/v1/reports?format=csv&table=revocations", key: w.platform}, http.StatusOK, nil)
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(rec.Body.String(), "\ufeff"))).ReadAll()
	if err != nil || len(rows) != 2 || rows[1][0] != w.a.Name || rows[1][1] != "forgery" || rows[1][2] != "1" {
		t.Fatalf("CSV: %v %v", rows, err)
	}
	rec = w.must(call{method: "GET", path: "/api/v1/reports?format=xlsx", key: w.platform}, http.StatusOK, nil)
	f, err := excelize.OpenReader(bytes.NewReader(rec.Body.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.GetSheetList(); strings.Join(got, ",") != "issued,late,revocations,filings" {
		t.Errorf("sheets %v", got)
	}
	if v, _ := f.GetCellValue("filings", "A2"); v == "" {
		t.Error("no filing in the XLSX")
	}
	w.must(call{method: "GET", path: "/api/v1/reports?format=pdf", key: w.platform}, http.StatusUnprocessableEntity, nil)
}

// Filings ending within 90 days are listed for renewal; the filing day
// of each year is the end of April.
func TestExpiringFilings(t *testing.T) {
	w := newWorld(t)
	var out struct {
		Items []FilingStateLine `json:"items"`
		Due   registry.Date     `json:"next_filing_due"`
	}
	w.must(call{method: "GET", path: "/api/v1/filings/expiring", key: w.a.key}, http.StatusOK, &out)
	if len(out.Items) != 0 || out.Due.String() != "2027-04-30" {
		t.Fatalf("fresh filings: %+v", out)
	}
	// Three years less 60 days after approval.
	w.clock.Set(e2eStart.AddDate(3, 0, -60))
	w.must(call{method: "GET", path: "/api/v1/filings/expiring", key: w.reviewer[weihai]}, http.StatusOK, &out)
	if len(out.Items) != 1 || out.Items[0].Unit != w.a.Name || !out.Items[0].Expiring {
		t.Fatalf("near the end: %+v", out)
	}
	if out.Due.String() != "2029-04-30" {
		t.Errorf("next filing due %s", out.Due)
	}
}

// A correction is not another issuance: the monthly count stays.
func TestReportCountsIssuancesNotVersions(t *testing.T) {
	w := newWorld(t)
	total := func() (n int) {
		var rep Report
		w.must(call{method: "GET", path: fmt.Sprintf("/api/v1/reports?unit_id=%d", w.a.ID), key: w.platform}, http.StatusOK, &rep)
		for _, l := range rep.Issued {
			n += l.Issued
		}
		return n
	}
	appt := w.appointment(w.a.ID)
	c := w.issue(w.a.key, appt)
	before := total()
	w.must(call{method: "POST", path: "/api/v1/certificates/" + c.Number + "/reissue", key: w.a.key, body: withField(appt, "post", "教授")},
		http.StatusCreated, nil)
	if after := total(); after != before || before == 0 {
		t.Errorf("issued %d before the correction, %d after", before, after)
	}
}
