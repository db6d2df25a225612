// Package batchfile reads a batch file: the 人员评聘信息采集表 (附件4 of the
// notice) a unit uploads to request many certificates at once, as a JSON
// array, a CSV file or an XLSX workbook with one appointment per row. The
// whole file is parsed and validated before anything is issued, and every
// problem is reported with the row and column the user sees, so one upload
// shows all there is to fix. It is outside input: every reader is fuzzed.
package batchfile

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"path"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/certseal/certseal/registry"
)

// Content types Parse accepts.
const (
	ContentTypeJSON = "application/json"
	ContentTypeCSV  = "text/csv"
	ContentTypeXLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
)

// Defaults for Limits fields left zero.
const (
	DefaultMaxRows  = 10000
	DefaultMaxBytes = 64 << 20
)

// SheetName is the XLSX sheet read when a workbook has one of this
// name; otherwise the first sheet is read.
const SheetName = "人员评聘信息采集表"

// maxHeaderRow: the header may sit below a few title lines (templates often
// start with a merged title row such as 人员评聘信息采集表), but not lower.
const maxHeaderRow = 10

// Limits bounds what Parse accepts and gives it the day to check
// against.
type Limits struct {
	MaxRows  int   // data rows; 0 means DefaultMaxRows
	MaxBytes int64 // size of the uploaded body; 0 means DefaultMaxBytes
	// Today is the day against which ID numbers and appointment days are
	// checked (required; pass the issuer's today so both agree).
	Today registry.Date
}

// RowError is one problem in one row of a batch file.
//
// Row counts as the user does: for CSV and XLSX it is the spreadsheet row
// number (the header row is usually row 1, so the first data row is row 2;
// title lines above the header count too), for JSON it is the index in the
// array plus one. Column is the column header as the user wrote it (for
// JSON the key). Reason never quotes the cell, which may be personal data.
type RowError struct {
	Row    int    `json:"row"`
	Column string `json:"column"`
	Reason string `json:"reason"`
}

// File is the rows of a batch file that passed validation, in file
// order. RowNumbers[i] is the row (counted as in RowError) of Rows[i].
type File struct {
	Rows       []registry.Appointment
	RowNumbers []int
	// Failed is the rows that have RowErrors, with what of them the
	// checks against the unit's records can still use, so that one pass
	// reports those problems too.
	Failed []FailedRow
	names  []*[numColumns]string // the column headers of each row
}

// FailedRow is a row with RowErrors. Series is its series as written, ""
// when that cell is one of its problems.
type FailedRow struct {
	Row                  int
	Series, SeriesColumn string
}

// Column is the header, as the user wrote it, of the column holding field
// (a JSON field name, as registry.FieldErr names it) in Rows[i], so that a
// problem found later (by signer.Issuer.Prepare, say) points at the user's column.
// Other fields are returned as they are.
func (f File) Column(i int, field string) string {
	for c := range numColumns {
		if c.field() == field && i >= 0 && i < len(f.names) {
			return f.names[i][c]
		}
	}
	return field
}

