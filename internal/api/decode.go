package api

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"

	"github.com/certseal/certseal/registry"
)

// DefaultMaxJSONBody limits a JSON body on a route that has no MaxBody of
// its own, so forgetting MaxBody never means "unlimited".
const DefaultMaxJSONBody = 1 << 20

// DecodeJSON reads the request body as one JSON value into dst. It requires
// Content-Type application/json (415), refuses unknown fields and values of
// the wrong type naming the field (422 invalid), broken JSON or data after
// the value (400 malformed), and a body over the route's MaxBody, or
// DefaultMaxJSONBody without one (413). Every error is a *registry.Error
// that WriteProblem maps.
func DecodeJSON(r *http.Request, dst any) error {
	if err := requireJSON(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	body := r.Body
	if body == nil {
		body = http.NoBody
	}
	limit, ok := bodyLimit(r.Context())
	if !ok {
		limit = DefaultMaxJSONBody
		body = http.MaxBytesReader(nil, body, limit)
	}
	// What was read is kept to find the field of a bad value afterwards;
	// the route's limit bounds it.
	var seen bytes.Buffer
	src := &readErr{r: io.TeeReader(body, &seen)}
	dec := json.NewDecoder(src)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		if src.err == nil && !isJSONError(err) {
			// Not the connection and not encoding/json's own words: a
			// type's UnmarshalJSON (time.Time) refused the value.
			err = registry.Errf(registry.CodeInvalid, "a value is not of the form its field takes: %v", err)
		}
		return withCulprit(decodeError(err, limit), seen.Bytes(), dst)
	}
	// A second value, or anything but white space, after the first is a
	// client bug (two objects concatenated, a truncated rewrite): refuse it
	// rather than act on half of what was meant.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return decodeError(err, limit)
		}
		return registry.Errf(CodeMalformed, "unexpected data after the JSON value")
	}
	return nil
}

// readErr remembers whether reading the body failed.
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// isJSONError reports errors encoding/json makes itself.
func isJSONError(err error) bool {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		dom *registry.Error
		b64 base64.CorruptInputError
		inv *json.InvalidUnmarshalError
	)
	return errors.As(err, &syn) || errors.As(err, &typ) || errors.As(err, &dom) || errors.As(err, &b64) || errors.As(err, &inv) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || strings.HasPrefix(err.Error(), "json: unknown field ")
}

// withCulprit names the field of a bad value when encoding/json could not:
// it does not say which field base64 or a type's own UnmarshalJSON
// (registry.Date) refused. Each member is decoded again on its own until
// one fails.
func withCulprit(err error, body []byte, dst any) error {
	var e *registry.Error
	if !errors.As(err, &e) || e.Code != registry.CodeInvalid || e.Field != "" {
		return err
	}
	if f := culprit(body, reflect.TypeOf(dst)); f != "" {
		named := *e
		named.Field = f
		return &named
	}
	return err
}

func culprit(data []byte, t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return ""
	}
	var members map[string]json.RawMessage
	if json.Unmarshal(data, &members) != nil {
		return ""
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		raw, ok := members[name]
		if name == "" || name == "-" || !ok {
			continue
		}
		if json.Unmarshal(raw, reflect.New(f.Type).Interface()) != nil {
			if sub := culprit(raw, f.Type); sub != "" {
				return name + "." + sub
			}
			return name
		}
	}
	return ""
}

// requireJSON accepts application/json with no charset or UTF-8 (RFC 8259
// §8.1: JSON between systems is UTF-8).
func requireJSON(contentType string) error {
	if contentType == "" {
		return registry.Errf(CodeUnsupportedMediaType, "Content-Type application/json is required")
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/json" {
		return registry.Errf(CodeUnsupportedMediaType, "Content-Type must be application/json")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return registry.Errf(CodeUnsupportedMediaType, "JSON must be UTF-8")
	}
	return nil
}

// decodeError turns an encoding/json error into a domain error.
func decodeError(err error, limit int64) error {
	var (
		mbe *http.MaxBytesError
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		dom *registry.Error
		b64 base64.CorruptInputError
		inv *json.InvalidUnmarshalError
	)
	switch {
	case errors.As(err, &mbe):
		return tooLarge(limit)
	case errors.As(err, &dom):
		// A type's own UnmarshalJSON (registry.Date) said what is wrong.
		return dom
	case errors.As(err, &typ):
		if typ.Field == "" {
			return registry.Errf(registry.CodeInvalid, "the body must be a JSON %s", jsonKind(typ.Type.Kind()))
		}
		return registry.FieldErr(typ.Field, "must be a %s, not a JSON %s", jsonKind(typ.Type.Kind()), typ.Value)
	case errors.As(err, &b64):
		// encoding/json does not say which []byte field held it.
		return registry.Errf(registry.CodeInvalid, "a binary field is not valid standard base64 (at its byte %d)", int64(b64))
	case errors.As(err, &inv):
		return err // a programming error: a 500, not the client's fault
	case errors.As(err, &syn):
		return registry.Errf(CodeMalformed, "invalid JSON at byte %d: %s", syn.Offset, syn.Error())
	case errors.Is(err, io.EOF):
		return registry.Errf(CodeMalformed, "the body is empty; a JSON value is required")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return registry.Errf(CodeMalformed, "the JSON value is cut short")
	}
	// encoding/json reports an unknown field only as text.
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		name = strings.Trim(name, `"`)
		return registry.FieldErr(name, "is not a known field")
	}
	// The rest (a reader failing mid-body) is the connection's fault, not
	// the JSON's.
	return registry.Errf(CodeMalformed, "cannot read the body")
}

// jsonKind names a Go kind in JSON words for error messages.
func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	}
	return "value of another type"
}
