package signer

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/audit"
	"github.com/certseal/certseal/signer/batchfile"
)

// Batches issues many certificates from one upload.
//
// Submit checks every row before anything is issued, then stores the rows
// in one transaction, each with the certificate number it will carry,
// reserved from the year's sequence (a row whose appointment already has a
// certificate is stored settled and takes none). As the number is known
// before any rendering, rows are rendered and signed ("drafted") outside
// any transaction, on one worker per CPU, while recording stays serialized:
// each row settles in the transaction that records its certificate, and that
// transaction first re-reads the seal under a share lock (see commitGroup).
// So a crash loses nothing and, resumed, issues nothing twice: a pending row
// is drafted again under its own reserved number, and an unrecorded draft
// is just discarded. A row that finally fails keeps its reserved number,
// which is then void, never issued; its error says so. The sequence itself
// stays gapless: each value is on a certificate or named void by the row
// it was reserved for. The number's year is the year the batch was accepted.
//
// Every replica resumes unfinished batches, and only one runs each: the
// runner claims the batch for a lease it renews while running (a crashed
// replica's batches are taken over when its lease runs out), and a
// replica looks for batches nobody holds every lease.
type Batches struct {
	issuer  *Issuer
	store   *registry.Writer
	log     *slog.Logger
	maxRows int

	runner    string         // names this replica in the batches it claims
	lease     time.Duration  // how long a claim holds without renewal
	submitter SubmitterCheck // nil: a batch runs whoever submitted it

	ctx       context.Context // the service's lifetime: batches outlive their request
	cancel    context.CancelFunc
	wg        sync.WaitGroup // running batches
	rescanner sync.WaitGroup // the loop that looks for batches nobody runs
	rescan    sync.Once
	mu        sync.Mutex
	running   map[int64]bool
}

// errLostClaim ends a run whose batch another replica took over.
var errLostClaim = errors.New("signer: the batch is run elsewhere now")

// NewBatches returns a batch runner over store (see registry.Writing: what
// each group issued reaches the store's after-commit hooks); Close stops it.
func NewBatches(issuer *Issuer, store registry.Store, log *slog.Logger) *Batches {
	ctx, cancel := context.WithCancel(context.Background())
	return &Batches{issuer: issuer, store: registry.Writing(store), log: log, maxRows: 10000, ctx: ctx, cancel: cancel, running: map[int64]bool{},
		runner: rand.Text(), lease: 30 * time.Second}
}

// SubmitterCheck refuses, inside a batch's commit transaction, a batch
// whose submitter may no longer issue (its API key revoked or expired):
// a registry.Error fails the group's rows with it, another error leaves
// them pending. actor is the batch's Actor.
type SubmitterCheck func(ctx context.Context, tx registry.APIKeyTx, actor string, now time.Time) error

// SetSubmitterCheck makes every commit of a batch ask check first, so a
// batch submitted with a key revoked since stops at its next group on every
// replica. Call it before any batch runs.
func (b *Batches) SetSubmitterCheck(check SubmitterCheck) { b.submitter = check }

// SetLease changes how long a claim on a batch holds without renewal
// (default 30s), before any batch runs: tests shorten it.
func (b *Batches) SetLease(d time.Duration) { b.lease = d }

// BatchSubmission is one upload.
type BatchSubmission struct {
	UnitID         int64
	ContentType    string
	Body           []byte
	Actor          string
	RequestID      string
	IdempotencyKey string
}

