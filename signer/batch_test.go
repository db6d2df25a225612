package signer_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/certseal/certseal/internal/testenv"
	"github.com/certseal/certseal/keys"
	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/postgres"
	"github.com/certseal/certseal/registry/storetest"
	"github.com/certseal/certseal/signer"
	"github.com/certseal/certseal/signer/batchfile"
)

// submit uploads rows maleIDNumber(0..n-1) and waits for the batch.
func submit(t *testing.T, f *fixture, bs *signer.Batches, n int) registry.Batch {
	t.Helper()
	batch, rowErrs, err := bs.Submit(context.Background(), signer.BatchSubmission{UnitID: f.unit.ID, ContentType: batchfile.ContentTypeCSV,
		Body: batchCSV(t, 0, n, f.photo), Actor: "unit:1#1", RequestID: "req-batch"})
	if err != nil || len(rowErrs) > 0 {
		t.Fatalf("submit: %v %v", err, rowErrs)
	}
	bs.Wait()
	return batch
}

// batchState is what the store holds after a batch.
type batchState struct {
	batch registry.Batch
	rows  []registry.BatchRow
	certs map[string][]registry.Certificate // by number
	signs map[string]int                    // certificate.sign events by number
}

func readBatch(t *testing.T, f *fixture, id int64) batchState {
	t.Helper()
	ctx := context.Background()
	s := batchState{certs: map[string][]registry.Certificate{}, signs: map[string]int{}}
	err := f.store.View(ctx, func(tx registry.Tx) (err error) {
		if s.batch, err = tx.Batch(ctx, id); err != nil {
			return err
		}
		if s.rows, err = tx.BatchRows(ctx, id, ""); err != nil {
			return err
		}
		certs, err := tx.ListCertificates(ctx, registry.CertFilter{UnitID: f.unit.ID})
		for _, c := range certs {
			s.certs[c.Number] = append(s.certs[c.Number], c)
		}
		if err != nil {
			return err
		}
		evs, err := tx.AuditEvents(ctx, 0, 1000)
		for _, e := range evs {
			if e.Action == "certificate.sign" {
				s.signs[e.SubjectID]++
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// show is a row without its personal data, for failure messages.
func show(r registry.BatchRow) string {
	return fmt.Sprintf("row %d: %s %s %q", r.Row, r.State, r.Number, r.Error)
}

// number is the seq-th certificate number of the fixture's year.
func number(t *testing.T, seq int64) string {
	t.Helper()
	n, err := registry.FormatCertNumber(2026, seq)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Every row is issued under the number reserved for it at submission, in
// row order after the numbers issued before; a row repeating a certificate
// takes no number; each certificate is signed (and the seal's use
// recorded) once.
func TestBatch(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b.open(t))
			first, err := f.issuer.Issue(context.Background(), signer.Request{Appointment: f.appointment(maleIDNumber(2)), Actor: "t"})
			if err != nil {
				t.Fatal(err)
			}
			var told atomic.Int32
			bs := signer.NewBatches(f.issuer, issuedHook(f.store, func(n int) { told.Add(int32(n)) }), slog.New(slog.DiscardHandler))
			defer bs.Close()
			const n = 8
			s := readBatch(t, f, submit(t, f, bs, n).ID)
			if s.batch.State != registry.BatchDone || s.batch.Issued != n || s.batch.Failed != 0 || told.Load() != n-1 {
				t.Fatalf("batch %+v, told %d", s.batch, told.Load())
			}
			seq := int64(2)
			for _, row := range s.rows {
				if row.State != registry.RowIssued {
					t.Fatal(show(row))
				}
				if row.Row == 4 { // maleIDNumber(2), on the CSV's fourth line
					if row.Number != first.Certificate.Number || !strings.Contains(row.Error, "already issued") {
						t.Errorf("repeated %s, want number %s", show(row), first.Certificate.Number)
					}
					continue
				}
				if want := number(t, seq); row.Number != want {
					t.Errorf("row %d has number %s, want %s", row.Row, row.Number, want)
				}
				seq++
				c := s.certs[row.Number]
				if len(c) != 1 || c[0].BatchID != s.batch.ID || c[0].Version != 1 || s.signs[row.Number] != 1 {
					t.Errorf("%s: %d certificates (want 1, version 1, of this batch), %d signing events", show(row), len(c), s.signs[row.Number])
				}
			}
			if len(s.certs) != n {
				t.Errorf("%d certificates, want %d", len(s.certs), n)
			}
		})
	}
}

// unavailableAfter is a store that goes away once a transaction has
// recorded a certificate, as a crash would stop a batch halfway. Counting
// certificates, not transactions, keeps it independent of how many claim
// renewals a slow machine makes before the first group.
type unavailableAfter struct {
	registry.Store
	gone atomic.Bool
}

type recordingTx struct {
	registry.Tx
	s *unavailableAfter
}

func (t recordingTx) CreateCertificate(ctx context.Context, c *registry.Certificate, pdf []byte) error {
	t.s.gone.Store(true) // this transaction commits; the next finds the store gone
	return t.Tx.CreateCertificate(ctx, c, pdf)
}

func (s *unavailableAfter) InTx(ctx context.Context, fn func(registry.Tx) error) error {
	if s.gone.Load() {
		return registry.Errf(registry.CodeUnavailable, "store went away")
	}
	return s.Store.InTx(ctx, func(tx registry.Tx) error { return fn(recordingTx{tx, s}) })
}

// A batch stopped halfway resumes: every row ends issued exactly once,
// under its reserved number, and drafts that were signed but not recorded
// when it stopped leave no trace. The replica that stopped could not give
// its claim up (the store was gone), so the next one takes the batch over
// when the claim's lease runs out.
func TestBatchResume(t *testing.T) {
	f := newFixture(t, backends[0].open(t))
	flaky := &unavailableAfter{Store: f.store} // gone after the first group of rows
	stopped := signer.NewBatches(f.issuer, flaky, slog.New(slog.DiscardHandler))
	stopped.SetLease(time.Second)
	const n = 24 // more than one group (maxGroup 16)
	id := submit(t, f, stopped, n).ID
	stopped.Close()
	s := readBatch(t, f, id)
	if s.batch.State != registry.BatchRunning || s.batch.Issued == 0 || s.batch.Issued == n {
		t.Fatalf("stopped batch %+v: want some rows issued, some pending", s.batch)
	}

	resumed := signer.NewBatches(f.issuer, f.store, slog.New(slog.DiscardHandler))
	resumed.SetLease(200 * time.Millisecond)
	defer resumed.Close()
	if err := resumed.Resume(context.Background()); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); readBatch(t, f, id).batch.State != registry.BatchDone && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	resumed.Wait()
	s = readBatch(t, f, id)
	if s.batch.State != registry.BatchDone || s.batch.Issued != n || len(s.certs) != n {
		t.Fatalf("resumed batch %+v, %d certificates", s.batch, len(s.certs))
	}
	for i, row := range s.rows {
		if want := number(t, int64(i+1)); row.State != registry.RowIssued || row.Number != want || len(s.certs[want]) != 1 || s.signs[want] != 1 {
			t.Errorf("%s (want number %s): %d certificates, %d signing events", show(row), want, len(s.certs[want]), s.signs[want])
		}
	}
}

// Revoking the seal while a batch runs: rows recorded before the
// revocation committed stay issued, drafts signed before it but not yet
// recorded are discarded, and every later row fails, its reserved number
// void.
func TestBatchSealRevokedMidway(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b.open(t))
			var before int
			var revokedAt time.Time
			bs := signer.NewBatches(f.issuer, issuedHook(f.store, func(n int) {
				before += n // called in the order of commits, from one goroutine
				if !revokedAt.IsZero() {
					return
				}
				if err := f.revokeSeal(); err != nil {
					t.Error(err)
				}
				revokedAt = time.Now()
			}), slog.New(slog.DiscardHandler))
			defer bs.Close()
			const n = 24 // more than one group (maxGroup 16)
			s := readBatch(t, f, submit(t, f, bs, n).ID)
			if s.batch.State != registry.BatchDone || s.batch.Issued != before || s.batch.Failed != n-before || len(s.certs) != before {
				t.Fatalf("batch %+v, %d certificates, %d rows recorded before the revocation", s.batch, len(s.certs), before)
			}
			for _, row := range s.rows {
				if row.State == registry.RowIssued {
					continue
				}
				if !strings.Contains(row.Error, "seal") || !strings.Contains(row.Error, row.Number+", reserved for this row, is void") || len(s.certs[row.Number]) != 0 {
					t.Errorf("failed %s", show(row))
				}
			}
		})
	}
}

