package registry

import (
	"encoding/json"
	"time"
)

// Date is a calendar day with no time zone, as printed on certificates
// (terms, appointment days). JSON form: "YYYY-MM-DD".
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ChinaTZ is the zone in which calendar days are counted: a term that ends
// on 2026-06-30 ends at midnight Beijing time, wherever the server runs.
var ChinaTZ = time.FixedZone("CST", 8*3600)

const dateLayout = "2006-01-02"

// ParseDate parses "YYYY-MM-DD" and refuses impossible days (2023-02-30).
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(dateLayout, s)
	if err != nil {
		return Date{}, Errf(CodeInvalid, "date %q is not YYYY-MM-DD", s)
	}
	return DateOf(t), nil
}

// DateOf is the calendar day of t (taken as is, in t's own location).
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// Today is the current day in China.
func Today(now time.Time) Date { return DateOf(now.In(ChinaTZ)) }

func (d Date) IsZero() bool { return d == Date{} }

// Time is midnight at the start of d in China.
func (d Date) Time() time.Time { return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, ChinaTZ) }

func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return d.Time().Format(dateLayout)
}

func (d Date) Before(o Date) bool { return d.Compare(o) < 0 }
func (d Date) After(o Date) bool  { return d.Compare(o) > 0 }

// Compare returns -1, 0 or +1.
func (d Date) Compare(o Date) int {
	switch {
	case d.Year != o.Year:
		return cmpInt(d.Year, o.Year)
	case d.Month != o.Month:
		return cmpInt(int(d.Month), int(o.Month))
	default:
		return cmpInt(d.Day, o.Day)
	}
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// AddDate works like time.Time.AddDate.
func (d Date) AddDate(years, months, days int) Date {
	return DateOf(d.Time().AddDate(years, months, days))
}

func (d Date) MarshalJSON() ([]byte, error) {
	if d.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(d.String())
}

func (d *Date) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*d = Date{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return Errf(CodeInvalid, "date must be a string YYYY-MM-DD")
	}
	v, err := ParseDate(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}