// Submit validates a whole upload and, when every row is good, stores it
// and starts issuing. Row errors come back with no batch and nothing stored.
func (b *Batches) Submit(ctx context.Context, sub BatchSubmission) (registry.Batch, []batchfile.RowError, error) {
	today := registry.Today(b.issuer.now())
	file, rowErrs, err := batchfile.Parse(ctx, sub.ContentType, sub.Body, sub.UnitID, batchfile.Limits{MaxRows: b.maxRows, Today: today})
	if err != nil {
		return registry.Batch{}, nil, err
	}
	inForce, err := b.seriesInForce(ctx, sub.UnitID, today)
	if err != nil {
		return registry.Batch{}, nil, err
	}
	// Every row is checked against the rules too, the rows with format
	// errors as far as they can be, so the unit fixes the file in one go.
	for _, f := range file.Failed {
		if f.Series != "" && !inForce[f.Series] {
			rowErrs = append(rowErrs, noFilingInForce(f.Row, f.SeriesColumn, f.Series))
		}
	}
	rows := make([]registry.BatchRow, len(file.Rows))
	good := make([]bool, len(file.Rows))
	prepared, prepErrs := b.issuer.prepareAll(file.Rows)
	for i, a := range prepared {
		n, err := file.RowNumbers[i], prepErrs[i]
		switch {
		case err != nil:
			rowErrs = append(rowErrs, rowError(n, err, func(field string) string { return file.Column(i, field) }))
		case !inForce[a.Series]:
			rowErrs = append(rowErrs, noFilingInForce(n, file.Column(i, "series"), a.Series))
		default:
			good[i] = true
		}
		rows[i] = registry.BatchRow{Row: n, Appointment: a, State: registry.RowPending}
	}
	if len(rowErrs) > 0 {
		// Nothing is stored; the rows that are good so far may still clash
		// with certificates already issued.
		clashes, err := b.clashing(ctx, file, rows, good)
		if err != nil {
			return registry.Batch{}, nil, err
		}
		rowErrs = append(rowErrs, clashes...)
		slices.SortStableFunc(rowErrs, func(x, y batchfile.RowError) int { return cmp.Compare(x.Row, y.Row) })
		return registry.Batch{}, rowErrs, nil
	}
	batch := registry.Batch{UnitID: sub.UnitID, Actor: sub.Actor, RequestID: sub.RequestID, State: registry.BatchRunning,
		CreatedAt: b.issuer.now(), IdempotencyKey: sub.IdempotencyKey}
	var clashes []batchfile.RowError
	err = b.store.InTx(ctx, func(tx registry.Tx) error {
		first, last, err := b.reserveNumbers(ctx, tx, &batch, rows, today.Year)
		var clash *rowClashes
		if errors.As(err, &clash) {
			for _, c := range clash.rows {
				clashes = append(clashes, rowError(rows[c.index].Row, c.err, func(field string) string { return file.Column(c.index, field) }))
			}
			return err // nothing stored
		}
		if err != nil {
			return err
		}
		if err := tx.CreateBatch(ctx, &batch, rows); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, &registry.AuditEvent{At: time.Now(), Actor: sub.Actor, Action: "batch.submit", SubjectType: "batch",
			SubjectID: fmt.Sprint(batch.ID), RequestID: sub.RequestID,
			PayloadDigest: audit.Digest(map[string]any{"rows": len(rows), "unit": sub.UnitID, "first_number": first, "last_number": last})})
	})
	if len(clashes) > 0 {
		return registry.Batch{}, clashes, nil
	}
	if errors.Is(err, registry.ErrDuplicate) && sub.IdempotencyKey != "" {
		// The same submission reached another replica first: its batch is
		// the answer, and this one reserved nothing.
		var first registry.Batch
		if err := b.store.View(ctx, func(tx registry.Tx) (err error) {
			first, err = tx.BatchByIdempotencyKey(ctx, sub.UnitID, sub.Actor, sub.IdempotencyKey)
			return err
		}); err != nil {
			return registry.Batch{}, nil, err
		}
		return first, nil, nil
	}
	if err != nil {
		return registry.Batch{}, nil, err
	}
	b.start(batch.ID)
	return batch, nil, nil
}

// rowClashes are rows that clash with certificates already issued.
type rowClashes struct{ rows []rowClash }

// rowClash is one row (by index in the file's rows) and why it clashes.
type rowClash struct {
	index int
	err   error
}

func (c *rowClashes) Error() string {
	return fmt.Sprintf("%d rows clash with certificates already issued", len(c.rows))
}