// Parse reads a batch file for unit unitID. contentType is the request's
// Content-Type (parameters such as charset are ignored; CSV encoding is
// detected).
//
// The returned error is about the file as a whole: an unsupported content
// type (registry code invalid, field "content_type"), a body over
// MaxBytes or more than MaxRows rows, a file that is not JSON, CSV or XLSX,
// a header with unknown, duplicated or missing columns (for JSON: an
// element that is not an object, an unknown or repeated key), no data rows
// (all registry code invalid, field "file"). Otherwise every row is parsed and
// checked with Appointment.Normalize, and every problem becomes a RowError;
// rows with none are returned in File. A batch must be issued only when
// there are no RowErrors. Photos are decoded but not checked: signer.Issuer.Prepare
// does that.
//
// The columns are registry.AppointmentFields (姓名 name, 性别 gender, ...,
// 照片 photo as base64 of a JPEG or PNG, and the optional deadline days):
// each (header cell, or the JSON key) may be given by its Chinese header or
// its JSON name, in any order. Dates are YYYY-MM-DD; CSV and XLSX also take
// 2023/7/1, 2023.7.1 and 2023年7月1日 (how spreadsheets show dates), and XLSX
// takes date cells. A spreadsheet's data ends at its first empty row, so
// notes below the table are ignored. Two rows with the same ID number,
// series, level and term start are an error on the later one. A JSON
// object may also carry unit_id if it is unitID.
func Parse(ctx context.Context, contentType string, body []byte, unitID int64, limits Limits) (File, []RowError, error) {
	if unitID <= 0 {
		return File{}, nil, errors.New("batchfile: Parse needs the unit id")
	}
	if limits.Today.IsZero() {
		return File{}, nil, errors.New("batchfile: Parse needs today's date")
	}
	if limits.MaxRows <= 0 {
		limits.MaxRows = DefaultMaxRows
	}
	if limits.MaxBytes <= 0 {
		limits.MaxBytes = DefaultMaxBytes
	}
	media, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		media = ""
	}
	if media != ContentTypeJSON && media != ContentTypeCSV && media != ContentTypeXLSX {
		return File{}, nil, registry.FieldErr("content_type",
			"a batch must be %s (JSON array), %s or %s (XLSX)", ContentTypeJSON, ContentTypeCSV, ContentTypeXLSX)
	}
	if int64(len(body)) > limits.MaxBytes {
		return File{}, nil, fileErr("the file is %d bytes; at most %d are accepted: split it", len(body), limits.MaxBytes)
	}
	if len(body) == 0 {
		return File{}, nil, fileErr("the file is empty")
	}

	var (
		recs      []sheetRecord
		parseDate = parseSheetDate
	)
	switch media {
	case ContentTypeJSON:
		recs, err = readJSONRows(ctx, body, unitID, limits.MaxRows)
		parseDate = parseJSONDate
	case ContentTypeCSV:
		recs, err = readCSVRows(ctx, body, limits.MaxRows)
	case ContentTypeXLSX:
		// Spreadsheet XML compresses well but base64 photos barely do; 4x
		// (at least 1 MiB, for a workbook's fixed parts) is room for a real
		// workbook and a cap on a zip bomb.
		recs, err = readXLSXRows(ctx, body, limits.MaxRows, max(4*limits.MaxBytes, 1<<20))
	}
	if err != nil {
		return File{}, nil, err
	}

	var (
		out     File
		rowErrs []RowError
		seen    = make(map[string]int, len(recs))
	)
	for i := range recs {
		if i%256 == 0 {
			if err := ctx.Err(); err != nil {
				return File{}, nil, err
			}
		}
		r := &recs[i]
		a, err := r.appointment(unitID, limits.Today, parseDate)
		if err != nil {
			return File{}, nil, err
		}
		if len(r.errs) == 0 {
			key := strings.Join([]string{a.IDNumber, a.Series, string(a.Level), a.TermFrom.String()}, "\x00")
			if first, dup := seen[key]; dup {
				r.fail(colIDNumber, fmt.Sprintf("repeats row %d (same %s, %s, %s and %s)", first,
					r.names[colIDNumber], r.names[colSeries], r.names[colLevel], r.names[colTermFrom]))
			} else {
				seen[key] = r.row
			}
		}
		if len(r.errs) > 0 {
			rowErrs = append(rowErrs, r.errs...)
			failed := FailedRow{Row: r.row, SeriesColumn: r.names[colSeries]}
			if !r.failed[colSeries] {
				failed.Series = a.Series
			}
			out.Failed = append(out.Failed, failed)
			continue
		}
		out.Rows = append(out.Rows, a)
		out.RowNumbers = append(out.RowNumbers, r.row)
		out.names = append(out.names, r.names)
	}
	return out, rowErrs, nil
}

// fileErr is a problem with the file as a whole.
func fileErr(format string, args ...any) error {
	return registry.FieldErr("file", format, args...)
}

// sheetColumn is one column of the batch file: registry.AppointmentFields
// in their order, the one list of an appointment's fields.
type sheetColumn int

const numColumns = sheetColumn(len(registry.AppointmentFields))

// Columns the checks here name.
var (
	colIDNumber         = columnNamed("id_number")
	colSeries           = columnNamed("series")
	colLevel            = columnNamed("level")
	colTermFrom         = columnNamed("term_from")
	colPhoto            = columnNamed("photo")
	colAppraisalEndedOn = columnNamed("appraisal_ended_on")
)

func columnNamed(name string) sheetColumn {
	for c := range numColumns {
		if c.field() == name {
			return c
		}
	}
	panic("batchfile: registry.AppointmentFields has no " + name)
}

