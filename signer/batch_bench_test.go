package signer_test

import (
	"bytes"
	"context"
	"crypto/x509"
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
	"github.com/certseal/certseal/verify"
	"github.com/certseal/certseal/verify/memcache"
)

// BenchmarkBatch10k is a 10,000-row batch end to end, as certseal serve
// runs it: the CSV upload parsed and checked, the rows stored with their
// reserved numbers, every certificate rendered (with its QR code), signed
// with a signature time-stamp and a DSS, self-checked and recorded, and the
// verification cache told of each committed group. On the embedded SQLite
// store and on PostgreSQL (CERTSEAL_TEST_DATABASE_URL); and, for comparison
// in the same run, on SQLite without the 国密 seal signature and without
// time-stamp, DSS and seal signature. Run it alone,
// once, and profile it with
//
//	go test ./signer -run '^$' -bench Batch10k -benchtime 1x -cpuprofile cpu.out
func BenchmarkBatch10k(b *testing.B) {
	b.Run("sqlite/timestamp+DSS+SES", func(b *testing.B) { benchmarkBatch(b, backends[0].open(b), 10000, "timestamp+DSS+SES") })
	b.Run("postgres/timestamp+DSS+SES", func(b *testing.B) { benchmarkBatch(b, backends[1].open(b), 10000, "timestamp+DSS+SES") })
	b.Run("sqlite/timestamp+DSS", func(b *testing.B) { benchmarkBatch(b, backends[0].open(b), 10000, "timestamp+DSS") })
	b.Run("sqlite/plain", func(b *testing.B) { benchmarkBatch(b, backends[0].open(b), 10000, "plain") })
}

// benchmarkBatch runs a batch as the service issues it (timestamp+DSS+SES),
// without the 国密 seal signature, or with neither (plain).
func benchmarkBatch(b *testing.B, store registry.Store, rows int, mode string) {
	f := newFixture(b, store)
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
	// The verification cache, as serve wires it: the store is written
	// through a registry.Writer whose after-commit hook invalidates the
	// numbers each committed group issued (api's refresh).
	svc, err := verify.NewService(f.store, verify.NewCached(memcache.New(memcache.Options{}), verify.CachedOptions{}),
		"https://zc.example.cn", verify.PDFTrust{Root: f.ca.Root(), Issuing: []*x509.Certificate{f.ca.Issuing()}}, time.Now)
	if err != nil {
		b.Fatal(err)
	}
	writer := registry.Writing(f.store)
	invalidated := 0
	writer.AfterCommit(func(ctx context.Context, c registry.Changes) {
		svc.Invalidate(ctx, c.Numbers...)
		invalidated += c.Issued
	})
	batches := signer.NewBatches(issuer, writer, slog.New(slog.DiscardHandler))
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
		if err != nil || batch.State != registry.BatchDone || batch.Issued != rows || batch.Failed != 0 || invalidated != rows*(i+1) {
			b.Fatalf("batch %+v (%d invalidated): %v", batch, invalidated, err)
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