// alreadyIssued is the note on a row whose appointment had a certificate
// before the batch issued it one.
const alreadyIssued = "already issued before; not issued again"

// reserveNumbers gives each row its certificate number: the next values of
// the year's sequence, in row order, so consecutive (nothing else can take
// a value of the sequence before this transaction commits). A row whose
// appointment already has a valid certificate is settled here, with that
// certificate's number, so a file uploaded again after a partial failure
// voids no numbers. It returns the first and last number reserved.
func (b *Batches) reserveNumbers(ctx context.Context, tx registry.Tx, batch *registry.Batch, rows []registry.BatchRow, year int) (first, last string, err error) {
	batch.Issued = 0 // InTx may run this again
	prior, err := b.issuedBefore(ctx, tx, rows, nil)
	if err != nil {
		return "", "", err
	}
	var clashes rowClashes
	var fresh []int // the rows that take a number, in row order
	for i, p := range prior {
		r := &rows[i]
		switch {
		case p.already != nil:
			r.State, r.Number, r.Error = registry.RowIssued, p.already.Number, alreadyIssued
			batch.Issued++
		case p.refused != nil:
			clashes.rows = append(clashes.rows, rowClash{i, p.refused})
		default:
			fresh = append(fresh, i)
		}
	}
	if len(clashes.rows) > 0 {
		return "", "", &clashes
	}
	if len(fresh) == 0 {
		return "", "", nil
	}
	// One statement for all: a round trip a row was most of a
	// 10,000-row submission on PostgreSQL.
	seq, err := tx.NextSeqs(ctx, registry.CertSeqName(year), int64(len(fresh)))
	if err != nil {
		return "", "", err
	}
	for k, i := range fresh {
		r := &rows[i]
		if r.Number, err = registry.FormatCertNumber(year, seq+int64(k)); err != nil {
			return "", "", err
		}
		r.State, r.Error = registry.RowPending, ""
	}
	return rows[fresh[0]].Number, rows[fresh[len(fresh)-1]].Number, nil
}

// priorIssue is what the certificates already issued say of a row's
// appointment: the one it already has, or why the row is refused.
type priorIssue struct {
	already *AlreadyIssuedError
	refused error
}

// issuedBefore reads, in one go, what the certificates already issued say
// of each row's appointment (of the good ones only, unless good is nil);
// err is a failure of the store.
func (b *Batches) issuedBefore(ctx context.Context, tx registry.CertTx, rows []registry.BatchRow, good []bool) ([]priorIssue, error) {
	keys := make([][]byte, len(rows))
	var asked [][]byte
	for i, r := range rows {
		if good == nil || good[i] {
			keys[i] = r.Appointment.DedupKey(b.issuer.pii)
			asked = append(asked, keys[i])
		}
	}
	prevs, err := tx.CertificatesByDedupKeys(ctx, asked)
	if err != nil {
		return nil, err
	}
	out := make([]priorIssue, len(rows))
	for i, r := range rows {
		prev, ok := prevs[string(keys[i])]
		if keys[i] == nil || !ok {
			continue
		}
		err := issuedAs(prev, r.Appointment)
		if !errors.As(err, &out[i].already) {
			out[i].refused = err
		}
	}
	return out, nil
}

// clashing is the errors of the good rows that clash with certificates
// already issued, read without reserving anything.
func (b *Batches) clashing(ctx context.Context, file batchfile.File, rows []registry.BatchRow, good []bool) ([]batchfile.RowError, error) {
	var out []batchfile.RowError
	err := b.store.View(ctx, func(tx registry.Tx) error {
		prior, err := b.issuedBefore(ctx, tx, rows, good)
		if err != nil {
			return err
		}
		out = out[:0]
		for i, p := range prior {
			if p.refused != nil {
				out = append(out, rowError(rows[i].Row, p.refused, func(field string) string { return file.Column(i, field) }))
			}
		}
		return nil
	})
	return out, err
}

func noFilingInForce(row int, column, series string) batchfile.RowError {
	return batchfile.RowError{Row: row, Column: column, Reason: fmt.Sprintf("the unit has no filing for series %q in force today", series)}
}