func (c sheetColumn) spec() registry.AppointmentField { return registry.AppointmentFields[c] }

// optional columns may be left out of the header, and their cells empty.
func (c sheetColumn) optional() bool { return c.spec().Optional }

// field is the JSON name, which is also how registry.FieldErr names it.
func (c sheetColumn) field() string { return c.spec().Name }

// header is the Chinese column header, as on the certificate.
func (c sheetColumn) header() string { return c.spec().Header }

func (c sheetColumn) isDate() bool { return c.spec().Kind == registry.FieldDate }

// describe names the column both ways, for messages.
func (c sheetColumn) describe() string { return c.header() + " (" + c.field() + ")" }

// isHeaderPadding: spaces, byte order marks, and the stars templates put
// on required columns.
func isHeaderPadding(r rune) bool {
	return unicode.IsSpace(r) || r == '\uFEFF' || r == '\u200B' || r == '*' || r == '＊'
}

// trimHeader is the header as the user wrote it, without padding.
func trimHeader(s string) string { return strings.TrimFunc(s, isHeaderPadding) }

// columnOf finds the column a header names. Spaces inside are ignored
// (forms pad two-character headers: 姓  名) and full-width brackets equal
// ASCII ones.
func columnOf(h string) (sheetColumn, bool) {
	k := strings.Map(func(r rune) rune {
		switch {
		case isHeaderPadding(r):
			return -1
		case r == '（':
			return '('
		case r == '）':
			return ')'
		case r < utf8.RuneSelf:
			return unicode.ToLower(r)
		}
		return r
	}, h)
	switch k {
	case "身份证号码", "公民身份号码":
		return colIDNumber, true
	case "职称系列(专业)名称", "职称系列(专业)":
		return colSeries, true
	}
	for c := range numColumns {
		if k == c.field() || k == c.header() {
			return c, true
		}
	}
	return 0, false
}

func expectedColumns() string {
	var all []string
	for c := range numColumns {
		all = append(all, c.describe())
	}
	return strings.Join(all, ", ")
}

// sheetRecord is one data row as read, before validation.
type sheetRecord struct {
	row   int
	names *[numColumns]string // the column headers as the user wrote them
	cells [numColumns]string  // trimmed text
	errs  []RowError
	// failed marks columns already reported, so that Normalize's verdict
	// on the same field (often just "is required") is not added twice.
	failed [numColumns]bool
}

func (r *sheetRecord) fail(c sheetColumn, reason string) {
	r.failed[c] = true
	column := r.names[c]
	if column == "" { // an optional column the file leaves out
		column = c.header()
	}
	r.errs = append(r.errs, RowError{Row: r.row, Column: column, Reason: reason})
}

// appointment turns the record into an Appointment, adding every problem to
// r.errs. Normalize stops at the first problem it finds; checks made here
// first (empty cells, dates, photo) let one row report several.
func (r *sheetRecord) appointment(unitID int64, today registry.Date, parseDate func(string) (registry.Date, string)) (registry.Appointment, error) {
	for c := range numColumns {
		if r.cells[c] == "" && !r.failed[c] && !c.optional() {
			r.fail(c, "is required")
		}
	}
	date := func(c sheetColumn) registry.Date {
		if r.failed[c] || r.cells[c] == "" {
			return registry.Date{}
		}
		d, problem := parseDate(r.cells[c])
		if problem != "" {
			r.fail(c, problem)
		}
		return d
	}
	a := registry.Appointment{UnitID: unitID}
	for c := range numColumns {
		switch p := c.spec().Addr(&a).(type) {
		case *registry.Date:
			*p = date(c)
		case *[]byte: // the photo, decoded below
		default: // text: string, registry.Gender, registry.Level
			reflect.ValueOf(p).Elem().SetString(r.cells[c])
		}
	}
	if !r.failed[colIDNumber] && strings.ContainsAny(a.IDNumber, "Ee") && strings.Contains(a.IDNumber, "+") {
		r.fail(colIDNumber, "was saved as a number (like 1.10105E+17), which loses digits and the final X: format the column as text and type the numbers again")
	}
	if !r.failed[colPhoto] {
		var ok bool
		if a.Photo, ok = decodeBase64Photo(r.cells[colPhoto]); !ok {
			r.fail(colPhoto, "must be the base64 text of a JPEG or PNG image")
		}
	}
	n, err := a.Normalize(today)
	if err == nil {
		return n, nil
	}
	var re *registry.Error
	if !errors.As(err, &re) || re.Field == "" {
		return a, fmt.Errorf("batchfile: row %d: %w", r.row, err)
	}
	for c := range numColumns {
		if c.field() == re.Field {
			if !r.failed[c] {
				r.fail(c, re.Msg)
			}
			return a, nil
		}
	}
	r.errs = append(r.errs, RowError{Row: r.row, Column: re.Field, Reason: re.Msg})
	return a, nil
}

