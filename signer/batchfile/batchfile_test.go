package batchfile

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/certseal/certseal/registry"
)

// Columns the tests fill, besides those the parser names itself.
var (
	colName        = columnNamed("name")
	colPost        = columnNamed("post")
	colTermTo      = columnNamed("term_to")
	colAppointedOn = columnNamed("appointed_on")
)

func batchToday() registry.Date { return registry.Date{Year: 2026, Month: time.January, Day: 15} }

func testLimits() Limits { return Limits{Today: batchToday()} }

// batchID completes 17 digits with the GB 11643 check character.
func batchID(first17 string) string {
	weights := []int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i, w := range weights {
		sum += int(first17[i]-'0') * w
	}
	return first17 + string("10X98765432"[sum%11])
}

// batchPersonID is a valid ID number of a man (odd 17th digit) born in
// 1970 or later, distinct for each n < 500*3650.
func batchPersonID(n int) string {
	birth := time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, n/500)
	return batchID(fmt.Sprintf("370102%s%03d", birth.Format("20060102"), n%500*2+1))
}

var batchPhoto = []byte("\xff\xd8\xff\xe0 not checked here")

// batchRow is a valid row as cell texts, by JSON name.
func batchRow(id string) map[string]string {
	return map[string]string{
		"name": "张三", "gender": "男", "id_number": id, "series": "高校教师",
		"specialty": "计算机科学与技术", "level": "副高级", "post": "副教授",
		"term_from": "2024-01-01", "term_to": "2028-12-31", "committee": "山东大学高校教师职称评聘委员会",
		"publication_number": "鲁大人字〔2024〕3号", "appointed_on": "2024-01-01",
		"photo": base64.StdEncoding.EncodeToString(batchPhoto),
	}
}

func batchWant(id string) registry.Appointment {
	return registry.Appointment{
		UnitID: 7, Name: "张三", Gender: registry.Male, IDNumber: id, Series: "高校教师",
		Specialty: "计算机科学与技术", Level: "副高级", Post: "副教授",
		TermFrom:  registry.Date{Year: 2024, Month: 1, Day: 1},
		TermTo:    registry.Date{Year: 2028, Month: 12, Day: 31},
		Committee: "山东大学高校教师职称评聘委员会", PublicationNumber: "鲁大人字〔2024〕3号",
		AppointedOn: registry.Date{Year: 2024, Month: 1, Day: 1}, Photo: batchPhoto,
	}
}

func batchFields() []string {
	var f []string
	for c := range numColumns {
		f = append(f, c.field())
	}
	return f
}

func batchHeaders() []string {
	var h []string
	for c := range numColumns {
		h = append(h, c.header())
	}
	return h
}

// batchTable lays rows out under header; header names map to JSON names
// with columnOf, so any accepted spelling works.
func batchTable(t testing.TB, header []string, rows ...map[string]string) [][]string {
	t.Helper()
	out := [][]string{header}
	for _, r := range rows {
		line := make([]string, len(header))
		for i, h := range header {
			if c, ok := columnOf(h); ok {
				line[i] = r[c.field()]
			}
		}
		out = append(out, line)
	}
	return out
}

func batchCSV(t testing.TB, table [][]string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if err := w.WriteAll(table); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// batchXLSX writes rows (cells of any type excelize takes) to sheet, after
// an empty first sheet when sheet is not the first.
func batchXLSX(t testing.TB, sheet string, first bool, rows [][]any) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	if first {
		if err := f.SetSheetName("Sheet1", sheet); err != nil {
			t.Fatal(err)
		}
	} else if _, err := f.NewSheet(sheet); err != nil {
		t.Fatal(err)
	}
	for i, row := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow(sheet, cell, &row); err != nil {
			t.Fatal(err)
		}
	}
	buf, err := f.WriteToBuffer()
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func batchAny(table [][]string) [][]any {
	out := make([][]any, len(table))
	for i, row := range table {
		for _, v := range row {
			out[i] = append(out[i], v)
		}
	}
	return out
}