// rowError turns a validation error into the row's error, naming the
// column as the file does.
func rowError(row int, err error, column func(field string) string) batchfile.RowError {
	var e *registry.Error
	if errors.As(err, &e) {
		return batchfile.RowError{Row: row, Column: column(e.Field), Reason: e.Msg}
	}
	return batchfile.RowError{Row: row, Reason: err.Error()}
}

// seriesInForce is the series the unit may issue in on day. A unit without
// an active seal may issue in none: the whole batch is refused up front,
// rather than accepted for every row to fail. (Each row is checked again
// when it is recorded.)
func (b *Batches) seriesInForce(ctx context.Context, unitID int64, day registry.Date) (map[string]bool, error) {
	in := map[string]bool{}
	err := b.store.View(ctx, func(tx registry.Tx) error {
		unit, err := tx.Unit(ctx, unitID)
		if err != nil {
			return err
		}
		if _, err := stampOf(ctx, tx, unit, registry.NoLock); err != nil {
			return err
		}
		filings, err := tx.ListFilings(ctx, registry.FilingFilter{UnitID: unitID, InForceOn: day})
		for _, f := range filings {
			in[f.Series] = true
		}
		return err
	})
	return in, err
}

// Resume restarts the batches a crash, a shutdown or an outage of the
// store interrupted, and from then on looks again every lease, until
// Close, for batches nobody runs.
func (b *Batches) Resume(ctx context.Context) error {
	err := b.resume(ctx)
	b.rescan.Do(func() {
		b.rescanner.Go(func() {
			tick := time.NewTicker(b.lease)
			defer tick.Stop()
			for {
				select {
				case <-b.ctx.Done():
					return
				case <-tick.C:
					if err := b.resume(b.ctx); err != nil && b.ctx.Err() == nil {
						b.log.Warn("looking for batches to resume", "err", err)
					}
				}
			}
		})
	})
	return err
}

func (b *Batches) resume(ctx context.Context) error {
	var batches []registry.Batch
	err := b.store.View(ctx, func(tx registry.Tx) (err error) {
		batches, err = tx.UnfinishedBatches(ctx)
		return err
	})
	if err != nil {
		return err
	}
	for _, batch := range batches {
		b.start(batch.ID)
	}
	return nil
}

func (b *Batches) start(id int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.running[id] || b.ctx.Err() != nil {
		return
	}
	b.running[id] = true
	b.wg.Go(func() {
		defer func() {
			b.mu.Lock()
			delete(b.running, id)
			b.mu.Unlock()
		}()
		if err := b.run(b.ctx, id); err != nil && b.ctx.Err() == nil {
			b.log.Error("batch stopped; it resumes at the next start", "batch_id", id, "err", err)
		}
	})
}

// Wait blocks until no batch is running (tests, demo, shutdown).
func (b *Batches) Wait() { b.wg.Wait() }

// Close stops issuing; pending rows stay pending, and this replica's
// claims are given up so that another replica (or the next start) resumes
// them at once.
func (b *Batches) Close() {
	b.cancel()
	b.rescanner.Wait()
	b.wg.Wait()
}

// claim takes or renews the claim on batch id for a lease (until=now: gives it up).
func (b *Batches) claim(ctx context.Context, id int64, until time.Duration) (held bool, err error) {
	now := time.Now()
	err = b.store.InTx(ctx, func(tx registry.Tx) (err error) {
		held, err = tx.ClaimBatch(ctx, id, b.runner, now, now.Add(until))
		return err
	})
	return held, err
}

