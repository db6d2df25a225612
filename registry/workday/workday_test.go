package workday

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certseal/certseal/registry"
)

func day(t testing.TB, s string) registry.Date {
	t.Helper()
	d, err := registry.ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func defaultCal(t testing.TB) *Calendar {
	t.Helper()
	c, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestShippedYears(t *testing.T) {
	if got, want := defaultCal(t).Years(), []int{2023, 2024, 2025, 2026, 2027}; !slices.Equal(got, want) {
		t.Fatalf("Years() = %v, want %v", got, want)
	}
}

func TestIsWorkday(t *testing.T) {
	c := defaultCal(t)
	for _, tt := range []struct {
		day  string
		want bool
		why  string
	}{
		// 2023 Mid-Autumn + National Day: Sep 29 – Oct 6 off, Sat Oct 7 and Sun Oct 8 worked.
		{"2023-09-28", true, "Thursday before"},
		{"2023-09-29", false, "Mid-Autumn, Friday"},
		{"2023-10-01", false, "National Day, Sunday"},
		{"2023-10-06", false, "last day off, Friday"},
		{"2023-10-07", true, "make-up Saturday"},
		{"2023-10-08", true, "make-up Sunday"},
		{"2023-10-09", true, "Monday after"},
		{"2023-01-02", false, "New Year moved off Sunday Jan 1"},
		// 2027 Spring Festival: Feb 5 – 13 off, Sun Jan 31 and Sun Feb 14 worked.
		{"2027-01-31", true, "make-up Sunday"},
		{"2027-02-05", false, "first day off, Friday"},
		{"2027-02-12", false, "Friday off"},
		{"2027-02-13", false, "last day off, Saturday"},
		{"2027-02-14", true, "make-up Sunday"},
		{"2027-02-15", true, "Monday after"},
		// 2027 Mid-Autumn on Wednesday Sep 15; National Day Oct 1 – 7, Sun Sep 26 and Sat Oct 9 worked.
		{"2027-09-15", false, "Mid-Autumn, Wednesday"},
		{"2027-09-26", true, "make-up Sunday"},
		{"2027-10-07", false, "last day off, Thursday"},
		{"2027-10-09", true, "make-up Saturday"},
		// 2024 Spring Festival: Feb 10–17 off, Sun Feb 4 and Sun Feb 18 worked.
		{"2024-02-03", false, "plain Saturday"},
		{"2024-02-04", true, "make-up Sunday"},
		{"2024-02-09", true, "除夕: only encouraged to rest, a working day"},
		{"2024-02-10", false, "first day off, Saturday"},
		{"2024-02-12", false, "Monday off"},
		{"2024-02-16", false, "Friday off"},
		{"2024-02-17", false, "last day off, Saturday"},
		{"2024-02-18", true, "make-up Sunday"},
		{"2024-02-19", true, "Monday after"},
		// 2024 National Day: Oct 1–7 off, Sun Sep 29 and Sat Oct 12 worked.
		{"2024-09-28", false, "plain Saturday"},
		{"2024-09-29", true, "make-up Sunday"},
		{"2024-09-30", true, "Monday"},
		{"2024-10-01", false, "National Day"},
		{"2024-10-07", false, "last day off, Monday"},
		{"2024-10-08", true, "Tuesday after"},
		{"2024-10-12", true, "make-up Saturday"},
		{"2024-10-13", false, "plain Sunday"},
		// 2025 Spring Festival (first year with 除夕 a statutory day): Jan 28 – Feb 4 off, Sun Jan 26 and Sat Feb 8 worked.
		{"2025-01-26", true, "make-up Sunday"},
		{"2025-01-27", true, "Monday before 除夕"},
		{"2025-01-28", false, "除夕, Tuesday"},
		{"2025-02-04", false, "last day off, Tuesday"},
		{"2025-02-05", true, "Wednesday after"},
		{"2025-02-08", true, "make-up Saturday"},
		{"2025-02-09", false, "plain Sunday"},
		// 2025 Labour Day: May 2 a statutory day from 2025.
		{"2025-05-02", false, "May 2, Friday"},
		{"2025-05-05", false, "Monday off"},
		{"2025-04-27", true, "make-up Sunday"},
		// 2026.
		{"2026-01-02", false, "New Year, Friday"},
		{"2026-01-04", true, "make-up Sunday"},
		{"2026-02-23", false, "Spring Festival, Monday"},
		{"2026-02-28", true, "make-up Saturday"},
		{"2026-09-25", false, "Mid-Autumn, Friday"},
		{"2026-10-10", true, "make-up Saturday"},
		{"2026-12-31", true, "plain Thursday"},
		{"2026-03-11", true, "plain Wednesday"},
	} {
		got, err := c.IsWorkday(day(t, tt.day))
		if err != nil {
			t.Fatalf("IsWorkday(%s): %v", tt.day, err)
		}
		if got != tt.want {
			t.Errorf("IsWorkday(%s) = %v, want %v (%s)", tt.day, got, tt.want, tt.why)
		}
	}
}

func TestAddWorkdays(t *testing.T) {
	c := defaultCal(t)
	for _, tt := range []struct {
		from string
		n    int
		want string
	}{
		{"2024-02-05", 0, "2024-02-05"},
		{"2024-02-03", 0, "2024-02-03"}, // zero days from a day off stays put
		{"2024-02-05", 1, "2024-02-06"},
		{"2024-02-09", 1, "2024-02-18"}, // over Spring Festival to the make-up Sunday
		{"2024-02-05", 15, "2024-03-01"},
		{"2024-02-03", 1, "2024-02-04"}, // Saturday → make-up Sunday
		{"2023-09-28", 1, "2023-10-07"},
		{"2023-09-27", 5, "2023-10-10"},
		{"2024-09-27", 5, "2024-10-10"},
		{"2025-01-24", 5, "2025-02-07"},
		{"2025-01-27", 1, "2025-02-05"},
		// Year boundaries.
		{"2023-12-20", 15, "2024-01-11"},
		{"2024-12-27", 5, "2025-01-06"},
		{"2025-12-31", 3, "2026-01-06"},
		// The day before the first shipped year needs no data of its own.
		{"2022-12-31", 1, "2023-01-03"},
	} {
		got, err := c.AddWorkdays(day(t, tt.from), tt.n)
		if err != nil {
			t.Fatalf("AddWorkdays(%s, %d): %v", tt.from, tt.n, err)
		}
		if got.String() != tt.want {
			t.Errorf("AddWorkdays(%s, %d) = %s, want %s", tt.from, tt.n, got, tt.want)
		}
	}
}

func TestWorkdaysBetween(t *testing.T) {
	c := defaultCal(t)
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"2024-02-05", "2024-02-05", 0},
		{"2024-02-05", "2024-03-01", 15},
		{"2024-03-01", "2024-02-05", -15},
		{"2024-02-09", "2024-02-17", 0}, // nothing but days off after Feb 9
		{"2024-02-09", "2024-02-18", 1},
		{"2023-09-28", "2023-10-08", 2},
		{"2022-12-31", "2023-01-06", 4}, // a needs no data: only the days after it
		{"2024-12-31", "2025-01-02", 1},
		// Whole years: weekdays less the statutory days (11, 13 from 2025).
		{"2022-12-31", "2023-12-31", 249},
		{"2023-12-31", "2024-12-31", 251},
		{"2024-12-31", "2025-12-31", 248},
		{"2025-12-31", "2026-12-31", 248},
	} {
		got, err := c.WorkdaysBetween(day(t, tt.a), day(t, tt.b))
		if err != nil {
			t.Fatalf("WorkdaysBetween(%s, %s): %v", tt.a, tt.b, err)
		}
		if got != tt.want {
			t.Errorf("WorkdaysBetween(%s, %s) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestAddAndCountAgree walks every day of the shipped years: the n-th working
// day after d is a working day, and exactly n working days lie in between.
func TestAddAndCountAgree(t *testing.T) {
	c := defaultCal(t)
	for d := day(t, "2022-12-31"); d.Year < 2028; d = d.AddDate(0, 0, 1) {
		for _, n := range []int{1, 5, 15} {
			e, err := c.AddWorkdays(d, n)
			if errors.As(err, new(*MissingYearError)) {
				continue // runs into 2028
			}
			if err != nil {
				t.Fatal(err)
			}
			if w, _ := c.IsWorkday(e); !w {
				t.Fatalf("AddWorkdays(%s, %d) = %s, a day off", d, n, e)
			}
			if got, _ := c.WorkdaysBetween(d, e); got != n {
				t.Fatalf("WorkdaysBetween(%s, %s) = %d, want %d", d, e, got, n)
			}
			if prev, _ := c.WorkdaysBetween(d, e.AddDate(0, 0, -1)); prev != n-1 {
				t.Fatalf("%s is not the first day with %d working days after %s", e, n, d)
			}
		}
	}
}

func TestMissingYear(t *testing.T) {
	c := defaultCal(t)
	for _, tt := range []struct {
		name string
		call func() error
		year int
	}{
		{"IsWorkday 2028", func() error { _, err := c.IsWorkday(day(t, "2028-01-04")); return err }, 2028},
		{"IsWorkday 2022", func() error { _, err := c.IsWorkday(day(t, "2022-06-01")); return err }, 2022},
		{"AddWorkdays into 2028", func() error { _, err := c.AddWorkdays(day(t, "2027-12-20"), 15); return err }, 2028},
		{"WorkdaysBetween into 2028", func() error {
			_, err := c.WorkdaysBetween(day(t, "2027-12-30"), day(t, "2028-01-02"))
			return err
		}, 2028},
		{"WorkdaysBetween backwards from 2022", func() error {
			_, err := c.WorkdaysBetween(day(t, "2023-01-05"), day(t, "2022-12-30"))
			return err
		}, 2022},
		{"InfoDue into 2028", func() error { _, err := InfoDue(c, day(t, "2027-12-20")); return err }, 2028},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var my *MissingYearError
			if !errors.As(err, &my) || my.Year != tt.year {
				t.Fatalf("err = %v, want a MissingYearError for %d", err, tt.year)
			}
			if !errors.Is(err, registry.ErrInvalid) {
				t.Errorf("err = %v, want code %s", err, registry.CodeInvalid)
			}
			want := "no data for " + strconv.Itoa(tt.year) + "; add " + strconv.Itoa(tt.year) + ".json"
			if !strings.Contains(err.Error(), want) {
				t.Errorf("err = %q, want it to say %q", err, want)
			}
		})
	}
}

func TestImpossibleDates(t *testing.T) {
	c := defaultCal(t)
	for _, d := range []registry.Date{{}, {Year: 2024, Month: time.February, Day: 30}, {Year: 2024, Month: 13, Day: 1}} {
		if _, err := c.IsWorkday(d); !errors.Is(err, registry.ErrInvalid) {
			t.Errorf("IsWorkday(%+v) err = %v, want invalid", d, err)
		}
		if _, err := c.AddWorkdays(d, 1); !errors.Is(err, registry.ErrInvalid) {
			t.Errorf("AddWorkdays(%+v) err = %v, want invalid", d, err)
		}
		if _, err := c.WorkdaysBetween(day(t, "2024-01-01"), d); !errors.Is(err, registry.ErrInvalid) {
			t.Errorf("WorkdaysBetween(_, %+v) err = %v, want invalid", d, err)
		}
	}
	if _, err := c.AddWorkdays(day(t, "2024-01-01"), -1); !errors.Is(err, registry.ErrInvalid) {
		t.Errorf("AddWorkdays(-1) err = %v, want invalid", err)
	}
}

// dayOff reads the calendar, and outside its years only weekends, so that
// periods reaching into 2022 (2023's New Year) can be checked.
func dayOff(t *testing.T, c *Calendar, d registry.Date) bool {
	t.Helper()
	if _, ok := c.sources[d.Year]; !ok {
		return isWeekend(d)
	}
	w, err := c.IsWorkday(d)
	if err != nil {
		t.Fatal(err)
	}
	return !w
}

// TestShippedDataConsistent checks every shipped year against what the law
// makes of any year, independently of the notice texts.
func TestShippedDataConsistent(t *testing.T) {
	c := defaultCal(t)
	for _, year := range c.Years() {
		t.Run(strconv.Itoa(year), func(t *testing.T) {
			if !strings.Contains(c.sources[year], strconv.Itoa(year)+"年部分节假日安排") {
				t.Errorf("source %q does not name the notice for %d", c.sources[year], year)
			}
			var holidays, workdays int
			for d, w := range c.except {
				if d.Year != year {
					continue
				}
				if w {
					workdays++
					if !isWeekend(d) {
						t.Errorf("workday %s is not on a weekend", d)
					}
				} else {
					holidays++
					if isWeekend(d) {
						t.Errorf("holiday %s is on a weekend", d)
					}
				}
			}
			// Make-up days only move days off (within the year, for every
			// shipped year); what is left is the statutory days (全国年节及纪念日放假办法): 11, and 13 from 2025 (除夕 and May 2).
			statutory := 11
			if year >= 2025 {
				statutory = 13
			}
			if holidays-workdays != statutory {
				t.Errorf("%d weekday holidays - %d make-up workdays = %d, want %d statutory days off",
					holidays, workdays, holidays-workdays, statutory)
			}

			// From 2025 the notices keep to "法定节假日前后连续工作一般不超过6天".
			if year >= 2025 {
				streak := 0
				for d := (registry.Date{Year: year, Month: 1, Day: 1}); d.Year == year; d = d.AddDate(0, 0, 1) {
					if dayOff(t, c, d) {
						streak = 0
						continue
					}
					if streak++; streak > 6 {
						t.Errorf("%s is the %d-th working day in a row", d, streak)
					}
				}
			}
		})
	}
}

// notices transcribes each shipped year's notice as the notice words it —
// "X月X日至X日放假调休，共N天。X月X日（星期X）上班" — independently of the data files,
// which list only weekday holidays. "与周末连休" periods are written out with
// their weekend.
var notices = map[int][]struct {
	name     string
	from, to string
	days     int
	work     []string
}{
	2023: {
		{"元旦", "2022-12-31", "2023-01-02", 3, nil},
		{"春节", "2023-01-21", "2023-01-27", 7, []string{"2023-01-28", "2023-01-29"}},
		{"清明节", "2023-04-05", "2023-04-05", 1, nil},
		{"劳动节", "2023-04-29", "2023-05-03", 5, []string{"2023-04-23", "2023-05-06"}},
		{"端午节", "2023-06-22", "2023-06-24", 3, []string{"2023-06-25"}},
		{"中秋节、国庆节", "2023-09-29", "2023-10-06", 8, []string{"2023-10-07", "2023-10-08"}},
	},
	2024: {
		{"元旦", "2023-12-30", "2024-01-01", 3, nil},
		{"春节", "2024-02-10", "2024-02-17", 8, []string{"2024-02-04", "2024-02-18"}},
		{"清明节", "2024-04-04", "2024-04-06", 3, []string{"2024-04-07"}},
		{"劳动节", "2024-05-01", "2024-05-05", 5, []string{"2024-04-28", "2024-05-11"}},
		{"端午节", "2024-06-08", "2024-06-10", 3, nil},
		{"中秋节", "2024-09-15", "2024-09-17", 3, []string{"2024-09-14"}},
		{"国庆节", "2024-10-01", "2024-10-07", 7, []string{"2024-09-29", "2024-10-12"}},
	},
	2025: {
		{"元旦", "2025-01-01", "2025-01-01", 1, nil},
		{"春节", "2025-01-28", "2025-02-04", 8, []string{"2025-01-26", "2025-02-08"}},
		{"清明节", "2025-04-04", "2025-04-06", 3, nil},
		{"劳动节", "2025-05-01", "2025-05-05", 5, []string{"2025-04-27"}},
		{"端午节", "2025-05-31", "2025-06-02", 3, nil},
		{"国庆节、中秋节", "2025-10-01", "2025-10-08", 8, []string{"2025-09-28", "2025-10-11"}},
	},
	2026: {
		{"元旦", "2026-01-01", "2026-01-03", 3, []string{"2026-01-04"}},
		{"春节", "2026-02-15", "2026-02-23", 9, []string{"2026-02-14", "2026-02-28"}},
		{"清明节", "2026-04-04", "2026-04-06", 3, nil},
		{"劳动节", "2026-05-01", "2026-05-05", 5, []string{"2026-05-09"}},
		{"端午节", "2026-06-19", "2026-06-21", 3, nil},
		{"中秋节", "2026-09-25", "2026-09-27", 3, nil},
		{"国庆节", "2026-10-01", "2026-10-07", 7, []string{"2026-09-20", "2026-10-10"}},
	},
	// As github.com/6tail/lunar-go v1.4.7 gives the periods (see
	// data/2027.json's source); to be checked against the notice's text.
	2027: {
		{"元旦", "2027-01-01", "2027-01-03", 3, nil},
		{"春节", "2027-02-05", "2027-02-13", 9, []string{"2027-01-31", "2027-02-14"}},
		{"清明节", "2027-04-03", "2027-04-05", 3, nil},
		{"劳动节", "2027-05-01", "2027-05-05", 5, []string{"2027-05-08"}},
		{"端午节", "2027-06-09", "2027-06-09", 1, nil},
		{"中秋节", "2027-09-15", "2027-09-15", 1, nil},
		{"国庆节", "2027-10-01", "2027-10-07", 7, []string{"2027-09-26", "2027-10-09"}},
	},
}

// TestShippedDataMatchesNotices is double entry: every period of a notice
// is off in the calendar and has the notice's number of days, the days
// around it are worked, its make-up days are worked, and the calendar has
// no day off or make-up day that no notice period explains.
func TestShippedDataMatchesNotices(t *testing.T) {
	c := defaultCal(t)
	for _, year := range c.Years() {
		periods, ok := notices[year]
		if !ok {
			t.Errorf("%d is shipped but not transcribed in notices", year)
			continue
		}
		explained := map[registry.Date]bool{}
		for _, p := range periods {
			from, to := day(t, p.from), day(t, p.to)
			n := 0
			for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
				n++
				explained[d] = true
				if !dayOff(t, c, d) {
					t.Errorf("%d %s: %s is a working day", year, p.name, d)
				}
			}
			if n != p.days {
				t.Errorf("%d %s: %s – %s is %d days, the notice says %d", year, p.name, from, to, n, p.days)
			}
			// Festival lengths the law allows: 1 (a Wednesday alone) to 9 (2026's Spring Festival).
			if n < 1 || n > 9 {
				t.Errorf("%d %s: %d days off is implausible", year, p.name, n)
			}
			if dayOff(t, c, from.AddDate(0, 0, -1)) || dayOff(t, c, to.AddDate(0, 0, 1)) {
				t.Errorf("%d %s: the calendar's days off run past %s – %s", year, p.name, from, to)
			}
			for _, w := range p.work {
				d := day(t, w)
				explained[d] = true
				if dayOff(t, c, d) {
					t.Errorf("%d %s: make-up day %s is not a working day", year, p.name, d)
				}
			}
		}
		for d := range c.except {
			if d.Year == year && !explained[d] {
				t.Errorf("%d: %s is in the data but in no period of the notice", year, d)
			}
		}
	}
}

func writeFile(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadOverridesAndAdds(t *testing.T) {
	dir := t.TempDir()
	// A made-up 2030 (test data, not a real notice) and a 2024 that takes the
	// 2024-02-16 holiday out and adds 2024-03-04.
	writeFile(t, dir, "2030.json", `{"year":2030,"source":"test","holidays":["2030-01-01"],"workdays":["2030-01-05"]}`)
	writeFile(t, dir, "2024.json", `{"year":2024,"source":"test","holidays":["2024-03-04"],"workdays":[]}`)
	writeFile(t, dir, "README.txt", "not data")
	writeFile(t, dir, "2024.json.bak", "{")
	if err := os.Mkdir(filepath.Join(dir, "old.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	c, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Years(), []int{2023, 2024, 2025, 2026, 2027, 2030}; !slices.Equal(got, want) {
		t.Fatalf("Years() = %v, want %v", got, want)
	}
	for _, tt := range []struct {
		day  string
		want bool
	}{
		{"2030-01-01", false},
		{"2030-01-05", true},
		{"2030-01-06", false},
		{"2024-02-16", true},  // the replaced file no longer has it
		{"2024-02-18", false}, // nor the make-up Sunday
		{"2024-03-04", false},
		{"2025-01-28", false}, // shipped years stay
	} {
		if got, err := c.IsWorkday(day(t, tt.day)); err != nil || got != tt.want {
			t.Errorf("IsWorkday(%s) = %v, %v; want %v", tt.day, got, err, tt.want)
		}
	}
	_, err = c.IsWorkday(day(t, "2029-01-01"))
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("missing-year error %v does not name the operator's directory", err)
	}
}

func TestLoadRejects(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "absent")); err == nil {
		t.Error("Load of a missing directory succeeded")
	}
	const ok = `"source":"test","workdays":[]`
	for _, tt := range []struct {
		name, file, body, want string
	}{
		{"wrong file name", "2031-calendar.json", `{"year":2031,` + ok + `,"holidays":["2031-01-01"]}`, "file named 2031.json"},
		{"file of another year", "2030.json", `{"year":2031,` + ok + `,"holidays":["2031-01-01"]}`, "file named 2031.json"},
		{"date outside the year", "2030.json", `{"year":2030,` + ok + `,"holidays":["2031-01-01"]}`, "not in 2030"},
		{"holiday on a weekend", "2030.json", `{"year":2030,` + ok + `,"holidays":["2030-01-05"]}`, "Saturday"},
		{"workday on a weekday", "2030.json", `{"year":2030,"source":"test","holidays":["2030-01-01"],"workdays":["2030-01-02"]}`, "Wednesday"},
		{"both holiday and workday", "2030.json", `{"year":2030,"source":"test","holidays":["2030-01-01"],"workdays":["2030-01-01"]}`, "already in holidays"},
		{"holiday twice", "2030.json", `{"year":2030,` + ok + `,"holidays":["2030-01-01","2030-01-01"]}`, "already in holidays"},
		{"impossible date", "2030.json", `{"year":2030,` + ok + `,"holidays":["2030-02-30"]}`, "holidays[0]"},
		{"no holidays", "2030.json", `{"year":2030,` + ok + `,"holidays":[]}`, "no holidays"},
		{"no source", "2030.json", `{"year":2030,"source":"","workdays":[],"holidays":["2030-01-01"]}`, "source"},
		{"missing key", "2030.json", `{"year":2030,"source":"test","holidays":["2030-01-01"]}`, `"workdays" is missing`},
		{"misspelt key", "2030.json", `{"year":2030,` + ok + `,"holiday":["2030-01-01"]}`, `unknown key "holiday"`},
		{"key in another case", "2030.json", `{"Year":2030,` + ok + `,"holidays":["2030-01-01"]}`, `unknown key "Year"`},
		{"key twice", "2030.json", `{"year":2030,` + ok + `,"holidays":["2030-01-01"],"holidays":["2030-01-02"]}`, "twice"},
		{"trailing data", "2030.json", `{"year":2030,` + ok + `,"holidays":["2030-01-01"]}{}`, "after the closing brace"},
		{"not an object", "2030.json", `["2030-01-01"]`, "want"},
		{"null dates", "2030.json", `{"year":2030,` + ok + `,"holidays":[null]}`, "holidays[0]"},
		{"five-digit year", "12030.json", `{"year":12030,` + ok + `,"holidays":["2030-01-01"]}`, "four-digit"},
		{"too large", "2030.json", `{"year":2030,` + ok + `,"holidays":["2030-01-01"]}` + strings.Repeat(" ", maxFileSize), "larger than"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, tt.file, tt.body)
			_, err := Load(dir)
			if !errors.Is(err, registry.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want invalid mentioning %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.file) {
				t.Errorf("err = %v does not name the file %s", err, tt.file)
			}
		})
	}
}