func batchJSON(t testing.TB, rows ...any) []byte {
	t.Helper()
	b, err := json.Marshal(rows)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseBatchValid(t *testing.T) {
	id1, id2 := batchPersonID(1), "11010519491231002X"
	row2 := batchRow(id2)
	row2["gender"], row2["name"] = "女", "李四"
	want2 := batchWant(id2)
	want2.Gender, want2.Name = registry.Female, "李四"

	chineseKeys := map[string]string{}
	for k, v := range batchRow(id1) {
		c, _ := columnOf(k)
		chineseKeys[c.header()] = v
	}
	withUnit := map[string]any{"unit_id": 7}
	for k, v := range batchRow(id1) {
		withUnit[k] = v
	}
	mixed := []string{"\uFEFF照片", " 姓  名 ", "*身份证号", "职称系列（专业）名称", "specialty", "性别",
		"职称层级", "评聘岗位", "聘期开始", "term_to", "评聘委员会名称", "公布文号", "聘任日期"}

	// the XLSX form: a title row, dates as date cells and as 2028/12/31
	// text, notes below an empty row
	xlsxRows := batchAny(batchTable(t, batchHeaders(), batchRow(id1), row2))
	for _, r := range xlsxRows[1:] {
		r[colTermFrom] = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
		r[colTermTo] = "2028/12/31"
		r[colAppointedOn] = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	xlsxRows = append([][]any{{"人员评聘信息采集表"}}, xlsxRows...)
	xlsxRows = append(xlsxRows, []any{}, []any{"填表说明：照片为 base64"})

	gbk, err := simplifiedchinese.GBK.NewEncoder().Bytes(batchCSV(t, batchTable(t, batchHeaders(), batchRow(id1), row2)))
	if err != nil {
		t.Fatal(err)
	}
	if utf8.Valid(gbk) {
		t.Fatal("the GBK fixture is valid UTF-8: it tests nothing")
	}

	spreadsheetDates := batchRow(id1)
	spreadsheetDates["term_from"], spreadsheetDates["term_to"], spreadsheetDates["appointed_on"] = "2024/1/1", "2028年12月31日", "2024.01.01"

	tests := []struct {
		name, contentType string
		body              []byte
		wantRows          []int
		columns           map[string]string // field -> header, when tested
	}{
		{"json", ContentTypeJSON, batchJSON(t, batchRow(id1), row2), []int{1, 2}, nil},
		{"json with chinese keys and a charset", "application/json; charset=utf-8", batchJSON(t, chineseKeys, row2), []int{1, 2},
			map[string]string{"name": "name", "photo": "photo"}}, // row 2 has the JSON names
		{"json with the batch's unit_id", ContentTypeJSON, batchJSON(t, withUnit, row2), []int{1, 2}, nil},
		{"csv chinese headers", ContentTypeCSV, batchCSV(t, batchTable(t, batchHeaders(), batchRow(id1), row2)), []int{2, 3}, nil},
		{"csv json names", ContentTypeCSV, batchCSV(t, batchTable(t, batchFields(), batchRow(id1), row2)), []int{2, 3}, nil},
		{"csv mixed header spellings in another order after a BOM", ContentTypeCSV, batchCSV(t, batchTable(t, mixed, batchRow(id1), row2)), []int{2, 3},
			map[string]string{"photo": "照片", "name": "姓  名", "id_number": "身份证号", "specialty": "specialty", "unit_id": "unit_id"}},
		{"csv crlf and trailing empty lines", ContentTypeCSV,
			[]byte(strings.ReplaceAll(string(batchCSV(t, batchTable(t, batchFields(), batchRow(id1), row2))), "\n", "\r\n") + ",,,,,,,,,,,,\r\n\r\n"), []int{2, 3}, nil},
		{"csv gbk", ContentTypeCSV, gbk, []int{2, 3}, nil},
		{"csv spreadsheet dates", ContentTypeCSV, batchCSV(t, batchTable(t, batchHeaders(), spreadsheetDates)), []int{2}, nil},
		{"xlsx on its named sheet", ContentTypeXLSX, batchXLSX(t, SheetName, false, xlsxRows), []int{3, 4}, nil},
		{"xlsx first sheet", ContentTypeXLSX, batchXLSX(t, "Sheet1", true, batchAny(batchTable(t, mixed, batchRow(id1), row2))), []int{2, 3},
			map[string]string{"photo": "照片", "name": "姓  名", "series": "职称系列（专业）名称"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, rowErrs, err := Parse(context.Background(), tc.contentType, tc.body, 7, testLimits())
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(rowErrs) > 0 {
				t.Fatalf("row errors:\n%s", batchDump(rowErrs))
			}
			if fmt.Sprint(got.RowNumbers) != fmt.Sprint(tc.wantRows) {
				t.Errorf("row numbers %v, want %v", got.RowNumbers, tc.wantRows)
			}
			want := []registry.Appointment{batchWant(id1), want2}[:len(tc.wantRows)]
			if len(got.Rows) != len(want) {
				t.Fatalf("%d rows, want %d", len(got.Rows), len(want))
			}
			for i := range want {
				if g, w := fmt.Sprintf("%+v", got.Rows[i]), fmt.Sprintf("%+v", want[i]); g != w {
					t.Errorf("row %d:\n got %s\nwant %s", i, g, w)
				}
			}
			for field, header := range tc.columns {
				if got := got.Column(1, field); got != header {
					t.Errorf("Column(1, %q) = %q, want %q", field, got, header)
				}
			}
		})
	}
}

// batchPatchXLSX edits one part of a workbook, for what excelize does not
// write (error values, ISO date cells, broken XML).
func batchPatchXLSX(t testing.TB, body []byte, part string, oldNew ...string) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if f.Name == part {
			for i := 0; i < len(oldNew); i += 2 {
				if !bytes.Contains(b, []byte(oldNew[i])) {
					t.Fatalf("%s has no %s", part, oldNew[i])
				}
				b = bytes.Replace(b, []byte(oldNew[i]), []byte(oldNew[i+1]), 1)
			}
		}
		w, err := zw.Create(f.Name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestParseBatchRowErrors(t *testing.T) {
	good := batchRow(batchPersonID(1))
	n := 100
	with := func(kv ...any) map[string]string {
		n++
		r := batchRow(batchPersonID(n))
		for i := 0; i < len(kv); i += 2 {
			r[kv[i].(string)] = fmt.Sprint(kv[i+1])
		}
		return r
	}
	badCheck := []byte(batchPersonID(7))
	if badCheck[17] == '0' { // any other check character
		badCheck[17] = '1'
	} else {
		badCheck[17] = '0'
	}
	wrapped := with()
	wrapped["photo"] = wrapped["photo"][:8] + "\n" + wrapped["photo"][8:] + "\n"

	header := []string{"姓  名", "性别", "身份证号码", "职称系列(专业)名称", "从事专业", "职称层级", "评聘岗位",
		"聘期开始", "聘期结束", "评聘委员会名称", "公布文号", "聘任日期", "照片"}
	csvBody := batchCSV(t, batchTable(t, header,
		good,                // row 2
		with("gender", "M"), // row 3
		with("name", "", "term_to", "2028-13-01"), // row 4: two problems at once
		good,                                // row 5: repeats row 2
		with("id_number", string(badCheck)), // row 6
		wrapped,                             // row 7: spans three lines of the file
		with("photo", "not base64!"),        // row 8
		with("id_number", "1.10105E+17"),    // row 9: re-saved by a spreadsheet
		with("term_from", "2030-01-01", "term_to", "2029-01-01"), // row 10
		with("appointed_on", "2026-01-16"),                       // row 11
	))

	goodJSON := batchJSON(t, good)
	jsonBody := []byte(`[` + string(goodJSON[1:len(goodJSON)-1]) + `,` +
		strings.Trim(strings.Replace(string(batchJSON(t, with())), `"name":"张三"`, `"name":3`, 1), "[]") + `,` +
		`{"name": null},` +
		strings.Replace(string(batchJSON(t, with())), `{`, `{"unit_id": 8,`, 1)[1:])

	sheet := batchAny(batchTable(t, batchHeaders(),
		with("committee", ""), // row 4
		with(),                // row 5: ID as a number cell, below
		with(),                // row 6: post as TRUE, below
		with(),                // row 7: name as #N/A, below
		with(),                // row 8: term from as an ISO date cell, below
		with(),                // row 9: appointed on as a date's serial number in a General cell
	))
	sheet = append([][]any{{"人员评聘信息采集表"}, {}}, sheet...) // header on row 3
	sheet[4][colIDNumber] = 370102197001010031
	sheet[5][colPost] = true
	sheet[6][colName] = 12345.5
	sheet[7][colTermFrom] = 23456.5
	sheet[8][colAppointedOn] = 45292
	xlsxBody := batchPatchXLSX(t, batchXLSX(t, "Sheet1", true, sheet), "xl/worksheets/sheet1.xml",
		`<c r="A7"><v>12345.5</v></c>`, `<c r="A7" t="e"><v>#N/A</v></c>`,
		`<c r="H8"><v>23456.5</v></c>`, `<c r="H8" t="d"><v>2024-01-01T00:00:00Z</v></c>`)

	type want struct {
		row    int
		column string
		reason string // a substring
	}
	tests := []struct {
		name, contentType string
		body              []byte
		okRows            []int
		want              []want
	}{
		{"csv", ContentTypeCSV, csvBody, []int{2, 7}, []want{
			{3, "性别", "must be 男 or 女"},
			{4, "姓  名", "is required"},
			{4, "聘期结束", "must be a date"},
			{5, "身份证号码", "repeats row 2 (same 身份证号码, 职称系列(专业)名称, 职称层级 and 聘期开始)"},
			{6, "身份证号码", "check character"},
			{8, "照片", "base64"},
			{9, "身份证号码", "saved as a number"},
			{10, "聘期结束", "must be after term_from"},
			{11, "聘任日期", "cannot be in the future"},
		}},
		{"json", ContentTypeJSON, jsonBody, []int{1}, []want{
			{2, "name", "must be a string"},
			{3, "name", "is required"},
			{3, "gender", "is required"},
			{3, "id_number", "is required"},
			{3, "series", "is required"},
			{3, "specialty", "is required"},
			{3, "level", "is required"},
			{3, "post", "is required"},
			{3, "term_from", "is required"},
			{3, "term_to", "is required"},
			{3, "committee", "is required"},
			{3, "publication_number", "is required"},
			{3, "appointed_on", "is required"},
			{3, "photo", "is required"},
			{4, "unit_id", "is not the unit of this batch"},
		}},
		{"xlsx", ContentTypeXLSX, xlsxBody, []int{8, 9}, []want{
			{4, "评聘委员会名称", "is required"},
			{5, "身份证号", "must be a text cell"},
			{6, "评聘岗位", "TRUE/FALSE"},
			{7, "姓名", "Excel error value"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, rowErrs, err := Parse(context.Background(), tc.contentType, tc.body, 7, testLimits())
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if fmt.Sprint(got.RowNumbers) != fmt.Sprint(tc.okRows) {
				t.Errorf("valid rows %v, want %v", got.RowNumbers, tc.okRows)
			}
			if len(rowErrs) != len(tc.want) {
				t.Fatalf("got %d row errors, want %d:\n%s", len(rowErrs), len(tc.want), batchDump(rowErrs))
			}
			for i, w := range tc.want {
				g := rowErrs[i]
				if g.Row != w.row || g.Column != w.column || !strings.Contains(g.Reason, w.reason) {
					t.Errorf("error %d = %+v, want row %d column %q reason containing %q", i, g, w.row, w.column, w.reason)
				}
			}
		})
	}
}

func batchDump(errs []RowError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "  %+v\n", e)
	}
	return b.String()
}

func TestParseBatchFileErrors(t *testing.T) {
	good := batchRow(batchPersonID(1))
	csvOf := func(header ...string) []byte { return batchCSV(t, batchTable(t, header, good)) }
	fields := batchFields()
	xlsx := batchXLSX(t, "Sheet1", true, batchAny(batchTable(t, fields, good)))
	many := batchTable(t, fields, good, good, good)
	// 2 MB of distinct strings in a few kilobytes of zip
	var bombRow []any
	for i := range 64 {
		bombRow = append(bombRow, fmt.Sprint(i)+strings.Repeat("a", 32000))
	}
	bomb := batchXLSX(t, "Sheet1", true, [][]any{bombRow})

	tests := []struct {
		name, contentType string
		body              []byte
		limits            Limits
		field             string
		msg               []string // substrings
	}{
		{"content type", "application/pdf", csvOf(fields...), testLimits(), "content_type", []string{"text/csv"}},
		{"no content type", "", csvOf(fields...), testLimits(), "content_type", nil},
		{"empty", ContentTypeCSV, nil, testLimits(), "file", []string{"empty"}},
		{"only blank lines", ContentTypeCSV, []byte("\n\n,,,\n"), testLimits(), "file", []string{"empty"}},
		{"too big", ContentTypeCSV, csvOf(fields...), Limits{Today: batchToday(), MaxBytes: 100}, "file", []string{"at most 100"}},
		{"too many rows", ContentTypeCSV, batchCSV(t, many), Limits{Today: batchToday(), MaxRows: 2}, "file", []string{"more than 2 rows"}},
		{"too many json rows", ContentTypeJSON, batchJSON(t, good, good, good), Limits{Today: batchToday(), MaxRows: 2}, "file", []string{"more than 2 rows"}},
		{"unknown and missing columns", ContentTypeCSV, csvOf(append(fields[:11:11], "备注", "Remark")...), testLimits(), "file",
			[]string{"unknown columns: 备注, Remark", "missing columns: 聘任日期 (appointed_on), 照片 (photo)"}},
		{"many unknown columns", ContentTypeCSV, csvOf(append(fields, strings.Split("a b c d e f g h i j k l m n o p q "+strings.Repeat("长", 50), " ")...)...), testLimits(), "file",
			[]string{"unknown columns: a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, and 3 more"}},
		{"column twice", ContentTypeCSV, csvOf(append(fields, "姓名")...), testLimits(), "file", []string{"columns given twice: name and 姓名"}},
		{"no header", ContentTypeCSV, []byte("a,b\n1,2\n"), testLimits(), "file", []string{"no header row", "姓名 (name)"}},
		{"no data rows", ContentTypeCSV, csvOf(fields...)[:len(strings.Join(fields, ","))+1], testLimits(), "file", []string{"no data rows"}},
		{"data after an empty row only", ContentTypeCSV, []byte(strings.Join(fields, ",") + "\n\n" + strings.Repeat("x,", 12) + "x\n"), testLimits(), "file", []string{"row 3 has data below row 2"}},
		{"rows after an empty line in the table", ContentTypeCSV, append(append(batchCSV(t, batchTable(t, batchHeaders(), batchRow(batchPersonID(1)))), '\n'),
			batchCSV(t, batchTable(t, batchHeaders(), batchRow(batchPersonID(2))))[len(strings.Join(batchHeaders(), ","))+1:]...), testLimits(), "file",
			[]string{"row 4 has data below row 3, which is empty"}},
		{"value without a header", ContentTypeCSV, []byte(string(csvOf(fields...)[:len(csvOf(fields...))-1]) + ",extra\n"), testLimits(), "file", []string{"row 2 has a value in column P, which has no header"}},
		{"bad csv quote", ContentTypeCSV, []byte(strings.Join(fields, ",") + "\n\"a\"b,c\n"), testLimits(), "file", []string{"not valid CSV", "line 2"}},
		{"not text", ContentTypeCSV, []byte{0x81, 0x30, 0xff, 0xff, '\n'}, testLimits(), "file", []string{"neither UTF-8 nor GB18030"}},
		{"utf-16", ContentTypeCSV, []byte{0xFF, 0xFE, 'a', 0}, testLimits(), "file", []string{"UTF-16"}},
		{"xlsx sent as csv", ContentTypeCSV, xlsx, testLimits(), "file", []string{"XLSX workbook, not CSV"}},
		{"xls", ContentTypeXLSX, []byte("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1 rest of an OLE file"), testLimits(), "file", []string{".xls"}},
		{"broken xlsx", ContentTypeXLSX, xlsx[:len(xlsx)/2], testLimits(), "file", []string{"not an XLSX workbook"}},
		// found by fuzzing: the XML parser's message quoted the file
		{"xlsx with bad bytes in its workbook XML", ContentTypeXLSX, batchPatchXLSX(t, xlsx, "xl/workbook.xml", "xmlns:r=", "xmlns:r\xf4="),
			testLimits(), "file", []string{"not a readable XLSX workbook"}},
		{"xlsx with bad bytes in its sheet XML", ContentTypeXLSX, batchPatchXLSX(t, xlsx, "xl/worksheets/sheet1.xml", "<sheetData>", "<sheetData><x\xf4/>"),
			testLimits(), "file", []string{"cannot read sheet \"Sheet1\""}},
		{"xlsx with broken XML right after the data", ContentTypeXLSX,
			batchPatchXLSX(t, batchXLSX(t, "Sheet1", true, batchAny(many)), "xl/worksheets/sheet1.xml", `<row r="3">`, `<row r="3"><x></y>`),
			testLimits(), "file", []string{"cannot read sheet \"Sheet1\": its XML is broken"}},
		{"csv sent as xlsx", ContentTypeXLSX, csvOf(fields...), testLimits(), "file", []string{"not an XLSX workbook"}},
		{"xlsx zip bomb", ContentTypeXLSX, bomb, Limits{Today: batchToday(), MaxBytes: 64 << 10}, "file", []string{"unpacks to more than 1048576 bytes"}},
		{"json element not an object", ContentTypeJSON, []byte(`[{"name": "x"}, 42]`), testLimits(), "file", []string{"row 2 is not an object"}},
		{"json unknown and repeated keys", ContentTypeJSON, []byte(`[{"name": "x", "姓名": "x", "nickname": "y", "remark": ""}]`), testLimits(), "file",
			[]string{"row 1: unknown columns: nickname, remark; columns given twice: name and 姓名"}},
		{"json not an array", ContentTypeJSON, []byte(`{"name":"x"}`), testLimits(), "file", []string{"array of objects"}},
		{"json broken", ContentTypeJSON, []byte(`[{"name":"x"`), testLimits(), "file", []string{"not valid JSON"}},
		{"json trailing data", ContentTypeJSON, []byte(`[] []`), testLimits(), "file", []string{"after the JSON array"}},
		{"json empty array", ContentTypeJSON, []byte(` [ ] `), testLimits(), "file", []string{"no rows"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, rowErrs, err := Parse(context.Background(), tc.contentType, tc.body, 7, tc.limits)
			var re *registry.Error
			if !errors.As(err, &re) || re.Code != registry.CodeInvalid || re.Field != tc.field {
				t.Fatalf("err = %v, want an invalid error on field %q", err, tc.field)
			}
			if !utf8.ValidString(err.Error()) || strings.Contains(err.Error(), "\uFFFD") {
				t.Errorf("err = %q: not clean text", err)
			}
			for _, m := range tc.msg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("err = %v, want it to say %q", err, m)
				}
			}
			if got.Rows != nil || rowErrs != nil {
				t.Errorf("rows %d, row errors %d along with the error", len(got.Rows), len(rowErrs))
			}
		})
	}
}