// run runs batch id if no other replica does, renewing the claim as it goes.
func (b *Batches) run(ctx context.Context, id int64) error {
	held, err := b.claim(ctx, id, b.lease)
	if err != nil || !held {
		return err // not held: another replica runs it, or it is done
	}
	defer func() {
		// Given up, so that the next runner need not wait out the lease.
		release, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		b.claim(release, id, 0)
	}()
	ctx, lost := context.WithCancelCause(ctx)
	defer lost(nil)
	renewing := make(chan struct{})
	defer func() { lost(nil); <-renewing }()
	go func() {
		defer close(renewing)
		tick := time.NewTicker(b.lease / 3)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if held, err := b.claim(ctx, id, b.lease); err == nil && !held {
					lost(errLostClaim)
					return
				}
			}
		}
	}()
	err = b.runClaimed(ctx, id)
	if errors.Is(context.Cause(ctx), errLostClaim) || errors.Is(err, errLostClaim) {
		b.log.Warn("batch taken over by another replica; leaving it to it", "batch_id", id)
		return nil
	}
	return err
}

func (b *Batches) runClaimed(ctx context.Context, id int64) error {
	b.log.InfoContext(ctx, "running batch", "batch_id", id)
	var batch registry.Batch
	var rows []registry.BatchRow
	var st stamp
	err := b.store.View(ctx, func(tx registry.Tx) (err error) {
		if batch, err = tx.Batch(ctx, id); err != nil {
			return err
		}
		if rows, err = tx.BatchRows(ctx, id, registry.RowPending); err != nil {
			return err
		}
		unit, err := tx.Unit(ctx, batch.UnitID)
		if err != nil {
			return err
		}
		// Which seal the workers sign with; the recording transaction
		// checks it again (commitGroup).
		st, err = stampOf(ctx, tx, unit, registry.NoLock)
		if errors.Is(err, registry.ErrSealNotActive) {
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, row := range rows {
		if row.Number == "" {
			return fmt.Errorf("signer: batch %d row %d has no reserved certificate number", id, row.Row)
		}
	}
	r := &batchRun{b: b, batch: batch, stamp: st}
	if err := r.issue(ctx, rows); err != nil {
		return err
	}
	return b.store.InTx(ctx, func(tx registry.Tx) error {
		cur, err := tx.Batch(ctx, id)
		if err != nil {
			return err
		}
		now := b.issuer.now()
		cur.State, cur.FinishedAt = registry.BatchDone, &now
		if err := tx.UpdateBatch(ctx, &cur); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, &registry.AuditEvent{At: time.Now(), Actor: batch.Actor, Action: "batch.done", SubjectType: "batch",
			SubjectID: fmt.Sprint(id), RequestID: batch.RequestID, PayloadDigest: audit.Digest(map[string]any{"issued": cur.Issued, "failed": cur.Failed})})
	})
}

// maxGroup bounds how many drafted rows one transaction records: enough to
// spread a commit's fixed cost (the grant read under lock, the commit's
// writes: at 16, 2,000 rows on SQLite took half as long again), few enough that
// other writers wait little (tens of milliseconds).
const maxGroup = 64

// batchRun is one run over a batch's pending rows.
type batchRun struct {
	b     *Batches
	batch registry.Batch

	mu    sync.Mutex
	stamp stamp // the seal drafts are signed with; zero when none is active
}

// rowDraft is a pending row and its draft, or why drafting failed.
type rowDraft struct {
	row    *registry.BatchRow
	sealID int64 // of the seal it was drafted with; 0: not drafted, no seal was active
	draft  draft
	err    error
}

// issue drafts the rows on one worker per CPU and records them as they come.
func (r *batchRun) issue(ctx context.Context, rows []registry.BatchRow) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	todo := make(chan *registry.BatchRow)
	drafted := make(chan *rowDraft, 4*maxGroup)
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(todo)
		for i := range rows {
			select {
			case todo <- &rows[i]:
			case <-ctx.Done():
				return
			}
		}
	})
	var workers sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		workers.Go(func() {
			for row := range todo {
				rd := r.draft(ctx, row)
				select {
				case drafted <- rd:
				case <-ctx.Done():
					return
				}
			}
		})
	}
	wg.Go(func() {
		workers.Wait()
		close(drafted)
	})
	err := r.commitAll(ctx, drafted)
	cancel()
	wg.Wait()
	return err
}