// decodeBase64Photo accepts standard base64 with or without padding, with
// line breaks, and as a data: URL.
func decodeBase64Photo(s string) ([]byte, bool) {
	if strings.HasPrefix(s, "data:") {
		if _, after, ok := strings.Cut(s, ";base64,"); ok {
			s = after
		}
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	return b, err == nil && len(b) > 0
}

// parseJSONDate: the API's one date form.
func parseJSONDate(s string) (registry.Date, string) {
	d, err := registry.ParseDate(s)
	if err != nil {
		return d, "must be a date YYYY-MM-DD"
	}
	return d, ""
}

// parseSheetDate also takes the forms a spreadsheet shows and saves in CSV
// (Chinese Windows shows 2023/7/1).
func parseSheetDate(s string) (registry.Date, string) {
	for _, layout := range []string{"2006-1-2", "2006/1/2", "2006.1.2", "2006年1月2日"} {
		if t, err := time.Parse(layout, s); err == nil {
			return registry.DateOf(t), ""
		}
	}
	return registry.Date{}, "must be a date such as 2023-07-01 or 2023/7/1"
}

// readJSONRows reads an array of objects whose keys are column names.
func readJSONRows(ctx context.Context, body []byte, unitID int64, maxRows int) ([]sheetRecord, error) {
	dec := json.NewDecoder(bytes.NewReader(bytes.TrimPrefix(body, []byte("\uFEFF"))))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('[') {
		return nil, fileErr("JSON must be an array of objects, one per certificate")
	}
	var recs []sheetRecord
	for dec.More() {
		if len(recs) == maxRows {
			return nil, fileErr("more than %d rows: split the file", maxRows)
		}
		if len(recs)%256 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, jsonSyntaxErr(err)
		}
		r, err := jsonRecord(len(recs)+1, raw, unitID)
		if err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	if _, err := dec.Token(); err != nil {
		return nil, jsonSyntaxErr(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fileErr("unexpected data after the JSON array")
	}
	if len(recs) == 0 {
		return nil, fileErr("the array has no rows")
	}
	return recs, nil
}

// jsonSyntaxErr says where the JSON breaks without quoting it: the file
// holds personal data, and errors are logged.
func jsonSyntaxErr(err error) error {
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return fileErr("not valid JSON (at byte %d)", se.Offset)
	}
	return fileErr("not valid JSON (it ends too early)")
}

// jsonRecord reads one element of the array. Its keys are the file's
// header, so an unknown or repeated key is an error about the file (a
// program that adds one adds it to every row). unit_id, which the batch
// request gives, may be repeated from the single-certificate request body
// if it agrees.
func jsonRecord(row int, raw json.RawMessage, unitID int64) (sheetRecord, error) {
	r := sheetRecord{row: row, names: new([numColumns]string)}
	for c := range numColumns {
		r.names[c] = c.field()
	}
	var obj map[string]json.RawMessage
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &obj) != nil {
		return r, fileErr("row %d is not an object: the array must hold one object per certificate", row)
	}
	var (
		given          [numColumns]bool
		unknown, twice []string
	)
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		c, ok := columnOf(k)
		switch {
		case k == "unit_id":
			var id int64
			if json.Unmarshal(obj[k], &id) != nil || id != unitID {
				r.errs = append(r.errs, RowError{Row: row, Column: k, Reason: "is not the unit of this batch"})
			}
			continue
		case !ok:
			unknown = append(unknown, k)
			continue
		case given[c]:
			twice = append(twice, r.names[c]+" and "+k)
			continue
		}
		given[c] = true
		r.names[c] = k
		var s *string
		if err := json.Unmarshal(obj[k], &s); err != nil {
			r.fail(c, "must be a string")
		} else if s != nil {
			r.cells[c] = strings.TrimSpace(*s)
		}
	}
	if err := columnProblems(fmt.Sprintf("row %d", row), unknown, twice, nil); err != nil {
		return r, err
	}
	return r, nil
}