// The submitter may no longer issue (its API key was revoked) while its
// batch runs: groups committed before stay issued, every later row fails
// saying why, on whichever replica runs it.
func TestBatchSubmitterRevokedMidway(t *testing.T) {
	f := newFixture(t, backends[0].open(t))
	var before int
	var revoked atomic.Bool
	bs := signer.NewBatches(f.issuer, issuedHook(f.store, func(n int) {
		before += n
		revoked.Store(true)
	}), slog.New(slog.DiscardHandler))
	defer bs.Close()
	bs.SetSubmitterCheck(func(_ context.Context, _ registry.Tx, actor string, _ time.Time) error {
		if actor != "unit:1#1" {
			t.Errorf("checked actor %q, want the batch's", actor)
		}
		if revoked.Load() {
			return registry.Errf("unauthorized", "the API key that submitted this batch is revoked")
		}
		return nil
	})
	const n = 40 // three groups (maxGroup 16)
	s := readBatch(t, f, submit(t, f, bs, n).ID)
	if before == 0 || before == n || s.batch.Issued != before || s.batch.Failed != n-before || len(s.certs) != before {
		t.Fatalf("batch %+v, %d certificates, %d issued before the revocation", s.batch, len(s.certs), before)
	}
	for _, row := range s.rows {
		if row.State == registry.RowFailed && !strings.Contains(row.Error, "API key that submitted this batch is revoked") {
			t.Errorf("failed %s", show(row))
		}
	}
}

