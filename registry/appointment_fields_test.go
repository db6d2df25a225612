package registry

import (
	"reflect"
	"strings"
	"testing"
)

// notSubmitted are the Appointment fields a unit does not type in: the
// unit comes from the request's scope, the rest is counted on issue.
var notSubmitted = map[string]bool{"UnitID": true, "Backfill": true, "SubmittedOn": true, "InfoLateWorkdays": true,
	"ResultLateWorkdays": true, "LatenessUnchecked": true}

// AppointmentFields names every field of Appointment a unit submits, once,
// under its JSON name, with the kind its type has; a field added to
// Appointment and not to the list (or not to notSubmitted) fails here.
func TestAppointmentFieldsCoverAppointment(t *testing.T) {
	var a Appointment
	base := reflect.ValueOf(&a).Elem()
	byAddr := map[uintptr]AppointmentField{}
	names, headers := map[string]bool{}, map[string]bool{}
	for _, f := range AppointmentFields {
		p := reflect.ValueOf(f.Addr(&a))
		if names[f.Name] || headers[f.Header] || f.Header == "" {
			t.Errorf("%s (%s): name or header twice, or no header", f.Name, f.Header)
		}
		names[f.Name], headers[f.Header] = true, true
		byAddr[p.Pointer()] = f
	}
	for i := range base.NumField() {
		sf := base.Type().Field(i)
		f, listed := byAddr[base.Field(i).Addr().Pointer()]
		switch {
		case listed == notSubmitted[sf.Name]:
			t.Errorf("Appointment.%s: in AppointmentFields %v, among the fields not submitted %v", sf.Name, listed, notSubmitted[sf.Name])
			continue
		case !listed:
			continue
		}
		if tag, _, _ := strings.Cut(sf.Tag.Get("json"), ","); tag != f.Name && tag != "-" {
			t.Errorf("Appointment.%s: JSON name %q, listed as %q", sf.Name, tag, f.Name)
		}
		want := FieldText
		switch sf.Type {
		case reflect.TypeFor[Date]():
			want = FieldDate
		case reflect.TypeFor[[]byte]():
			want = FieldPhoto
		}
		if f.Kind != want || (f.Kind == FieldText && sf.Type.Kind() != reflect.String) {
			t.Errorf("Appointment.%s (%s): kind %d, want %d", sf.Name, sf.Type, f.Kind, want)
		}
	}
}
