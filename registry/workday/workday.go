// Package workday is the working-day calendar of mainland China — weekends,
// the public holidays and the make-up working days (调休) that the State
// Council General Office announces each year — and the deadlines of the
// notice (鲁人社字〔2023〕49号, 威人社函〔2023〕26号) counted on it.
//
// The calendar knows only the years it has data for. A question that needs
// any other year is an error naming the missing file, never a guess: the
// answers fix legal deadlines.
//
// Data is one JSON file per year, shipped in data/ and embedded; an operator
// adds or replaces years with Load, without a rebuild. The notice for year
// Y+1 is published in the autumn of Y and may, in principle, move days of
// late December of Y; such days belong in Y's file, which is then replaced.
package workday

import (
	"embed"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/certseal/certseal/registry"
)

//go:embed data/*.json
var shipped embed.FS

// Calendar answers questions about working days. It is immutable once built
// and safe for concurrent use.
type Calendar struct {
	sources map[int]string         // year → the notice its data follows
	except  map[registry.Date]bool // true: a weekend working day; false: a weekday off
	dir     string                 // the operator's directory, named in "no data" errors
}

// Default is the calendar of the years shipped with certseal.
func Default() (*Calendar, error) { return Load("") }

// Load is the shipped calendar with every <year>.json of dir laid over it: a
// file replaces the shipped data of its year as a whole (so a day can also be
// taken out), or adds a year. Files not ending in .json are ignored; a .json
// file must be named for its year. An empty dir means the shipped calendar
// alone.
func Load(dir string) (*Calendar, error) {
	years, err := readYears(shipped, "data")
	if err != nil {
		return nil, fmt.Errorf("shipped working-day data: %w", err)
	}
	if dir != "" {
		extra, err := readYears(os.DirFS(dir), ".")
		if err != nil {
			return nil, fmt.Errorf("working-day directory %s: %w", dir, err)
		}
		years = append(years, extra...) // after the shipped ones: they win
	}
	byYear := map[int]yearFile{}
	for _, y := range years {
		byYear[y.year] = y
	}
	c := &Calendar{sources: map[int]string{}, except: map[registry.Date]bool{}, dir: dir}
	for _, y := range byYear {
		c.sources[y.year] = y.source
		for _, d := range y.holidays {
			c.except[d] = false
		}
		for _, d := range y.workdays {
			c.except[d] = true
		}
	}
	return c, nil
}

// maxFileSize bounds what is read of one operator file; a real year is about
// one kilobyte.
const maxFileSize = 64 << 10

// readYears parses every *.json directly in dir of fsys, in name order.
func readYears(fsys fs.FS, dir string) ([]yearFile, error) {
	entries, err := fs.ReadDir(fsys, dir) // unlike fs.Glob, reports a missing directory
	if err != nil {
		return nil, err
	}
	var years []yearFile
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := readLimited(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		y, err := parseYearFile(e.Name(), b)
		if err != nil {
			return nil, err
		}
		years = append(years, y)
	}
	return years, nil
}

func readLimited(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFileSize {
		return nil, registry.Errf(registry.CodeInvalid, "%s: larger than %d bytes", name, maxFileSize)
	}
	return b, nil
}

// Years lists the years the calendar has data for, in order. Operators check
// it before a year ends: the next year's notice must be added in time.
func (c *Calendar) Years() []int {
	ys := make([]int, 0, len(c.sources))
	for y := range c.sources {
		ys = append(ys, y)
	}
	slices.Sort(ys)
	return ys
}

// IsWorkday reports whether d is a working day.
func (c *Calendar) IsWorkday(d registry.Date) (bool, error) {
	if err := checkDate(d); err != nil {
		return false, err
	}
	return c.isWorkday(d)
}

func (c *Calendar) isWorkday(d registry.Date) (bool, error) {
	if _, ok := c.sources[d.Year]; !ok {
		return false, c.noData(d.Year)
	}
	if w, ok := c.except[d]; ok {
		return w, nil
	}
	return !isWeekend(d), nil
}

// AddWorkdays is the n-th working day after d (d itself is not counted, as
// with every period in Chinese law); n = 0 gives d. Only the days after d
// need data.
func (c *Calendar) AddWorkdays(d registry.Date, n int) (registry.Date, error) {
	if err := checkDate(d); err != nil {
		return registry.Date{}, err
	}
	if n < 0 {
		return registry.Date{}, registry.Errf(registry.CodeInvalid, "number of working days must not be negative, got %d", n)
	}
	for n > 0 {
		d = d.AddDate(0, 0, 1)
		w, err := c.isWorkday(d)
		if err != nil {
			return registry.Date{}, err
		}
		if w {
			n--
		}
	}
	return d, nil
}

// WorkdaysBetween counts the working days after a up to and including b, so
// that WorkdaysBetween(d, AddWorkdays(d, n)) == n. When b is before a the
// count is negative: -WorkdaysBetween(b, a).
func (c *Calendar) WorkdaysBetween(a, b registry.Date) (int, error) {
	if err := checkDate(a); err != nil {
		return 0, err
	}
	if err := checkDate(b); err != nil {
		return 0, err
	}
	sign := 1
	if b.Before(a) {
		a, b, sign = b, a, -1
	}
	n := 0
	for d := a.AddDate(0, 0, 1); !d.After(b); d = d.AddDate(0, 0, 1) {
		w, err := c.isWorkday(d)
		if err != nil {
			return 0, err
		}
		if w {
			n++
		}
	}
	return sign * n, nil
}

// MissingYearError is the cause of every answer that needed a year the
// calendar has no data for (inside a registry.Error with CodeInvalid).
type MissingYearError struct {
	Year int
	Dir  string // the operator's directory, "" when only shipped data is used
}

func (e *MissingYearError) Error() string {
	where := "the working-day directory"
	if e.Dir != "" {
		where = e.Dir
	}
	return fmt.Sprintf("working-day calendar has no data for %d; add %d.json (from the State Council's holiday notice for %d) to %s",
		e.Year, e.Year, e.Year, where)
}

func (c *Calendar) noData(year int) error {
	return &registry.Error{Code: registry.CodeInvalid, Err: &MissingYearError{Year: year, Dir: c.dir}}
}

// checkDate refuses zero and impossible days (a registry.Date built in code
// is not checked the way ParseDate checks input).
func checkDate(d registry.Date) error {
	if d.IsZero() || d.AddDate(0, 0, 0) != d {
		return registry.Errf(registry.CodeInvalid, "%04d-%02d-%02d is not a calendar day", d.Year, int(d.Month), d.Day)
	}
	return nil
}

func isWeekend(d registry.Date) bool {
	wd := d.Time().Weekday()
	return wd == time.Saturday || wd == time.Sunday
}
