package api

import (
	"encoding/json"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/certseal/certseal/registry"
)

// The request and the answer have a member for every field of
// registry.AppointmentFields and none else of the appointment: the
// request takes each field as it is, the answer gives it back but the
// photo, with the ID number masked.
func TestAppointmentMembersFollowTheFieldList(t *testing.T) {
	full := registry.Appointment{UnitID: 7, Photo: []byte{0xff, 0xd8}}
	body := map[string]any{"unit_id": 7}
	for i, f := range registry.AppointmentFields {
		switch p := f.Addr(&full).(type) {
		case *registry.Date:
			*p = registry.Date{Year: 2026, Month: time.January, Day: i + 1}
			body[f.Name] = p.String()
		case *[]byte:
			body[f.Name] = *p
		default:
			v := "371002198803151237"
			if f.Name != "id_number" {
				v = "text of " + f.Name
			}
			reflect.ValueOf(p).Elem().SetString(v)
			body[f.Name] = v
		}
	}
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("POST", "/api/v1/certificates", strings.NewReader(string(b)))
	r.Header.Set("Content-Type", "application/json")
	got, err := decodeAppointment(r)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, full) {
		t.Errorf("request decoded to\n%+v, want\n%+v", got, full)
	}

	out, err := json.Marshal(certificateView(registry.Certificate{Number: "n", Appointment: full}, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	var members map[string]any
	if err := json.Unmarshal(out, &members); err != nil {
		t.Fatal(err)
	}
	for _, f := range registry.AppointmentFields {
		_, plain := members[f.Name]
		masked, hasMasked := members[f.Name+"_masked"]
		switch {
		case f.Kind == registry.FieldPhoto:
			if plain || hasMasked {
				t.Errorf("the answer carries the photo as %q", f.Name)
			}
		case f.Personal:
			if plain || !hasMasked || masked != registry.MaskIDNumber(full.IDNumber) {
				t.Errorf("%s: in the answer %v, masked %v (%v)", f.Name, plain, hasMasked, masked)
			}
		case !plain:
			t.Errorf("the answer lacks %s", f.Name)
		}
	}
	if members["unit_id"] != float64(7) || members["number"] != "n" {
		t.Errorf("answer %s", out)
	}
}
