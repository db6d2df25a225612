package workday

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/certseal/certseal/registry"
)

// yearFile is one year of data, as written in <year>.json:
//
//	{"year": 2024,
//	 "source": "国务院办公厅关于2024年部分节假日安排的通知（国办发明电〔2023〕7号）",
//	 "holidays": ["2024-01-01", ...],   // every day off that falls Monday to Friday
//	 "workdays": ["2024-02-04", ...]}   // every Saturday or Sunday that is a working day
//
// Weekend days inside a holiday are not listed: they are off anyway.
type yearFile struct {
	year     int
	source   string
	holidays []registry.Date
	workdays []registry.Date
}

// parseYearFile reads and checks the file called name (its base name must be
// "<year>.json"). It is strict, because a mistake here moves legal deadlines
// silently: every key once, no unknown key (encoding/json would ignore a
// misspelt one and take the last of two), dates in the file's year, holidays
// on weekdays, workdays on weekends, no day twice.
func parseYearFile(name string, b []byte) (yearFile, error) {
	y, err := decodeYearFile(b)
	if err == nil {
		err = y.check(name)
	}
	if err != nil {
		return yearFile{}, &registry.Error{Code: registry.CodeInvalid, Msg: name, Err: err}
	}
	return y, nil
}

func decodeYearFile(b []byte) (yearFile, error) {
	var y yearFile
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := expectDelim(dec, '{'); err != nil {
		return y, err
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return y, err
		}
		key, _ := tok.(string) // inside an object the decoder yields only string keys here
		if seen[key] {
			return y, fmt.Errorf("key %q appears twice", key)
		}
		seen[key] = true
		switch key {
		case "year":
			err = dec.Decode(&y.year)
		case "source":
			err = dec.Decode(&y.source)
		case "holidays":
			y.holidays, err = decodeDates(dec, key)
		case "workdays":
			y.workdays, err = decodeDates(dec, key)
		default:
			return y, fmt.Errorf("unknown key %q (want year, source, holidays, workdays)", key)
		}
		if err != nil {
			return y, fmt.Errorf("%s: %w", key, err)
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return y, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return y, errors.New("data after the closing brace")
	}
	for _, k := range []string{"year", "source", "holidays", "workdays"} {
		if !seen[k] {
			return y, fmt.Errorf("key %q is missing", k)
		}
	}
	return y, nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != want {
		return fmt.Errorf("want %q, found %v", want, tok)
	}
	return nil
}

func decodeDates(dec *json.Decoder, key string) ([]registry.Date, error) {
	var ss []string
	if err := dec.Decode(&ss); err != nil {
		return nil, err
	}
	ds := make([]registry.Date, len(ss))
	for i, s := range ss {
		d, err := registry.ParseDate(s)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", key, i, err)
		}
		ds[i] = d
	}
	return ds, nil
}

func (y yearFile) check(name string) error {
	if y.year < 1000 || y.year > 9999 {
		return fmt.Errorf("year %d is not a four-digit year", y.year)
	}
	if want := strconv.Itoa(y.year) + ".json"; name != want {
		return fmt.Errorf("data for %d must be in a file named %s", y.year, want)
	}
	if y.source == "" {
		return errors.New(`"source" must name the State Council notice the data follows`)
	}
	if len(y.holidays) == 0 {
		return errors.New("no holidays: every year has public holidays that fall on weekdays")
	}
	seen := map[registry.Date]string{}
	for _, l := range []struct {
		key     string
		days    []registry.Date
		weekend bool // where the days of this list must fall
		why     string
	}{
		{"holidays", y.holidays, false, "list only days off that fall Monday to Friday"},
		{"workdays", y.workdays, true, "list only Saturdays and Sundays that are working days"},
	} {
		for _, d := range l.days {
			if d.Year != y.year {
				return fmt.Errorf("%s: %s is not in %d", l.key, d, y.year)
			}
			if prev, ok := seen[d]; ok {
				return fmt.Errorf("%s: %s is already in %s", l.key, d, prev)
			}
			seen[d] = l.key
			if isWeekend(d) != l.weekend {
				return fmt.Errorf("%s: %s is a %s; %s", l.key, d, d.Time().Weekday(), l.why)
			}
		}
	}
	return nil
}