func TestParseBatchNeedsTodayAndUnit(t *testing.T) {
	body := batchJSON(t, batchRow(batchPersonID(1)))
	if _, _, err := Parse(context.Background(), ContentTypeJSON, body, 7, Limits{}); err == nil || registry.CodeOf(err) != "" {
		t.Errorf("no today: err = %v, want a programming error", err)
	}
	if _, _, err := Parse(context.Background(), ContentTypeJSON, body, 0, testLimits()); err == nil || registry.CodeOf(err) != "" {
		t.Errorf("no unit: err = %v, want a programming error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := Parse(ctx, ContentTypeJSON, body, 7, testLimits()); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
}

// The real photo survives the trip through base64 in every format.
func TestParseBatchPhotoBytes(t *testing.T) {
	photo, err := os.ReadFile("../../testdata/photo.jpg")
	if err != nil {
		t.Fatal(err)
	}
	row := batchRow(batchPersonID(1))
	row["photo"] = "data:image/jpeg;base64," + base64.RawStdEncoding.EncodeToString(photo)
	got, rowErrs, err := Parse(context.Background(), ContentTypeJSON, batchJSON(t, row), 7, testLimits())
	if err != nil || len(rowErrs) > 0 {
		t.Fatalf("err %v, row errors %+v", err, rowErrs)
	}
	if !bytes.Equal(got.Rows[0].Photo, photo) {
		t.Error("photo changed")
	}
}

func batchCSV10k(t testing.TB, n int) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write(batchHeaders())
	for i := range n {
		row := batchRow(batchPersonID(i))
		line := make([]string, numColumns)
		for c := range numColumns {
			line[c] = row[c.field()]
		}
		_ = w.Write(line)
	}
	w.Flush()
	return b.Bytes()
}

func TestParseBatchCSV10k(t *testing.T) {
	body := batchCSV10k(t, DefaultMaxRows)
	got, rowErrs, err := Parse(context.Background(), ContentTypeCSV, body, 7, testLimits())
	if err != nil || len(rowErrs) > 0 {
		t.Fatalf("err %v, %d row errors, first %+v", err, len(rowErrs), rowErrs[:min(1, len(rowErrs))])
	}
	if len(got.Rows) != DefaultMaxRows || got.RowNumbers[DefaultMaxRows-1] != DefaultMaxRows+1 {
		t.Fatalf("%d rows, last row number %d", len(got.Rows), got.RowNumbers[len(got.RowNumbers)-1])
	}
	_, _, err = Parse(context.Background(), ContentTypeCSV, batchCSV10k(t, DefaultMaxRows+1), 7, testLimits())
	if !errors.Is(err, registry.ErrInvalid) {
		t.Fatalf("10001 rows: err = %v", err)
	}
}

func BenchmarkParseBatchCSV10k(b *testing.B) {
	body := batchCSV10k(b, DefaultMaxRows)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, rowErrs, err := Parse(context.Background(), ContentTypeCSV, body, 7, testLimits()); err != nil || len(rowErrs) > 0 {
			b.Fatal(err, len(rowErrs))
		}
	}
}

