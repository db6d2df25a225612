package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"strconv"

	"github.com/certseal/certseal/registry"
)

// An appointment's members in the API's requests and answers are derived
// from registry.AppointmentFields, the one list of an appointment's fields
// (the batch file's columns come from it too): adding a field there adds
// it to the request and the answer.

// appointmentRequest is the request's type: unit_id, then one member per
// field, of the field's own Go type. It is a struct so that DecodeJSON's
// checks (unknown members, the member of a bad value) apply as to any body.
var appointmentRequest = func() reflect.Type {
	fields := []reflect.StructField{{Name: "UnitID", Type: reflect.TypeFor[int64](), Tag: `json:"unit_id"`}}
	var a registry.Appointment
	for i, f := range registry.AppointmentFields {
		fields = append(fields, reflect.StructField{Name: "F" + strconv.Itoa(i), Type: reflect.TypeOf(f.Addr(&a)).Elem(),
			Tag: reflect.StructTag(`json:"` + f.Name + `"`)})
	}
	return reflect.StructOf(fields)
}()

// decodeAppointment reads one appointment as the platform or a unit sends
// it (DESIGN.md §8, POST /api/v1/certificates): the photo as base64, the
// deadline days optional.
func decodeAppointment(r *http.Request) (registry.Appointment, error) {
	v := reflect.New(appointmentRequest)
	if err := DecodeJSON(r, v.Interface()); err != nil {
		return registry.Appointment{}, err
	}
	a := registry.Appointment{UnitID: v.Elem().Field(0).Int()}
	for i, f := range registry.AppointmentFields {
		reflect.ValueOf(f.Addr(&a)).Elem().Set(v.Elem().Field(i + 1))
	}
	return a, nil
}

// appointmentAnswer is an appointment's members of an answer: every field
// but the photo; personal text masked, under NAME_masked; optional dates
// left out when not given.
func appointmentAnswer(a registry.Appointment) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for _, f := range registry.AppointmentFields {
		v := f.Addr(&a)
		name := f.Name
		switch {
		case f.Kind == registry.FieldPhoto:
			continue
		case f.Personal:
			name, v = name+"_masked", registry.MaskIDNumber(reflect.ValueOf(v).Elem().String())
		case f.Optional && f.Kind == registry.FieldDate && v.(*registry.Date).IsZero():
			continue
		}
		val, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		key, _ := json.Marshal(name)
		b.Write(key)
		b.WriteByte(':')
		b.Write(val)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// MarshalJSON writes the certificate's members, then the appointment's.
func (c certificateJSON) MarshalJSON() ([]byte, error) {
	type members certificateJSON // without this method
	own, err := json.Marshal(members(c))
	if err != nil {
		return nil, err
	}
	a, err := appointmentAnswer(c.appointment)
	if err != nil {
		return nil, err
	}
	return joinObjects(own, a), nil
}

// joinObjects writes two JSON objects' members as one object.
func joinObjects(x, y []byte) []byte {
	x, y = bytes.TrimSpace(x), bytes.TrimSpace(y)
	switch {
	case len(y) <= 2:
		return x
	case len(x) <= 2:
		return y
	}
	return append(append(x[:len(x)-1:len(x)-1], ','), y[1:]...)
}