// sheetRows yields the rows of a spreadsheet in order: the row number the
// user sees and the cell texts (untrimmed). ok is false at the end.
type sheetRows func() (row int, cells []string, ok bool, err error)

// sheetTable is a spreadsheet's header and data rows.
type sheetTable struct {
	names   *[numColumns]string // as the user wrote them
	index   [numColumns]int     // cell index of each column
	recs    []sheetRecord
	lastRow int
}

// readTable finds the header (the first row naming a known column, within
// the first maxHeaderRow rows), checks it, and reads data rows up to the
// first empty row. Below it notes may follow (填表说明, one cell a row),
// but a row that looks like data is refused, not ignored: a stray empty
// line inside the table would otherwise drop every row after it without a
// word.
func readTable(ctx context.Context, next sheetRows, maxRows int) (sheetTable, error) {
	var (
		t          sheetTable
		headerRow  int
		headers    []string
		sawAnyCell bool
	)
	for headerRow == 0 {
		row, cells, ok, err := next()
		if err != nil {
			return t, err
		}
		empty := allEmpty(cells)
		sawAnyCell = sawAnyCell || !empty
		if !ok || row > maxHeaderRow {
			if !sawAnyCell {
				return t, fileErr("the file is empty")
			}
			return t, fileErr("no header row in the first %d rows: expected the columns %s", maxHeaderRow, expectedColumns())
		}
		for _, h := range cells {
			if _, known := columnOf(h); known {
				headerRow, headers = row, slices.Clone(cells)
				break
			}
		}
	}
	if err := t.setHeader(headers); err != nil {
		return t, err
	}
	t.lastRow = headerRow
	for {
		row, cells, ok, err := next()
		if err != nil {
			return t, err
		}
		if !ok {
			break
		}
		if row != t.lastRow+1 || allEmpty(cells) {
			if err := t.noDataBelow(ctx, t.lastRow+1, row, cells, next); err != nil {
				return t, err
			}
			break
		}
		if len(t.recs) == maxRows {
			return t, fileErr("more than %d rows: split the file", maxRows)
		}
		if len(t.recs)%256 == 0 {
			if err := ctx.Err(); err != nil {
				return t, err
			}
		}
		r := sheetRecord{row: row, names: t.names}
		for i, v := range cells {
			c := slices.Index(t.index[:], i)
			if c < 0 {
				if strings.TrimSpace(v) != "" {
					// A value off the header is a shifted row (an unquoted
					// comma, a pasted block): no cell of it can be trusted.
					col, _ := excelize.ColumnNumberToName(i + 1)
					return t, fileErr("row %d has a value in column %s, which has no header", row, col)
				}
				continue
			}
			r.cells[c] = strings.TrimSpace(v)
		}
		t.recs = append(t.recs, r)
		t.lastRow = row
	}
	if len(t.recs) == 0 {
		return t, fileErr("no data rows below the header (data ends at the first empty row)")
	}
	return t, nil
}

// noDataBelow checks that no row from row on (cells is row's) has values
// in two or more of the table's columns, as a data row has and a note
// does not: the table ended at the empty row end.
func (t *sheetTable) noDataBelow(ctx context.Context, end, row int, cells []string, next sheetRows) error {
	for n := 0; ; n++ {
		values := 0
		for _, i := range t.index {
			if i >= 0 && i < len(cells) && strings.TrimSpace(cells[i]) != "" {
				values++
			}
		}
		if values >= 2 {
			return fileErr("row %d has data below row %d, which is empty and ends the table: remove the empty rows inside the table and anything written below it", row, end)
		}
		if n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		var ok bool
		var err error
		if row, cells, ok, err = next(); err != nil || !ok {
			return err
		}
	}
}

func (t *sheetTable) setHeader(cells []string) error {
	var unknown, twice, missing []string
	t.names = new([numColumns]string)
	for c := range numColumns {
		t.index[c] = -1
	}
	for i, h := range cells {
		h = trimHeader(h)
		if h == "" {
			continue
		}
		c, ok := columnOf(h)
		switch {
		case !ok:
			unknown = append(unknown, h)
		case t.index[c] >= 0:
			twice = append(twice, t.names[c]+" and "+h)
		default:
			t.names[c], t.index[c] = h, i
		}
	}
	for c := range numColumns {
		if t.index[c] < 0 && !c.optional() {
			missing = append(missing, c.describe())
		}
	}
	return columnProblems("header", unknown, twice, missing)
}