// draft renders and signs a row with the current seal, outside any
// transaction.
func (r *batchRun) draft(ctx context.Context, row *registry.BatchRow) *rowDraft {
	r.mu.Lock()
	st := r.stamp
	r.mu.Unlock()
	rd := &rowDraft{row: row, sealID: st.seal.ID}
	if st.seal.ID != 0 {
		rd.draft, rd.err = r.b.issuer.draft(ctx, row.Appointment, row.Number, 1, st)
	}
	return rd
}

// groupWait is how long a group waits for more drafts after its first:
// drafts come milliseconds apart, and a group recorded as soon as one was
// ready held a few, each group paying the grant read and a commit.
const groupWait = 50 * time.Millisecond

// commitAll records drafted rows until there are no more, taking as many
// as come within groupWait (up to maxGroup) into each transaction.
func (r *batchRun) commitAll(ctx context.Context, drafted <-chan *rowDraft) error {
	wait := time.NewTimer(groupWait)
	defer wait.Stop()
	for {
		var group []*rowDraft
		select {
		case rd, ok := <-drafted:
			if !ok {
				return nil
			}
			group = append(group, rd)
		case <-ctx.Done():
			return ctx.Err()
		}
		wait.Reset(groupWait)
	more:
		for len(group) < maxGroup {
			select {
			case rd, ok := <-drafted:
				if !ok {
					break more
				}
				group = append(group, rd)
			case <-wait.C:
				break more
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := r.commit(ctx, group); err != nil {
			return err
		}
	}
}

// commit records a group. A row the store refuses (a domain error) is
// found by recording the rows one by one, and fails alone. Anything else
// (an unavailable store, a dropped connection, the end of the service)
// stops the batch with its rows pending, to resume later: a row is never
// failed, its number voided, for the store's trouble. A row settled
// meanwhile means another replica took the batch over.
func (r *batchRun) commit(ctx context.Context, group []*rowDraft) error {
	err := r.commitGroup(ctx, group)
	switch {
	case err == nil:
		return nil
	case !refusal(err) || ctx.Err() != nil:
		return err
	case errors.Is(err, registry.ErrConflict):
		return errLostClaim
	case len(group) > 1:
		for _, rd := range group {
			if err := r.commit(ctx, []*rowDraft{rd}); err != nil {
				return err
			}
		}
		return nil
	}
	return r.b.store.InTx(ctx, func(tx registry.Tx) error { return r.fail(ctx, tx, *group[0].row, err) })
}

// commitGroup settles every row of group in one transaction: each with its
// certificate, or failed with its reason, so a row never settles apart from
// its certificate.
//
// Drafts were signed before this transaction began. Each is recorded only
// if, read here under a share lock held until commit, the seal that signed
// it is still the unit's active seal. That makes every recorded signature
// one made before any revocation of its seal committed: had a revocation
// committed before the signature, it would have committed before this
// read, which would then have seen the seal revoked (SQLite: this
// transaction holds the only write connection from its start; PostgreSQL:
// a statement sees what committed before it began, and FOR SHARE waits
// for an uncommitted update of the row) and refused the draft; and after
// the read, the lock keeps any revocation waiting until this commit.
// A draft signed with a seal that is no longer active is discarded; if
// another seal is active (a change was approved), the row is drafted again
// here, under the lock, as Issue does.
func (r *batchRun) commitGroup(ctx context.Context, group []*rowDraft) error {
	return r.b.store.Write(ctx, func(tx registry.Tx, changed *registry.Changes) error {
		day := registry.Today(r.b.issuer.now())
		if r.b.submitter != nil {
			if err := r.b.submitter(ctx, tx, r.batch.Actor, r.b.issuer.now()); refusal(err) {
				for _, rd := range group {
					if err := r.fail(ctx, tx, *rd.row, err); err != nil {
						return err
					}
				}
				return nil
			} else if err != nil {
				return err
			}
		}
		// What each row's appointment already has, read for the whole group
		// in one go (a query a row was most of a group's round trips on
		// PostgreSQL). A certificate recorded here counts for the rows after
		// it, as when each row read for itself (Submit refuses a file that
		// repeats an appointment; the rows are what the store holds).
		keys := make([][]byte, len(group))
		for i, rd := range group {
			keys[i] = rd.row.Appointment.DedupKey(r.b.issuer.pii)
		}
		prevs, err := tx.CertificatesByDedupKeys(ctx, keys)
		if err != nil {
			return err
		}
		grants := map[string]grantRead{}
		for i, rd := range group {
			var prev *registry.Certificate
			if c, ok := prevs[string(keys[i])]; ok {
				prev = &c
			}
			c, err := r.settle(ctx, tx, changed, rd, day, grants, prev)
			if err != nil {
				return err
			}
			if c != nil {
				prevs[string(keys[i])] = *c
			}
		}
		return nil
	})
}

// grantRead is a grant read once per series and transaction.
type grantRead struct {
	grant
	err error
}

// settle records one row's certificate (and returns it), or settles the
// row failed or already issued. prev is the valid certificate the row's
// appointment already has, if any (checkNotIssued). An error leaves the
// row pending and rolls the whole transaction back.
func (r *batchRun) settle(ctx context.Context, tx registry.Tx, changed *registry.Changes, rd *rowDraft, day registry.Date, grants map[string]grantRead,
	prev *registry.Certificate) (*registry.Certificate, error) {
	row := *rd.row
	a := row.Appointment
	is := r.b.issuer
	if prev != nil {
		err := issuedAs(*prev, a)
		var already *AlreadyIssuedError
		if !errors.As(err, &already) {
			return nil, err
		}
		// Issued meanwhile by other means: the reserved number is void.
		row.State, row.Number, row.Error = registry.RowIssued, already.Number, alreadyIssued+voidNote(row.Number)
		return nil, tx.UpdateBatchRow(ctx, &row)
	}
	g, ok := grants[a.Series]
	if !ok {
		g.grant, g.err = is.readGrant(ctx, tx, a.UnitID, a.Series, day, registry.LockShare)
		if g.err != nil && !refusal(g.err) {
			return nil, g.err
		}
		if g.err == nil || errors.Is(g.err, registry.ErrSealNotActive) {
			// The workers sign with the seal active now, or not at all.
			r.mu.Lock()
			r.stamp = g.stamp
			r.mu.Unlock()
		}
		grants[a.Series] = g
	}
	err := g.err
	if err == nil {
		err = g.check(a, day)
	}
	if err == nil && rd.sealID != g.seal.ID {
		// Not drafted with the seal active now: draft again, under the lock.
		rd.sealID = g.seal.ID
		rd.draft, rd.err = is.draft(ctx, a, row.Number, 1, g.stamp)
	}
	if err == nil {
		err = rd.err
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, r.fail(ctx, tx, row, err)
	}
	rd.draft.a.Backfill = registry.IsBackfill(a, g.filing)
	out, err := is.record(ctx, tx, changed, rd.draft, Request{Actor: r.batch.Actor, RequestID: r.batch.RequestID}, r.batch.ID)
	if err != nil {
		return nil, err
	}
	row.State, row.Error = registry.RowIssued, ""
	return &out.Certificate, tx.UpdateBatchRow(ctx, &row)
}

// fail settles a row failed; its reserved number stays on it, void.
func (r *batchRun) fail(ctx context.Context, tx registry.Tx, row registry.BatchRow, reason error) error {
	row.State, row.Error = registry.RowFailed, reason.Error()+voidNote(row.Number)
	return tx.UpdateBatchRow(ctx, &row)
}

// voidNote records on a row that the number reserved for it was not issued.
func voidNote(number string) string {
	return fmt.Sprintf(" (number %s, reserved for this row, is void: it was never issued)", number)
}

// refusal tells a domain refusal (the filing, the seal, the data) from a
// failure of the store.
func refusal(err error) bool {
	var e *registry.Error
	return errors.As(err, &e) && e.Code != registry.CodeUnavailable
}
