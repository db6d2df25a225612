package workday

import (
	"errors"
	"testing"

	"github.com/certseal/certseal/registry"
)

func TestDue(t *testing.T) {
	c := defaultCal(t)
	for _, tt := range []struct {
		name  string
		due   func(*Calendar, registry.Date) (registry.Date, error)
		event string
		want  string
	}{
		{"info, across Spring Festival 2024", InfoDue, "2024-02-05", "2024-03-01"},
		{"info, across New Year 2024", InfoDue, "2023-12-20", "2024-01-11"},
		{"info, across Spring Festival 2025", InfoDue, "2025-01-20", "2025-02-14"},
		{"info, across National Day 2024", InfoDue, "2024-09-20", "2024-10-16"},
		{"info, appointed on a Sunday", InfoDue, "2026-03-01", "2026-03-20"},
		{"result, across Mid-Autumn/National Day 2023", ResultFilingDue, "2023-09-27", "2023-10-10"},
		{"result, over the make-up Sunday", ResultFilingDue, "2024-02-01", "2024-02-07"},
		{"result, across Spring Festival 2025", ResultFilingDue, "2025-01-24", "2025-02-07"},
		{"result, across New Year 2025", ResultFilingDue, "2024-12-27", "2025-01-06"},
		{"result, across New Year 2026", ResultFilingDue, "2025-12-29", "2026-01-06"},
	} {
		got, err := tt.due(c, day(t, tt.event))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got.String() != tt.want {
			t.Errorf("%s: due %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestLateness(t *testing.T) {
	c := defaultCal(t)
	for _, tt := range []struct {
		dl               Deadline
		event, submitted string
		late             bool
		over             int
	}{
		// Information due 15 working days after 2024-02-05: Friday 2024-03-01.
		{InfoDeadline, "2024-02-05", "2024-02-05", false, 0},
		{InfoDeadline, "2024-02-05", "2024-01-20", false, 0}, // before the event
		{InfoDeadline, "2024-02-05", "2024-03-01", false, 0},
		{InfoDeadline, "2024-02-05", "2024-03-02", true, 1}, // the Saturday after
		{InfoDeadline, "2024-02-05", "2024-03-04", true, 1},
		{InfoDeadline, "2024-02-05", "2024-03-05", true, 2},
		{InfoDeadline, "2024-02-05", "2024-03-09", true, 6},
		// Result filing due 5 working days after 2024-02-01: Wednesday 2024-02-07.
		{ResultFilingDeadline, "2024-02-01", "2024-02-07", false, 0},
		{ResultFilingDeadline, "2024-02-01", "2024-02-09", true, 2},
		{ResultFilingDeadline, "2024-02-01", "2024-02-12", true, 3}, // in the holiday: the limit must reach Feb 18
		{ResultFilingDeadline, "2024-02-01", "2024-02-18", true, 3}, // the make-up Sunday
		// Due 2023-10-10, past the make-up weekend.
		{ResultFilingDeadline, "2023-09-27", "2023-10-08", false, 0},
		{ResultFilingDeadline, "2023-09-27", "2023-10-11", true, 1},
		// Across the year boundary: due 2024-12-27 + 5 = 2025-01-06.
		{ResultFilingDeadline, "2024-12-27", "2025-01-01", false, 0},
		{ResultFilingDeadline, "2024-12-27", "2025-01-07", true, 1},
	} {
		late, over, err := Lateness(c, tt.dl, day(t, tt.event), day(t, tt.submitted))
		if err != nil {
			t.Fatalf("Lateness(%d, %s, %s): %v", tt.dl, tt.event, tt.submitted, err)
		}
		if late != tt.late || over != tt.over {
			t.Errorf("Lateness(%d, %s, %s) = %v, %d; want %v, %d", tt.dl, tt.event, tt.submitted, late, over, tt.late, tt.over)
		}
	}
}

// TestLatenessMeaning checks the definition on every submission day over
// two months around Spring Festival 2024: with a limit over days longer it
// would have been in time, with one day less it would not.
func TestLatenessMeaning(t *testing.T) {
	c := defaultCal(t)
	event := day(t, "2024-01-26")
	for s := event; s.Before(day(t, "2024-03-31")); s = s.AddDate(0, 0, 1) {
		late, over, err := Lateness(c, ResultFilingDeadline, event, s)
		if err != nil {
			t.Fatal(err)
		}
		if !late {
			if over != 0 {
				t.Fatalf("%s: in time but %d over", s, over)
			}
			continue
		}
		longer, _ := Deadline(int(ResultFilingDeadline)+over).Due(c, event)
		shorter, _ := Deadline(int(ResultFilingDeadline)+over-1).Due(c, event)
		if over < 1 || longer.Before(s) || !shorter.Before(s) {
			t.Fatalf("%s: %d working days over, but due with %d more is %s and with %d more is %s", s, over, over, longer, over-1, shorter)
		}
	}
}

func TestLatenessErrors(t *testing.T) {
	c := defaultCal(t)
	if _, _, err := Lateness(c, InfoDeadline, day(t, "2027-12-20"), day(t, "2027-12-21")); !errors.As(err, new(*MissingYearError)) {
		t.Errorf("due in 2028: err = %v, want MissingYearError", err)
	}
	if _, _, err := Lateness(c, InfoDeadline, day(t, "2024-02-05"), registry.Date{Year: 2024, Month: 2, Day: 31}); !errors.Is(err, registry.ErrInvalid) {
		t.Errorf("impossible submission day: err = %v, want invalid", err)
	}
}

func TestFilingDueDate(t *testing.T) {
	for _, tt := range []struct {
		year int
		want string
	}{
		{2023, "2023-06-30"},
		{2024, "2024-04-30"},
		{2026, "2026-04-30"},
		{2031, "2031-04-30"},
	} {
		if got := FilingDueDate(tt.year); got.String() != tt.want {
			t.Errorf("FilingDueDate(%d) = %s, want %s", tt.year, got, tt.want)
		}
	}
}

func TestExpiringSoon(t *testing.T) {
	for _, tt := range []struct {
		validUntil, today string
		want              bool
	}{
		{"2026-04-01", "2026-01-01", true}, // exactly 90 days ahead
		{"2026-04-02", "2026-01-01", false},
		{"2024-03-31", "2024-01-01", true}, // 90 days in a leap year
		{"2024-04-01", "2024-01-01", false},
		{"2026-01-01", "2026-01-01", true},  // last valid day is today
		{"2025-12-31", "2026-01-01", false}, // already expired
		{"2027-01-15", "2026-12-01", true},  // across the year; no working-day data needed
	} {
		if got := ExpiringSoon(day(t, tt.validUntil), day(t, tt.today)); got != tt.want {
			t.Errorf("ExpiringSoon(%s, %s) = %v, want %v", tt.validUntil, tt.today, got, tt.want)
		}
	}
}

func TestMarkLateness(t *testing.T) {
	c := defaultCal(t)
	for _, tt := range []struct {
		name                            string
		appointed, ended, filed, submit string
		info, result                    int
		missingYear                     int
	}{
		// Info due 2024-03-01 (see TestDue); result due 2024-02-07.
		{"both in time", "2024-02-05", "2024-02-01", "2024-02-07", "2024-03-01", 0, 0, 0},
		{"both late", "2024-02-05", "2024-02-01", "2024-02-08", "2024-03-04", 1, 1, 0},
		{"no result days", "2024-02-05", "", "", "2024-03-05", 2, 0, 0},
		{"result end without filing day is not counted", "2024-02-05", "2024-02-01", "", "2024-03-01", 0, 0, 0},
		{"year without data", "2027-12-20", "", "", "2028-01-10", 0, 0, 2028},
		// Information due 2027-12-22, 4 over on the 28th; the result's
		// filing day is in 2028, which the calendar lacks.
		{"one deadline counted, the other without data", "2027-12-01", "2027-12-28", "2028-01-05", "2027-12-28", 4, 0, 2028},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := registry.Appointment{AppointedOn: day(t, tt.appointed), InfoLateWorkdays: 9, ResultLateWorkdays: 9}
			if tt.ended != "" {
				a.AppraisalEndedOn = day(t, tt.ended)
			}
			if tt.filed != "" {
				a.ResultFiledOn = day(t, tt.filed)
			}
			err := MarkLateness(c, &a, day(t, tt.submit))
			var missing *MissingYearError
			if tt.missingYear != 0 {
				if !errors.As(err, &missing) || missing.Year != tt.missingYear {
					t.Fatalf("err = %v, want the missing year %d", err, tt.missingYear)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if a.SubmittedOn != day(t, tt.submit) || a.InfoLateWorkdays != tt.info || a.ResultLateWorkdays != tt.result {
				t.Fatalf("submitted %v, info %d, result %d; want %s, %d, %d", a.SubmittedOn, a.InfoLateWorkdays, a.ResultLateWorkdays, tt.submit, tt.info, tt.result)
			}
		})
	}
}