// columnProblems is the error, if any, about the columns in where.
func columnProblems(where string, unknown, twice, missing []string) error {
	var problems []string
	for _, p := range []struct {
		what  string
		names []string
	}{{"unknown columns", unknown}, {"columns given twice", twice}, {"missing columns", missing}} {
		if len(p.names) > 0 {
			problems = append(problems, p.what+": "+shortList(p.names))
		}
	}
	if len(problems) > 0 {
		return fileErr("%s: %s", where, strings.Join(problems, "; "))
	}
	return nil
}

// shortList joins names, cut short: a header is user input and can be long.
func shortList(names []string) string {
	const maxNames, maxRunes = 15, 40
	var parts []string
	for _, n := range names[:min(len(names), maxNames)] {
		if r := []rune(n); len(r) > maxRunes {
			n = string(r[:maxRunes]) + "…"
		}
		parts = append(parts, n)
	}
	if len(names) > maxNames {
		parts = append(parts, fmt.Sprintf("and %d more", len(names)-maxNames))
	}
	return strings.Join(parts, ", ")
}

func allEmpty(cells []string) bool {
	for _, v := range cells {
		if strings.TrimSpace(v) != "" {
			return false
		}
	}
	return true
}

// readCSVRows reads CSV in UTF-8 (with or without a BOM) or, failing that,
// GB18030: Excel on Chinese Windows saves "CSV" in the ANSI code page, GBK,
// which GB18030 contains.
func readCSVRows(ctx context.Context, body []byte, maxRows int) ([]sheetRecord, error) {
	switch {
	case isZip(body):
		return nil, fileErr("this is an XLSX workbook, not CSV: send it as %s", ContentTypeXLSX)
	case isOLE(body):
		return nil, fileErr("this is an old .xls workbook, not CSV: save it as CSV or .xlsx")
	case bytes.HasPrefix(body, []byte{0xFF, 0xFE}), bytes.HasPrefix(body, []byte{0xFE, 0xFF}):
		return nil, fileErr("the file is UTF-16 text: save it as CSV (UTF-8 or the Chinese ANSI encoding)")
	}
	text := bytes.TrimPrefix(body, []byte("\uFEFF"))
	if !utf8.Valid(text) {
		dec, err := simplifiedchinese.GB18030.NewDecoder().Bytes(text)
		if err != nil || bytes.ContainsRune(dec, utf8.RuneError) {
			return nil, fileErr("the file is neither UTF-8 nor GB18030 (GBK) text")
		}
		text = dec
	}
	cr := csv.NewReader(bytes.NewReader(text))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	// A quoted cell can span lines; the spreadsheet row is the record's
	// first line less the line breaks inside earlier records.
	inner := 0
	next := func() (int, []string, bool, error) {
		rec, err := cr.Read()
		if err == io.EOF {
			return 0, nil, false, nil
		}
		if err != nil {
			// The position and the kind of fault, never the text.
			if pe, ok := errors.AsType[*csv.ParseError](err); ok {
				return 0, nil, false, fileErr("not valid CSV: line %d, column %d: %v", pe.Line, pe.Column, pe.Err)
			}
			return 0, nil, false, fileErr("not valid CSV")
		}
		line, _ := cr.FieldPos(0)
		row := line - inner
		for _, v := range rec {
			inner += strings.Count(v, "\n")
		}
		return row, rec, true, nil
	}
	t, err := readTable(ctx, next, maxRows)
	return t.recs, err
}

func isZip(b []byte) bool { return bytes.HasPrefix(b, []byte("PK\x03\x04")) }

// isOLE: an old .xls, or an .xlsx encrypted with a password.
func isOLE(b []byte) bool {
	return bytes.HasPrefix(b, []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1})
}