// A seal change approved while a batch runs: drafts signed with the old
// seal are not recorded but signed again with the new one, so the batch
// completes and nothing is recorded with the old seal after the change.
func TestBatchSealChangedMidway(t *testing.T) {
	f := newFixture(t, backends[0].open(t))
	ctx := context.Background()
	var changed bool
	bs := signer.NewBatches(f.issuer, issuedHook(f.store, func(int) {
		if changed {
			return
		}
		changed = true
		err := f.store.InTx(ctx, func(tx registry.Tx) error {
			old, err := tx.Seal(ctx, f.seal.ID, registry.LockUpdate)
			if err != nil {
				return err
			}
			if err := registry.SupersedeSeal(&old, f.now); err != nil {
				return err
			}
			if err := tx.UpdateSeal(ctx, &old); err != nil {
				return err
			}
			pub, blob, err := f.keys.GenerateSealKey(ctx, keys.ECDSAP256, f.unit.ID, 2)
			if err != nil {
				return err
			}
			der, serial, err := f.ca.IssueSealCert(f.unit, 2, pub, f.now.Add(-time.Minute), "http://127.0.0.1:1")
			if err != nil {
				return err
			}
			return tx.CreateSeal(ctx, &registry.Seal{UnitID: f.unit.ID, Version: 2, State: registry.SealActive, ImprintPNG: f.seal.ImprintPNG,
				KeyBlob: blob, CertDER: der, Serial: serial, CreatedAt: f.now})
		})
		if err != nil {
			t.Error(err)
		}
	}), slog.New(slog.DiscardHandler))
	defer bs.Close()
	const n = 24 // more than one group (maxGroup 16)
	id := submit(t, f, bs, n).ID
	var certs []registry.Certificate
	err := f.store.View(ctx, func(tx registry.Tx) (err error) {
		certs, err = tx.ListCertificates(ctx, registry.CertFilter{UnitID: f.unit.ID})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if s := readBatch(t, f, id); s.batch.State != registry.BatchDone || s.batch.Issued != n || len(certs) != n {
		t.Fatalf("batch %+v, %d certificates", s.batch, len(certs))
	}
	// In the order recorded: seal version 1, then only version 2.
	var versions []int
	for _, c := range certs {
		if len(versions) == 0 || versions[len(versions)-1] != c.SealVersion {
			versions = append(versions, c.SealVersion)
		}
	}
	if fmt.Sprint(versions) != "[1 2]" {
		t.Fatalf("seal versions in the order recorded: %v, want [1 2]", versions)
	}
}

// A unit without an active seal cannot issue: its batch is refused whole,
// before anything is stored, rather than accepted for every row to fail.
func TestBatchWithoutActiveSealRefused(t *testing.T) {
	f := newFixture(t, backends[0].open(t))
	ctx := context.Background()
	if err := f.revokeSeal(); err != nil {
		t.Fatal(err)
	}
	bs := signer.NewBatches(f.issuer, f.store, slog.New(slog.DiscardHandler))
	defer bs.Close()
	_, rowErrs, err := bs.Submit(ctx, signer.BatchSubmission{UnitID: f.unit.ID, ContentType: batchfile.ContentTypeCSV,
		Body: batchCSV(t, 0, 3, f.photo), Actor: "unit:1#1", RequestID: "req-batch"})
	if !errors.Is(err, registry.ErrSealNotActive) || len(rowErrs) != 0 {
		t.Fatalf("Submit = %v, %v; want the whole batch refused for want of an active seal", err, rowErrs)
	}
	err = f.store.View(ctx, func(tx registry.Tx) error {
		_, err := tx.Batch(ctx, 1)
		return err
	})
	if !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("the first batch id: %v; want nothing stored", err)
	}
}

// Problems found after parsing (the photo, the filing) name the column as
// the uploaded file does.
func TestBatchRowErrorsNameTheFilesColumns(t *testing.T) {
	f := newFixture(t, backends[0].open(t))
	bs := signer.NewBatches(f.issuer, f.store, slog.New(slog.DiscardHandler))
	defer bs.Close()
	submit := func(body []byte) []batchfile.RowError {
		t.Helper()
		_, rowErrs, err := bs.Submit(context.Background(), signer.BatchSubmission{UnitID: f.unit.ID, ContentType: batchfile.ContentTypeCSV,
			Body: body, Actor: "unit:1#1", RequestID: "req-batch"})
		if err != nil {
			t.Fatal(err)
		}
		return rowErrs
	}
	notAnImage := []byte("\xff\xd8\xff\xe0 but not a JPEG after all")
	if errs := submit(batchCSV(t, 0, 1, notAnImage)); len(errs) != 1 || errs[0].Row != 2 || errs[0].Column != "照片" {
		t.Errorf("a photo that is not an image: %+v; want row 2, column 照片", errs)
	}
	other := strings.Replace(string(batchCSV(t, 0, 1, f.photo)), "高校教师", "中小学教师", 1)
	if errs := submit([]byte(other)); len(errs) != 1 || errs[0].Column != "职称系列" || !strings.Contains(errs[0].Reason, "中小学教师") {
		t.Errorf("a series without a filing: %+v; want column 职称系列", errs)
	}
}

// One pass reports every row's problems: format errors, a series without
// a filing in force (on a row with format errors too) and a clash with a
// certificate already issued, in row order; nothing is stored.
func TestBatchReportsEveryRowsErrorsInOnePass(t *testing.T) {
	f := newFixture(t, backends[0].open(t))
	ctx := context.Background()
	// maleIDNumber(3) already has a certificate as 教授; the file says 副教授.
	issued := f.appointment(maleIDNumber(3))
	issued.Post = "教授"
	if _, err := f.issuer.Issue(ctx, signer.Request{Appointment: issued, Actor: "t"}); err != nil {
		t.Fatal(err)
	}
	table, err := csv.NewReader(bytes.NewReader(batchCSV(t, 0, 5, f.photo))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	const idCol, seriesCol = 2, 3
	table[1][idCol] = "370102198001010010"             // row 2: a wrong check character
	table[2][seriesCol] = "中小学教师"                      // row 3: no filing
	table[3][idCol], table[3][seriesCol] = "", "中小学教师" // row 4: both
	var body bytes.Buffer
	csv.NewWriter(&body).WriteAll(table)
	bs := signer.NewBatches(f.issuer, f.store, slog.New(slog.DiscardHandler))
	defer bs.Close()
	_, rowErrs, err := bs.Submit(ctx, signer.BatchSubmission{UnitID: f.unit.ID, ContentType: batchfile.ContentTypeCSV,
		Body: body.Bytes(), Actor: "unit:1#1", RequestID: "req-batch"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range rowErrs {
		got = append(got, fmt.Sprintf("%d %s", e.Row, e.Column))
	}
	want := []string{"2 身份证号", "3 职称系列", "4 身份证号", "4 职称系列", "5 身份证号"}
	if !slices.Equal(got, want) {
		t.Fatalf("row errors %q (%+v), want %q", got, rowErrs, want)
	}
	if !strings.Contains(rowErrs[2+1].Reason, "中小学教师") || !strings.Contains(rowErrs[4].Reason, "already has certificate") {
		t.Errorf("reasons: %+v", rowErrs)
	}
	err = f.store.View(ctx, func(tx registry.Tx) error {
		_, err := tx.Batch(ctx, 1)
		return err
	})
	if !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("a batch was stored: %v", err)
	}
}

// waitDone waits until batch id is done.
func waitDone(t *testing.T, f *fixture, id int64) batchState {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if s := readBatch(t, f, id); s.batch.State == registry.BatchDone {
			return s
		}
	}
	s := readBatch(t, f, id)
	t.Fatalf("batch not done: %+v", s.batch)
	return s
}

// Two replicas on one database: B starts (a rolling deploy) while A runs a
// batch, and resumes the unfinished batches it finds. One runs it; every
// row is issued once and the batch finishes. Before claims, both ran it,
// tripped over each other's rows and could both give up, leaving it
// running forever.
func TestTwoReplicasRunABatchOnce(t *testing.T) {
	url := testenv.PostgresURL(t)
	ctx := context.Background()
	for round := range 5 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			f := newFixture(t, backends[1].open(t))
			other, err := postgres.Open(ctx, url, storetest.PII())
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			a := signer.NewBatches(f.issuer, f.store, slog.New(slog.DiscardHandler))
			b := signer.NewBatches(f.issuer, other, slog.New(slog.DiscardHandler))
			defer a.Close()
			defer b.Close()
			const n = 48
			batch, rowErrs, err := a.Submit(ctx, signer.BatchSubmission{UnitID: f.unit.ID, ContentType: batchfile.ContentTypeCSV,
				Body: batchCSV(t, 0, n, f.photo), Actor: "unit:1#1", RequestID: "req-batch"})
			if err != nil || len(rowErrs) > 0 {
				t.Fatal(err, rowErrs)
			}
			time.Sleep(time.Duration(round) * 40 * time.Millisecond)
			if err := b.Resume(ctx); err != nil { // B starting now
				t.Fatal(err)
			}
			s := waitDone(t, f, batch.ID)
			if s.batch.Issued != n || len(s.certs) != n {
				t.Fatalf("batch %+v, %d certificates", s.batch, len(s.certs))
			}
			for _, row := range s.rows {
				if row.State != registry.RowIssued || len(s.certs[row.Number]) != 1 || s.signs[row.Number] != 1 {
					t.Errorf("%s: %d certificates, %d signing events", show(row), len(s.certs[row.Number]), s.signs[row.Number])
				}
			}
		})
	}
}

