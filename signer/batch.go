package signer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/audit"
)

// Batches issues many certificates from one upload. Every row is checked
// before anything is issued; the rows are then stored, and issued one by
// one, each in the transaction that records it, so a crash loses nothing
// and, resumed, issues nothing twice.
type Batches struct {
	issuer  *Issuer
	store   registry.Store
	log     *slog.Logger
	maxRows int
	// issued is told every number issued (cache invalidation, metrics).
	issued func(ctx context.Context, number string)

	ctx     context.Context // the service's lifetime: batches outlive their request
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	running map[int64]bool
}

// NewBatches returns a batch runner; Close stops it.
func NewBatches(issuer *Issuer, store registry.Store, log *slog.Logger, issued func(ctx context.Context, number string)) *Batches {
	ctx, cancel := context.WithCancel(context.Background())
	return &Batches{issuer: issuer, store: store, log: log, maxRows: 10000, issued: issued, ctx: ctx, cancel: cancel, running: map[int64]bool{}}
}

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
func (b *Batches) Submit(ctx context.Context, sub BatchSubmission) (registry.Batch, []RowError, error) {
	today := registry.Today(b.issuer.now())
	file, rowErrs, err := ParseBatch(ctx, sub.ContentType, sub.Body, sub.UnitID, BatchLimits{MaxRows: b.maxRows, Today: today})
	if err != nil || len(rowErrs) > 0 {
		return registry.Batch{}, rowErrs, err
	}
	inForce, err := b.seriesInForce(ctx, sub.UnitID, today)
	if err != nil {
		return registry.Batch{}, nil, err
	}
	rows := make([]registry.BatchRow, len(file.Rows))
	for i, a := range file.Rows {
		n := file.RowNumbers[i]
		a, err := b.issuer.Prepare(a)
		switch {
		case err != nil:
			rowErrs = append(rowErrs, rowError(n, err))
		case !inForce[a.Series]:
			rowErrs = append(rowErrs, RowError{Row: n, Column: "series", Reason: fmt.Sprintf("the unit has no filing for series %q in force today", a.Series)})
		}
		rows[i] = registry.BatchRow{Row: n, Appointment: a, State: registry.RowPending}
	}
	if len(rowErrs) > 0 {
		return registry.Batch{}, rowErrs, nil
	}
	batch := registry.Batch{UnitID: sub.UnitID, Actor: sub.Actor, RequestID: sub.RequestID, State: registry.BatchRunning,
		CreatedAt: b.issuer.now(), IdempotencyKey: sub.IdempotencyKey}
	err = b.store.InTx(ctx, func(tx registry.Tx) error {
		if err := tx.CreateBatch(ctx, &batch, rows); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, &registry.AuditEvent{At: time.Now(), Actor: sub.Actor, Action: "batch.submit", SubjectType: "batch",
			SubjectID: fmt.Sprint(batch.ID), RequestID: sub.RequestID, PayloadDigest: audit.Digest(map[string]any{"rows": len(rows), "unit": sub.UnitID})})
	})
	if err != nil {
		return registry.Batch{}, nil, err
	}
	b.start(batch.ID)
	return batch, nil, nil
}

// rowError turns a validation error into the row's error.
func rowError(row int, err error) RowError {
	var e *registry.Error
	if errors.As(err, &e) {
		return RowError{Row: row, Column: e.Field, Reason: e.Msg}
	}
	return RowError{Row: row, Reason: err.Error()}
}

func (b *Batches) seriesInForce(ctx context.Context, unitID int64, day registry.Date) (map[string]bool, error) {
	in := map[string]bool{}
	err := b.store.View(ctx, func(tx registry.Tx) error {
		if _, err := tx.Unit(ctx, unitID); err != nil {
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

// Resume restarts the batches a crash or a shutdown interrupted.
func (b *Batches) Resume(ctx context.Context) error {
	var batches []registry.Batch
	err := b.store.View(ctx, func(tx registry.Tx) (err error) {
		batches, err = tx.UnfinishedBatches(ctx)
		return err
	})
	if err != nil {
		return err
	}
	for _, batch := range batches {
		b.log.InfoContext(ctx, "resuming batch", "batch_id", batch.ID, "issued", batch.Issued, "failed", batch.Failed, "total", batch.Total)
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

// Close stops issuing; pending rows stay pending and resume at next start.
func (b *Batches) Close() {
	b.cancel()
	b.wg.Wait()
}

func (b *Batches) run(ctx context.Context, id int64) error {
	var batch registry.Batch
	var rows []registry.BatchRow
	err := b.store.View(ctx, func(tx registry.Tx) (err error) {
		if batch, err = tx.Batch(ctx, id); err != nil {
			return err
		}
		rows, err = tx.BatchRows(ctx, id, registry.RowPending)
		return err
	})
	if err != nil {
		return err
	}
	for i := range rows {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := b.issueRow(ctx, batch, &rows[i]); err != nil {
			return err
		}
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

// issueRow settles one row: issued, already issued (a resubmitted row), or
// failed with its reason. Only an unavailable store stops the batch.
func (b *Batches) issueRow(ctx context.Context, batch registry.Batch, row *registry.BatchRow) error {
	issued, err := b.issuer.Issue(ctx, Request{Appointment: row.Appointment, Actor: batch.Actor, RequestID: batch.RequestID, Row: row})
	if err == nil {
		if b.issued != nil {
			b.issued(ctx, issued.Certificate.Number)
		}
		return nil
	}
	if errors.Is(err, registry.ErrUnavailable) || ctx.Err() != nil {
		return err
	}
	settled := *row
	var already *AlreadyIssuedError
	if errors.As(err, &already) {
		settled.State, settled.Number, settled.Error = registry.RowIssued, already.Number, "already issued before; not issued again"
	} else {
		settled.State, settled.Error = registry.RowFailed, err.Error()
	}
	return b.store.InTx(ctx, func(tx registry.Tx) error { return tx.UpdateBatchRow(ctx, &settled) })
}
