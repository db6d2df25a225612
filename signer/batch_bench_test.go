package signer_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"fmt"
	"image"
	"image/jpeg"
	"log/slog"
	"testing"
	"time"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/storetest"
	"github.com/certseal/certseal/signer"
	"github.com/certseal/certseal/signer/batchfile"
)

// BenchmarkBatch10k is a 10,000-row batch end to end with the embedded
// (SQLite) store: the CSV upload parsed and checked, the rows stored with
// their reserved numbers, every certificate rendered, signed and recorded;
// as the service issues them (time-stamp, DSS and the 国密 seal signature)
// and, for comparison in the same run, without the seal signature and
// without any of them. Run it alone, once:
//
//	go test ./signer -run '^$' -bench Batch10k -benchtime 1x
func BenchmarkBatch10k(b *testing.B) {
	for _, mode := range []string{"plain", "timestamp+DSS", "timestamp+DSS+SES"} {
		b.Run(mode, func(b *testing.B) { benchmarkBatch(b, 10000, mode) })
	}
}

// BenchmarkBatch1kSES is what the 国密 seal signature adds to a batch: a
// 1,000-row batch as the service issues it, without and with. -count N
// runs each N times in a row, so on a shared machine run it a few times
// over to let the load fall on both:
//
//	go test ./signer -run '^$' -bench Batch1kSES -benchtime 1x -count 3
func BenchmarkBatch1kSES(b *testing.B) {
	for _, mode := range []string{"timestamp+DSS", "timestamp+DSS+SES"} {
		b.Run(mode, func(b *testing.B) { benchmarkBatch(b, 1000, mode) })
	}
}

func benchmarkBatch(b *testing.B, rows int, mode string) {
	f := newFixture(b, backends[0].open(b))
	photo := smallPhoto(b, f.photo)
	issuer := f.issuer
	switch mode {
	case "plain":
		issuer = signer.NewIssuer(signer.IssuerDeps{Store: f.store, PII: storetest.PII(), Keys: f.keys, Chains: f.ca, Renderer: f.render,
			BaseURL: "https://zc.example.cn", Calendar: f.calendar, Now: func() time.Time { return f.now }})
	case "timestamp+DSS": // as the service issues them, but no 国密 seal signature
		d := f.issuerDeps(func() time.Time { return f.now })
		d.SM2 = nil
		issuer = signer.NewIssuer(d)
	}
	batches := signer.NewBatches(issuer, f.store, slog.New(slog.DiscardHandler))
	b.Cleanup(batches.Close)
	ctx := context.Background()
	var total, submitting time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		body := batchCSV(b, i*rows, rows, photo)
		b.StartTimer()
		start := time.Now()
		batch, rowErrs, err := batches.Submit(ctx, signer.BatchSubmission{UnitID: f.unit.ID, ContentType: batchfile.ContentTypeCSV,
			Body: body, Actor: "bench", RequestID: fmt.Sprint("bench-", i)})
		if err != nil || len(rowErrs) > 0 {
			b.Fatalf("submit: %v %v", err, rowErrs[:min(3, len(rowErrs))])
		}
		submitting += time.Since(start)
		batches.Wait()
		total += time.Since(start)
		b.StopTimer()
		err = f.store.View(ctx, func(tx registry.Tx) (err error) {
			batch, err = tx.Batch(ctx, batch.ID)
			return err
		})
		if err != nil || batch.State != registry.BatchDone || batch.Issued != rows || batch.Failed != 0 {
			b.Fatalf("batch %+v: %v", batch, err)
		}
		b.StartTimer()
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/batch")
	b.ReportMetric(submitting.Seconds()/float64(b.N), "submit-s/batch")
	b.ReportMetric(float64(rows*b.N)/total.Seconds(), "rows/s")
}

// batchCSV is an upload of n rows whose ID numbers (first+0 ...) differ, so
// no row repeats an earlier appointment.
func batchCSV(tb testing.TB, first, n int, photo []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write([]string{"姓名", "性别", "身份证号", "职称系列", "从事专业", "职称层级", "评聘岗位", "聘期开始", "聘期结束", "评聘委员会名称", "公布文号", "聘任日期", "照片"})
	p := base64.StdEncoding.EncodeToString(photo)
	for i := first; i < first+n; i++ {
		w.Write([]string{"王晓明", "男", maleIDNumber(i), "高校教师", "计算机科学与技术", "副高级", "副教授", "2026-01-01", "2028-12-31",
			"威海示范大学高级职称评审委员会", "威示大字〔2026〕8号", "2026-01-01", p})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// maleIDNumber is the i-th of a run of distinct, valid ID numbers of men
// born from 1970 on (400 a day).
func maleIDNumber(i int) string {
	birth := time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i/400)
	body := fmt.Sprintf("370102%s%03d", birth.Format("20060102"), 2*(i%400)+1)
	// ISO 7064 MOD 11-2, as GB 11643 defines the check character.
	p := 0
	for _, c := range body {
		p = (p + int(c-'0')) * 2 % 11
	}
	return body + string("10X98765432"[p])
}

// smallPhoto shrinks the sample photo to 120x148: 10,000 rows of a
// full-size photo in base64 would exceed the 64 MB upload limit.
func smallPhoto(tb testing.TB, photo []byte) []byte {
	tb.Helper()
	src, err := jpeg.Decode(bytes.NewReader(photo))
	if err != nil {
		tb.Fatal(err)
	}
	sb := src.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, 120, 148))
	for y := range 148 {
		for x := range 120 {
			dst.Set(x, y, src.At(sb.Min.X+x*sb.Dx()/120, sb.Min.Y+y*sb.Dy()/148))
		}
	}
	var out bytes.Buffer
	if err := jpeg.Encode(&out, dst, &jpeg.Options{Quality: 80}); err != nil {
		tb.Fatal(err)
	}
	if _, err := signer.CheckPhoto(out.Bytes()); err != nil {
		tb.Fatal(err)
	}
	return out.Bytes()
}
