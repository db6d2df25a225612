// Package units holds the commands on units and on what they file: register
// a unit, submit, review and withdraw a series filing. Each is one
// transaction with its audit event. Reviewed is the shape a reviewer's
// decision shares with seal applications (keys.Seals uses it too).
package units

import (
	"context"
	"errors"
	"time"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/audit"
)

// Service runs the commands on units and filings.
type Service struct {
	w   *registry.Writer
	now func() time.Time
}

// New returns the commands over store (see registry.Writing).
func New(store registry.Store, now func() time.Time) *Service {
	return &Service{w: registry.Writing(store), now: now}
}

// Register records a new unit; a USCC registered before is a duplicate
// named by its field.
func (s *Service) Register(ctx context.Context, c registry.Caller, u registry.Unit) (registry.Unit, error) {
	u.CreatedAt = s.now()
	err := s.w.Write(ctx, func(tx registry.Tx, _ *registry.Changes) error {
		if err := tx.CreateUnit(ctx, &u); err != nil {
			if errors.Is(err, registry.ErrDuplicate) {
				return &registry.Error{Code: registry.CodeDuplicate, Field: "uscc", Msg: "a unit with this USCC is already registered"}
			}
			return err
		}
		return tx.AppendAudit(ctx, audit.Event(c, s.now(), "unit.register", "unit", u.ID, u))
	})
	return u, err
}

// File submits a filing of f.UnitID, which the caller must see.
func (s *Service) File(ctx context.Context, c registry.Caller, f registry.Filing) (registry.Filing, error) {
	f.SubmittedAt = s.now()
	err := s.w.Write(ctx, func(tx registry.Tx, _ *registry.Changes) error {
		if _, err := Visible(ctx, tx, c, f.UnitID); err != nil {
			return err
		}
		if err := tx.CreateFiling(ctx, &f); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, audit.Event(c, s.now(), "filing.submit", "filing", f.ID, f))
	})
	return f, err
}

// ReviewFiling decides filing id.
func (s *Service) ReviewFiling(ctx context.Context, c registry.Caller, id int64, rv registry.Review) (registry.Filing, error) {
	return Filings.Change(ctx, s.w, c, s.now(), id, "review", func(_ registry.Tx, f *registry.Filing, _ registry.Unit, _ *registry.Changes) (any, error) {
		return rv, registry.ReviewFiling(f, rv)
	})
}

// WithdrawFiling withdraws filing id; certificates can no longer be
// issued under it from the moment this commits.
func (s *Service) WithdrawFiling(ctx context.Context, c registry.Caller, id int64) (registry.Filing, error) {
	return Filings.Change(ctx, s.w, c, s.now(), id, "withdraw", func(_ registry.Tx, f *registry.Filing, _ registry.Unit, _ *registry.Changes) (any, error) {
		err := registry.WithdrawFiling(f)
		return f.State, err // the new state
	})
}

// Visible loads a unit the caller may see; for one it may not, the unit
// does not exist.
func Visible(ctx context.Context, tx registry.Tx, c registry.Caller, unitID int64) (registry.Unit, error) {
	u, err := tx.Unit(ctx, unitID)
	if err != nil {
		return u, err
	}
	if !c.CanSee(u) {
		return u, registry.NotFound("unit", unitID)
	}
	return u, nil
}

// Reviewed describes a kind of record a reviewer decides on (a series
// filing, a seal application), for what they share: read one the caller
// may see, and move it (review, withdraw) in one transaction with its
// audit event.
type Reviewed[T any] struct {
	Subject string // audit subject type and action prefix
	What    string // in "not found" answers
	Read    func(ctx context.Context, tx registry.Tx, id int64) (T, error)
	UnitOf  func(T) int64
	Update  func(ctx context.Context, tx registry.Tx, rec *T) error
	IDOf    func(T) int64
}

// Filings is the Reviewed of series filings.
var Filings = Reviewed[registry.Filing]{
	Subject: "filing", What: "filing",
	Read: func(ctx context.Context, tx registry.Tx, id int64) (registry.Filing, error) {
		return tx.Filing(ctx, id, registry.NoLock)
	},
	UnitOf: func(f registry.Filing) int64 { return f.UnitID },
	Update: func(ctx context.Context, tx registry.Tx, f *registry.Filing) error { return tx.UpdateFiling(ctx, f) },
	IDOf:   func(f registry.Filing) int64 { return f.ID },
}

// Load reads record id and its unit if the caller may see the unit;
// otherwise the record does not exist, for this caller.
func (k Reviewed[T]) Load(ctx context.Context, tx registry.Tx, c registry.Caller, id int64) (T, registry.Unit, error) {
	rec, err := k.Read(ctx, tx, id)
	if err != nil {
		return rec, registry.Unit{}, err
	}
	u, err := Visible(ctx, tx, c, k.UnitOf(rec))
	if err != nil {
		return rec, u, registry.NotFound(k.What, id)
	}
	return rec, u, nil
}

// Get reads record id for the caller.
func (k Reviewed[T]) Get(ctx context.Context, store registry.Store, c registry.Caller, id int64) (T, error) {
	var rec T
	err := store.View(ctx, func(tx registry.Tx) (err error) {
		rec, _, err = k.Load(ctx, tx, c, id)
		return err
	})
	return rec, err
}

// Change loads record id, lets apply move it (and do what else belongs in
// the same transaction), stores it and appends the audit event
// "<subject>.<action>" with apply's payload, all in one transaction.
func (k Reviewed[T]) Change(ctx context.Context, w *registry.Writer, c registry.Caller, at time.Time, id int64, action string,
	apply func(tx registry.Tx, rec *T, unit registry.Unit, changed *registry.Changes) (payload any, err error)) (T, error) {
	var rec T
	err := w.Write(ctx, func(tx registry.Tx, changed *registry.Changes) error {
		var unit registry.Unit
		var err error
		if rec, unit, err = k.Load(ctx, tx, c, id); err != nil {
			return err
		}
		payload, err := apply(tx, &rec, unit, changed)
		if err != nil {
			return err
		}
		if err := k.Update(ctx, tx, &rec); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, audit.Event(c, at, k.Subject+"."+action, k.Subject, k.IDOf(rec), payload))
	})
	return rec, err
}