// droppingStore drops the connection once while a certificate is
// recorded, as a PostgreSQL failover or pg_terminate_backend does.
type droppingStore struct {
	registry.Store
	drops atomic.Int32
}

type droppingTx struct {
	registry.Tx
	s *droppingStore
}

func (s *droppingStore) InTx(ctx context.Context, fn func(registry.Tx) error) error {
	return s.Store.InTx(ctx, func(tx registry.Tx) error { return fn(droppingTx{tx, s}) })
}

func (t droppingTx) CreateCertificate(ctx context.Context, c *registry.Certificate, pdf []byte) error {
	if t.s.drops.Add(-1) >= 0 {
		return &pgconn.PgError{Severity: "FATAL", Code: "57P01", Message: "terminating connection due to administrator command"}
	}
	return t.Tx.CreateCertificate(ctx, c, pdf)
}

// The store's trouble is not a row's fault: a dropped connection leaves the
// rows pending, and the batch goes on at the next look (every lease), every
// row issued. It used to fail the row for good and void its number.
func TestBatchOutlivesADroppedConnection(t *testing.T) {
	f := newFixture(t, backends[0].open(t))
	dropping := &droppingStore{Store: f.store}
	dropping.drops.Store(1)
	bs := signer.NewBatches(f.issuer, dropping, slog.New(slog.DiscardHandler))
	bs.SetLease(200 * time.Millisecond)
	defer bs.Close()
	if err := bs.Resume(context.Background()); err != nil { // as serve does at start
		t.Fatal(err)
	}
	s := waitDone(t, f, submit(t, f, bs, 3).ID)
	for _, r := range s.rows {
		if r.State != registry.RowIssued {
			t.Errorf("%s after a dropped connection", show(r))
		}
	}
}