// A workbook from old Mac Excel counts serial days from 1904.
func TestParseBatchXLSXDate1904(t *testing.T) {
	rows := batchAny(batchTable(t, batchHeaders(), batchRow(batchPersonID(1))))
	rows[1][colAppointedOn] = 43830 // 2024-01-01 in the 1904 system, 2019-12-31 in the 1900 one
	f := excelize.NewFile()
	defer f.Close()
	on := true
	if err := f.SetWorkbookProps(&excelize.WorkbookPropsOptions{Date1904: &on}); err != nil {
		t.Fatal(err)
	}
	for i, row := range rows {
		if err := f.SetSheetRow("Sheet1", fmt.Sprintf("A%d", i+1), &row); err != nil {
			t.Fatal(err)
		}
	}
	buf, err := f.WriteToBuffer()
	if err != nil {
		t.Fatal(err)
	}
	got, rowErrs, err := Parse(context.Background(), ContentTypeXLSX, buf.Bytes(), 7, testLimits())
	if err != nil || len(rowErrs) > 0 {
		t.Fatalf("err %v, row errors %+v", err, rowErrs)
	}
	if d := got.Rows[0].AppointedOn.String(); d != "2024-01-01" {
		t.Errorf("appointed on %s, want 2024-01-01", d)
	}
}

