package registry

import (
	"errors"
	"fmt"
)

// Code is a stable, machine-readable error code. The HTTP layer maps each
// code to a status and a problem+json "code" member, so codes never change
// once published.
type Code string

const (
	CodeNotFound          Code = "not_found"
	CodeInvalid           Code = "invalid"            // bad input: a field is missing or malformed
	CodeIllegalTransition Code = "illegal_transition" // lifecycle move not allowed from the current state
	CodeConflict          Code = "conflict"           // lost a race: the record changed under us
	CodeDuplicate         Code = "duplicate"          // unique value already taken (USCC, idempotency key with other body)
	CodeFilingNotInForce  Code = "filing_not_in_force"
	CodeSealNotActive     Code = "seal_not_active"
	CodeTermEnded         Code = "term_ended"
	CodeUnavailable       Code = "unavailable" // a backend (database, cache) cannot be reached
)

// Error is a domain error. Compare with errors.Is against the sentinels
// below: two *Error values match when their codes match.
type Error struct {
	Code  Code
	Field string // the offending input field, when one is to blame
	Msg   string
	Err   error // cause, if any
}

func (e *Error) Error() string {
	s := string(e.Code)
	if e.Field != "" {
		s += " (" + e.Field + ")"
	}
	if e.Msg != "" {
		s += ": " + e.Msg
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches by code, so errors.Is(err, registry.ErrNotFound) holds for any
// not-found error whatever its message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Sentinels for errors.Is.
var (
	ErrNotFound          = &Error{Code: CodeNotFound}
	ErrInvalid           = &Error{Code: CodeInvalid}
	ErrIllegalTransition = &Error{Code: CodeIllegalTransition}
	ErrConflict          = &Error{Code: CodeConflict}
	ErrDuplicate         = &Error{Code: CodeDuplicate}
	ErrFilingNotInForce  = &Error{Code: CodeFilingNotInForce}
	ErrSealNotActive     = &Error{Code: CodeSealNotActive}
	ErrTermEnded         = &Error{Code: CodeTermEnded}
	ErrUnavailable       = &Error{Code: CodeUnavailable}
)

// Errf builds a domain error with a formatted message.
func Errf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// FieldErr builds an invalid-input error that names the field.
func FieldErr(field, format string, args ...any) *Error {
	return &Error{Code: CodeInvalid, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// CodeOf returns the domain code of err, or "" when err is not a domain error.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