// FuzzLoad feeds operator files to the parser: it must never panic, and
// whatever it accepts must read back as the calendar it describes.
func FuzzLoad(f *testing.F) {
	for _, y := range []string{"2023", "2024", "2025", "2026"} {
		b, err := shipped.ReadFile("data/" + y + ".json")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"year":2030,"source":"x","holidays":["2030-01-01"],"workdays":["2030-01-05"]}`))
	f.Add([]byte(`{"year":2030,"source":"x","holidays":["2030-01-01"],"holidays":[]}`))
	f.Add([]byte(`{"year":2030,"source":"x","holidays":[null],"workdays":{}}`))
	f.Add([]byte(`{"year":1e3}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		y, err := decodeYearFile(b)
		if err != nil {
			return
		}
		name := strconv.Itoa(y.year) + ".json"
		if y.year < 1000 || y.year > 9999 {
			name = "x.json"
		}
		if y, err = parseYearFile(name, b); err != nil {
			if !errors.Is(err, registry.ErrInvalid) {
				t.Fatalf("error %v is not invalid", err)
			}
			return
		}
		dir := t.TempDir()
		writeFile(t, dir, name, string(b))
		c, err := Load(dir)
		if err != nil {
			t.Fatalf("Load refused what parseYearFile accepted: %v", err)
		}
		for _, d := range y.holidays {
			if w, err := c.IsWorkday(d); err != nil || w {
				t.Fatalf("holiday %s: IsWorkday = %v, %v", d, w, err)
			}
		}
		for _, d := range y.workdays {
			if w, err := c.IsWorkday(d); err != nil || !w {
				t.Fatalf("workday %s: IsWorkday = %v, %v", d, w, err)
			}
		}
	})
}

func BenchmarkInfoDue(b *testing.B) {
	c := defaultCal(b)
	d := day(b, "2024-02-05")
	for b.Loop() {
		if _, err := InfoDue(c, d); err != nil {
			b.Fatal(err)
		}
	}
}