// readXLSXRows reads the batch sheet of a workbook. unzipLimit caps the
// unpacked size of the workbook's parts.
//
// Values come from excelize's streaming row reader. Cell types (is the ID
// number a number cell, is a date a date cell) come from a second stream
// over the sheet's XML: excelize's per-cell getters load the whole sheet
// and fill every row out to its last cell, so one cell at column XFD per
// row would make a few kilobytes of XML take gigabytes.
func readXLSXRows(ctx context.Context, body []byte, maxRows int, unzipLimit int64) ([]sheetRecord, error) {
	if isOLE(body) {
		return nil, fileErr("this is an old .xls workbook or a password-protected one: save it as .xlsx without a password")
	}
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		return nil, fileErr("not an XLSX workbook (not a zip file)")
	}
	// archive/zip refuses a member longer than it declares, so the sum of
	// declared sizes bounds what unpacking can take. (excelize checks too,
	// but its error does not say so.)
	var unpacked uint64
	for _, f := range zr.File {
		unpacked += f.UncompressedSize64
		if f.UncompressedSize64 > uint64(unzipLimit) || unpacked > uint64(unzipLimit) {
			return nil, fileErr("the workbook unpacks to more than %d bytes", unzipLimit)
		}
	}
	f, err := excelize.OpenReader(bytes.NewReader(body), excelize.Options{
		RawCellValue: true, UnzipSizeLimit: unzipLimit, UnzipXMLSizeLimit: unzipLimit,
	})
	if err != nil {
		return nil, fileErr("not a readable XLSX workbook")
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if len(sheets) == 0 {
		return nil, fileErr("the workbook has no sheets")
	}
	sheet := sheets[0]
	if slices.Contains(sheets, SheetName) {
		sheet = SheetName
	}
	props, err := f.GetWorkbookProps()
	if err != nil {
		return nil, fileErr("not a readable XLSX workbook")
	}
	date1904 := props.Date1904 != nil && *props.Date1904

	rows, err := f.Rows(sheet)
	if err != nil {
		return nil, fileErr("cannot read sheet %q", sheet)
	}
	defer rows.Close()
	n := 0
	next := func() (int, []string, bool, error) {
		if !rows.Next() {
			if err := rows.Error(); err != nil {
				return 0, nil, false, fileErr("cannot read sheet %q", sheet)
			}
			return 0, nil, false, nil
		}
		n++
		cells, err := rows.Columns()
		if err != nil {
			return 0, nil, false, fileErr("cannot read sheet %q", sheet)
		}
		return n, cells, true, nil
	}
	t, tableErr := readTable(ctx, next, maxRows)

	// excelize's row reader ends quietly at broken XML, which would read
	// as the end of the data; the type pass reads one row further, or the
	// header rows after a failure, and reports it.
	part, err := xlsxSheetPart(zr, sheet, unzipLimit)
	if err != nil {
		return nil, fileErr("cannot find sheet %q", sheet)
	}
	first, last, cols := 1, maxHeaderRow, []int(nil)
	if tableErr == nil {
		first, last = t.recs[0].row, t.lastRow+1
		for _, i := range t.index {
			cols = append(cols, i+1)
		}
	}
	kinds, err := xlsxCellKinds(part, first, last, cols, unzipLimit)
	if err != nil {
		return nil, fileErr("cannot read sheet %q: its XML is broken", sheet)
	}
	if tableErr != nil {
		return nil, tableErr
	}
	for i := range t.recs {
		r := &t.recs[i]
		for c := range numColumns {
			if r.cells[c] == "" {
				continue
			}
			switch kinds[cellAt{r.row, t.index[c] + 1}] {
			case "n": // a number cell: ID numbers lose digits, dates are serial numbers
				switch {
				case c == colIDNumber:
					r.fail(c, "must be a text cell: as a number it loses digits and the final X; format the column as text (文本) and type the numbers again")
				case c.isDate():
					d, ok := excelSerialDate(r.cells[c], date1904)
					if !ok {
						r.fail(c, "must be a date")
					}
					r.cells[c] = d.String()
				}
			case "d": // ISO 8601 date cell
				if c.isDate() {
					r.cells[c], _, _ = strings.Cut(r.cells[c], "T")
				}
			case "e":
				r.fail(c, "holds an Excel error value such as #N/A")
			case "b":
				r.fail(c, "holds TRUE/FALSE, not text")
			}
		}
	}
	return t.recs, nil
}

