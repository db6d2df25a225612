package registry

import (
	"slices"
	"strings"
	"unicode/utf8"
)

// Field limits for what a unit submits. Generous for real data, small
// enough that a certificate box and a database row stay sane.
const (
	maxNameRunes = 50
	maxTextRunes = 100
)

// Normalize checks an appointment as submitted and returns it cleaned
// (trimmed text, normalised ID number). Every problem is a FieldErr naming
// the JSON field, so an API caller or a batch row error can point at it.
// The photo and the font coverage are checked by the signer, which owns them.
func (a Appointment) Normalize(today Date) (Appointment, error) {
	text := []struct {
		field string
		v     *string
		max   int
	}{
		{"name", &a.Name, maxNameRunes},
		{"series", &a.Series, maxTextRunes},
		{"specialty", &a.Specialty, maxTextRunes},
		{"post", &a.Post, maxTextRunes},
		{"committee", &a.Committee, maxTextRunes},
		{"publication_number", &a.PublicationNumber, maxTextRunes},
	}
	for _, f := range text {
		*f.v = strings.TrimSpace(*f.v)
		if *f.v == "" {
			return a, FieldErr(f.field, "is required")
		}
		if !utf8.ValidString(*f.v) || utf8.RuneCountInString(*f.v) > f.max {
			return a, FieldErr(f.field, "must be valid text of at most %d characters", f.max)
		}
		if strings.ContainsFunc(*f.v, isControl) {
			return a, FieldErr(f.field, "must not contain control characters or line breaks")
		}
	}
	if a.UnitID <= 0 {
		return a, FieldErr("unit_id", "is required")
	}
	if a.Gender != Male && a.Gender != Female {
		return a, FieldErr("gender", "must be 男 or 女")
	}
	if !slices.Contains(Levels, a.Level) {
		return a, FieldErr("level", "must be one of 正高级, 副高级, 中级, 助理级, 员级")
	}
	id, _, err := CheckIDNumber(a.IDNumber, a.Gender, today)
	if err != nil {
		return a, err
	}
	a.IDNumber = id
	switch {
	case a.TermFrom.IsZero():
		return a, FieldErr("term_from", "is required")
	case a.TermTo.IsZero():
		return a, FieldErr("term_to", "is required")
	case !a.TermFrom.Before(a.TermTo):
		return a, FieldErr("term_to", "must be after term_from")
	case a.AppointedOn.IsZero():
		return a, FieldErr("appointed_on", "is required")
	case a.AppointedOn.After(today):
		return a, FieldErr("appointed_on", "cannot be in the future")
	case a.TermTo.After(a.TermFrom.AddDate(10, 0, 0)):
		return a, FieldErr("term_to", "a term longer than 10 years is not plausible")
	case a.AppraisalEndedOn.After(today):
		return a, FieldErr("appraisal_ended_on", "cannot be in the future")
	case !a.ResultFiledOn.IsZero() && a.AppraisalEndedOn.IsZero():
		return a, FieldErr("appraisal_ended_on", "is required with result_filed_on")
	case a.ResultFiledOn.Before(a.AppraisalEndedOn) && !a.ResultFiledOn.IsZero():
		return a, FieldErr("result_filed_on", "cannot be before appraisal_ended_on")
	case a.ResultFiledOn.After(today):
		return a, FieldErr("result_filed_on", "cannot be in the future")
	}
	return a, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || r == 0x2028 || r == 0x2029 }
