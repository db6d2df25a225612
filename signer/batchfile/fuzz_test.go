package batchfile

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/certseal/certseal/registry"
)

// fuzzLimits keeps each input small so that the fuzzer explores
// structure, and bounds the memory an XLSX may unpack to (4 x MaxBytes,
// at least 1 MiB).
func fuzzLimits() Limits {
	return Limits{MaxRows: 50, MaxBytes: 64 << 10, Today: batchToday()}
}

// checkParseBatch is what must hold for any input: no panic; either a clean
// file error and nothing else, or rows that are each valid and row errors
// that point at rows not returned.
func checkParseBatch(t *testing.T, contentType string, body []byte) {
	limits := fuzzLimits()
	got, rowErrs, err := Parse(context.Background(), contentType, body, 7, limits)
	if err != nil {
		var re *registry.Error
		if !errors.As(err, &re) || re.Code != registry.CodeInvalid || re.Field != "file" {
			t.Fatalf("err = %#v, want an invalid error on the file", err)
		}
		if !utf8.ValidString(err.Error()) {
			t.Fatalf("error is not valid UTF-8: %q", err.Error())
		}
		if got.Rows != nil || got.RowNumbers != nil || rowErrs != nil {
			t.Fatalf("rows or row errors along with the error %v", err)
		}
		return
	}
	if len(got.Rows) != len(got.RowNumbers) {
		t.Fatalf("%d rows, %d row numbers", len(got.Rows), len(got.RowNumbers))
	}
	if len(got.Rows)+len(rowErrs) == 0 {
		t.Fatal("no rows and no row errors without an error")
	}
	if !slices.IsSorted(got.RowNumbers) || len(slices.Compact(slices.Clone(got.RowNumbers))) != len(got.RowNumbers) {
		t.Fatalf("row numbers not increasing: %v", got.RowNumbers)
	}
	for _, e := range rowErrs {
		if e.Row < 1 || e.Reason == "" || !utf8.ValidString(e.Column) || !utf8.ValidString(e.Reason) {
			t.Fatalf("bad row error %+v", e)
		}
		if _, ok := slices.BinarySearch(got.RowNumbers, e.Row); ok {
			t.Fatalf("row %d is returned and has an error %+v", e.Row, e)
		}
	}
	if len(got.Rows) > limits.MaxRows {
		t.Fatalf("%d rows, limit %d", len(got.Rows), limits.MaxRows)
	}
	for i, a := range got.Rows {
		n, err := a.Normalize(limits.Today)
		if err != nil || a.UnitID != 7 || len(a.Photo) == 0 {
			t.Fatalf("row %d is not valid (%v): unit %d, photo %d bytes", got.RowNumbers[i], err, a.UnitID, len(a.Photo))
		}
		if n.IDNumber != a.IDNumber || n.Name != a.Name {
			t.Fatalf("row %d is not normalised", got.RowNumbers[i])
		}
	}
}

func FuzzParseBatchCSV(f *testing.F) {
	rows := []map[string]string{batchRow(batchPersonID(1)), batchRow(batchPersonID(2))}
	f.Add(batchCSV(f, batchTable(f, batchHeaders(), rows...)))
	f.Add(batchCSV(f, batchTable(f, batchFields(), rows[0])))
	f.Add([]byte("\uFEFF姓名,性别\n\"a\nb\",男\n"))
	f.Add([]byte("title\n\n" + string(batchCSV(f, batchTable(f, batchHeaders(), rows[0]))) + ",,,\nnotes\n"))
	f.Fuzz(func(t *testing.T, body []byte) { checkParseBatch(t, ContentTypeCSV, body) })
}

func FuzzParseBatchJSON(f *testing.F) {
	row := batchRow(batchPersonID(1))
	f.Add(batchJSON(f, row, row))
	f.Add([]byte(`[{"name": null, "姓名": 1}, 2, [], {"photo": "data:image/png;base64,AAAA"}]`))
	f.Add([]byte(`[] x`))
	f.Fuzz(func(t *testing.T, body []byte) { checkParseBatch(t, ContentTypeJSON, body) })
}

func FuzzParseBatchXLSX(f *testing.F) {
	rows := batchAny(batchTable(f, batchHeaders(), batchRow(batchPersonID(1)), batchRow(batchPersonID(2))))
	rows[2][colAppointedOn] = 45292
	xlsx := batchXLSX(f, "Sheet1", true, rows)
	f.Add(xlsx)
	// The same workbook stored without compression or checksums, so that
	// mutations reach the XML instead of breaking the deflate stream.
	stored := storedZip(f, xlsx)
	if got, rowErrs, err := Parse(context.Background(), ContentTypeXLSX, stored, 7, fuzzLimits()); err != nil || len(got.Rows) != 2 {
		f.Fatalf("stored seed: %d rows, row errors %+v, %v", len(got.Rows), rowErrs, err)
	}
	f.Add(stored)
	f.Fuzz(func(t *testing.T, body []byte) { checkParseBatch(t, ContentTypeXLSX, body) })
}

// storedZip rewrites a zip with every member stored and its CRC-32 zero
// (which archive/zip takes as "not given" and does not check).
func storedZip(tb testing.TB, body []byte) []byte {
	tb.Helper()
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		tb.Fatal(err)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			tb.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			tb.Fatal(err)
		}
		w, err := zw.CreateRaw(&zip.FileHeader{Name: f.Name, Method: zip.Store,
			CompressedSize64: uint64(len(b)), UncompressedSize64: uint64(len(b))})
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := w.Write(b); err != nil {
			tb.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return out.Bytes()
}
