package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/signer/batchfile"
)

// The same appointment asked again is answered with the certificate it
// has (409 for one request, the row settled for a batch). The same ID
// number, series, level and term with other particulars is a clash: it is
// refused naming what differs, and a batch never reports another holder's
// certificate as a row's.
func TestAppointmentClash(t *testing.T) {
	w := newWorld(t)
	appt := w.appointment(w.a.ID)
	first := w.issue(w.a.key, appt)
	clash := withField(appt, "name", "张伟")

	for _, tc := range []struct {
		name string
		body map[string]any
		want string // in the problem's detail
	}{
		{"the same again", appt, "already issued for this appointment"},
		{"another name", clash, "with another name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := w.do(call{method: "POST", path: "/api/v1/certificates", key: w.a.key, body: tc.body})
			if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), tc.want) || !strings.Contains(rec.Body.String(), first.Number) {
				t.Errorf("%d %s", rec.Code, rec.Body)
			}
		})
	}

	// A batch with the clashing row is refused whole, the row named.
	rec := w.do(call{method: "POST", path: fmt.Sprintf("/api/v1/certificate-batches?unit_id=%d", w.a.ID), key: w.a.key,
		body: []map[string]any{w.appointment(w.a.ID), clash}})
	var p struct {
		Errors []batchfile.RowError `json:"errors"`
	}
	json.Unmarshal(rec.Body.Bytes(), &p)
	if rec.Code != http.StatusUnprocessableEntity || len(p.Errors) != 1 || p.Errors[0].Row != 2 || p.Errors[0].Column != "id_number" ||
		!strings.Contains(p.Errors[0].Reason, first.Number) {
		t.Fatalf("batch with a clashing row: %d %s", rec.Code, rec.Body)
	}
	// The same appointment in a batch settles as issued, with its number.
	id := w.batch(w.a.key, w.a.ID, appt)
	var rows listJSON[registry.BatchRow]
	w.must(call{method: "GET", path: fmt.Sprintf("/api/v1/certificate-batches/%d/rows", id), key: w.a.key}, http.StatusOK, &rows)
	if len(rows.Items) != 1 || rows.Items[0].State != registry.RowIssued || rows.Items[0].Number != first.Number {
		t.Errorf("batch row of the same appointment: %+v", rows.Items)
	}
}

// A correction that would make a certificate another valid certificate's
// appointment is refused, naming that certificate, and changes nothing.
func TestReissueOntoAnotherCertificate(t *testing.T) {
	w := newWorld(t)
	first := w.appointment(w.a.ID)
	other := w.issue(w.a.key, first)
	second := w.appointment(w.a.ID) // another holder
	c := w.issue(w.a.key, second)
	onto := withField(second, "id_number", first["id_number"])
	rec := w.do(call{method: "POST", path: "/api/v1/certificates/" + c.Number + "/reissue", key: w.a.key, body: onto})
	if rec.Code != http.StatusConflict || !strings.Contains(rec.Body.String(), other.Number) {
		t.Fatalf("reissue onto %s's appointment: %d %s", other.Number, rec.Code, rec.Body)
	}
	var after certAnswer
	w.must(call{method: "GET", path: "/api/v1/certificates/" + c.Number, key: w.a.key}, http.StatusOK, &after)
	if after.Version != 1 || after.Status != registry.CertValid {
		t.Errorf("the refused correction changed the certificate: %+v", after)
	}
}