// excelSerialDate converts an Excel date serial number to a day.
func excelSerialDate(s string, date1904 bool) (registry.Date, bool) {
	v, err := strconv.ParseFloat(s, 64)
	// 2958465 is 9999-12-31, Excel's last day.
	if err != nil || v < 1 || v > 2958465 {
		return registry.Date{}, false
	}
	t, err := excelize.ExcelDateToTime(v, date1904)
	if err != nil {
		return registry.Date{}, false
	}
	return registry.DateOf(t), true
}

// cellAt is a 1-based (row, column) position.
type cellAt struct{ row, col int }

// xlsxCellKinds streams a sheet part up to row last and returns the type
// attribute ("t", "n" when absent) of the cells in rows first..last and
// columns cols that are not strings; a missing entry is a string cell ("s",
// "inlineStr" or a formula's "str").
func xlsxCellKinds(part *zip.File, first, last int, cols []int, limit int64) (map[cellAt]string, error) {
	rc, err := part.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	dec := xml.NewDecoder(io.LimitReader(rc, limit))
	kinds := make(map[cellAt]string)
	row, col := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return kinds, nil
		}
		if err != nil {
			return nil, err
		}
		el, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch el.Name.Local {
		case "row":
			row, col = row+1, 0
			if r := xmlAttr(el, "r"); r != "" {
				if row, err = strconv.Atoi(r); err != nil {
					return nil, err
				}
			}
			if row > last {
				return kinds, nil
			}
		case "c":
			col++
			if r := xmlAttr(el, "r"); r != "" {
				if col, _, err = excelize.CellNameToCoordinates(r); err != nil {
					return nil, err
				}
			}
			t := xmlAttr(el, "t")
			if t == "" {
				t = "n" // the default type
			}
			if row >= first && t != "s" && t != "inlineStr" && t != "str" && slices.Contains(cols, col) {
				kinds[cellAt{row, col}] = t
			}
		}
	}
}

func xmlAttr(el xml.StartElement, name string) string {
	for _, a := range el.Attr {
		if a.Name.Local == name && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}

// xlsxSheetPart finds the zip member holding the named sheet: the package
// relationships name the workbook, the workbook names the sheet's
// relationship id, the workbook's relationships name the part.
func xlsxSheetPart(zr *zip.Reader, sheet string, limit int64) (*zip.File, error) {
	files := make(map[string]*zip.File, len(zr.File))
	for _, f := range zr.File {
		files[strings.ReplaceAll(f.Name, `\`, "/")] = f
	}
	readXML := func(name string, v any) error {
		f, ok := files[name]
		if !ok {
			return fmt.Errorf("no part %s", name)
		}
		rc, err := f.Open()
		if err != nil {
			return err
		}
		defer rc.Close()
		return xml.NewDecoder(io.LimitReader(rc, limit)).Decode(v)
	}
	type rels struct {
		Rel []struct {
			ID     string `xml:"Id,attr"`
			Type   string `xml:"Type,attr"`
			Target string `xml:"Target,attr"`
		} `xml:"Relationship"`
	}
	target := func(base, t string) string {
		if strings.HasPrefix(t, "/") {
			return strings.TrimPrefix(t, "/")
		}
		return path.Join(path.Dir(base), t)
	}

	workbook := "xl/workbook.xml"
	var root rels
	if readXML("_rels/.rels", &root) == nil {
		for _, r := range root.Rel {
			if strings.HasSuffix(r.Type, "/officeDocument") {
				workbook = target("", r.Target)
			}
		}
	}
	var wb struct {
		Sheets []struct {
			Name  string     `xml:"name,attr"`
			Attrs []xml.Attr `xml:",any,attr"`
		} `xml:"sheets>sheet"`
	}
	if err := readXML(workbook, &wb); err != nil {
		return nil, err
	}
	rid := ""
	for _, s := range wb.Sheets {
		if s.Name != sheet {
			continue
		}
		for _, a := range s.Attrs {
			// r:id, in the transitional or the strict relationships namespace
			if a.Name.Local == "id" && a.Name.Space != "" {
				rid = a.Value
			}
		}
	}
	var wbRels rels
	if err := readXML(path.Join(path.Dir(workbook), "_rels", path.Base(workbook)+".rels"), &wbRels); err != nil {
		return nil, err
	}
	for _, r := range wbRels.Rel {
		if r.ID == rid && rid != "" {
			if f, ok := files[target(workbook, r.Target)]; ok {
				return f, nil
			}
		}
	}
	return nil, fmt.Errorf("no part for sheet %q", sheet)
}