// The deadline columns are optional: a file may leave them out, or give
// them, and what they say is checked like any date.
func TestParseBatchOptionalDeadlineColumns(t *testing.T) {
	required := batchHeaders()[:colAppraisalEndedOn]
	all := append(slices.Clone(required), "评聘结束日期", "聘用结果备案日期")
	row := func(n int, ended, filed string) map[string]string {
		r := batchRow(batchPersonID(n))
		r["appraisal_ended_on"], r["result_filed_on"] = ended, filed
		return r
	}
	d := func(m time.Month, day int) registry.Date { return registry.Date{Year: 2025, Month: m, Day: day} }
	tests := []struct {
		name         string
		header       []string
		row          map[string]string
		ended, filed registry.Date
		wantErr      *RowError
	}{
		{"columns left out", required, row(1, "", ""), registry.Date{}, registry.Date{}, nil},
		{"both given", all, row(2, "2025/12/20", "2025年12月29日"), d(12, 20), d(12, 29), nil},
		{"cells empty", all, row(3, "", ""), registry.Date{}, registry.Date{}, nil},
		{"filed without the end", all, row(4, "", "2025-12-29"), registry.Date{}, registry.Date{},
			&RowError{Row: 2, Column: "评聘结束日期", Reason: "is required with result_filed_on"}},
		{"filed before the end", all, row(5, "2025-12-20", "2025-12-19"), registry.Date{}, registry.Date{},
			&RowError{Row: 2, Column: "聘用结果备案日期", Reason: "cannot be before appraisal_ended_on"}},
		{"end in the future", all, row(6, "2026-02-01", ""), registry.Date{}, registry.Date{},
			&RowError{Row: 2, Column: "评聘结束日期", Reason: "cannot be in the future"}},
		{"not a date", all, row(7, "last week", ""), registry.Date{}, registry.Date{},
			&RowError{Row: 2, Column: "评聘结束日期", Reason: "must be a date such as 2023-07-01 or 2023/7/1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file, rowErrs, err := Parse(t.Context(), ContentTypeCSV, batchCSV(t, batchTable(t, tc.header, tc.row)), 7, testLimits())
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantErr != nil {
				if len(rowErrs) != 1 || rowErrs[0] != *tc.wantErr {
					t.Fatalf("row errors = %+v, want %+v", rowErrs, *tc.wantErr)
				}
				return
			}
			if len(rowErrs) > 0 || len(file.Rows) != 1 {
				t.Fatalf("row errors = %+v, rows = %d", rowErrs, len(file.Rows))
			}
			if a := file.Rows[0]; a.AppraisalEndedOn != tc.ended || a.ResultFiledOn != tc.filed {
				t.Fatalf("appraisal ended %v, result filed %v; want %v, %v", a.AppraisalEndedOn, a.ResultFiledOn, tc.ended, tc.filed)
			}
		})
	}
}