// The same submission twice (one Idempotency-Key: a retry, or two replicas
// each running it before either stored the API's answer) makes one batch;
// the second reserves no numbers and gets the first batch.
func TestBatchIdempotencyKey(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend.name, func(t *testing.T) {
			f := newFixture(t, backend.open(t))
			bs := signer.NewBatches(f.issuer, f.store, slog.New(slog.DiscardHandler))
			defer bs.Close()
			ctx := context.Background()
			body := batchCSV(t, 0, 5, f.photo)
			submitAs := func(actor, key string) registry.Batch {
				b, rowErrs, err := bs.Submit(ctx, signer.BatchSubmission{UnitID: f.unit.ID, ContentType: batchfile.ContentTypeCSV,
					Body: body, Actor: actor, RequestID: "r", IdempotencyKey: key})
				if err != nil || len(rowErrs) > 0 {
					t.Fatal(err, rowErrs)
				}
				bs.Wait()
				return b
			}
			first := submitAs("unit:1#1", "appointments.csv-1234")
			again := submitAs("unit:1#1", "appointments.csv-1234")
			if again.ID != first.ID {
				t.Errorf("the same Idempotency-Key made batches %d and %d", first.ID, again.ID)
			}
			s := readBatch(t, f, first.ID)
			if s.batch.Issued != 5 || len(s.certs) != 5 {
				t.Errorf("batch %+v, %d certificates", s.batch, len(s.certs))
			}
			// Another caller's key is another submission: its rows are
			// issued already, so it reserves nothing either.
			if other := submitAs("unit:1#2", "appointments.csv-1234"); other.ID == first.ID {
				t.Errorf("another caller's key answered with batch %d", other.ID)
			}
		})
	}
}

// issuedHook is store whose commits tell hook how many certificates each
// issued, in the order of commits.
func issuedHook(store registry.Store, hook func(issued int)) registry.Store {
	w := registry.NewWriter(store)
	w.AfterCommit(func(_ context.Context, c registry.Changes) {
		if c.Issued > 0 {
			hook(c.Issued)
		}
	})
	return w
}
