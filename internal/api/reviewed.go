package api

import (
	"context"
	"net/http"

	"github.com/certseal/certseal/registry"
)

// reviewed describes a kind of record a city reviewer decides on (a seal
// application, a series filing), for the routes they share: read one,
// withdraw it, review it.
type reviewed[T any] struct {
	subject string // audit subject type and action prefix
	what    string // in "not found" answers
	read    func(ctx context.Context, tx registry.Tx, id int64) (T, error)
	unitOf  func(T) int64
	update  func(ctx context.Context, tx registry.Tx, rec *T) error
	idOf    func(T) int64
}

var filings = reviewed[registry.Filing]{
	subject: "filing", what: "filing",
	read: func(ctx context.Context, tx registry.Tx, id int64) (registry.Filing, error) {
		return tx.Filing(ctx, id, registry.NoLock)
	},
	unitOf: func(f registry.Filing) int64 { return f.UnitID },
	update: func(ctx context.Context, tx registry.Tx, f *registry.Filing) error { return tx.UpdateFiling(ctx, f) },
	idOf:   func(f registry.Filing) int64 { return f.ID },
}

var sealApplications = reviewed[registry.SealApplication]{
	subject: "seal_application", what: "seal application",
	read: func(ctx context.Context, tx registry.Tx, id int64) (registry.SealApplication, error) {
		return tx.SealApplication(ctx, id)
	},
	unitOf: func(a registry.SealApplication) int64 { return a.UnitID },
	update: func(ctx context.Context, tx registry.Tx, a *registry.SealApplication) error {
		return tx.UpdateSealApplication(ctx, a)
	},
	idOf: func(a registry.SealApplication) int64 { return a.ID },
}

// load reads the record if the caller may see its unit; otherwise it does
// not exist, for this caller.
func (k reviewed[T]) load(ctx context.Context, tx registry.Tx, p Principal, id int64) (T, registry.Unit, error) {
	rec, err := k.read(ctx, tx, id)
	if err != nil {
		return rec, registry.Unit{}, err
	}
	u, err := visibleUnit(ctx, tx, p, k.unitOf(rec))
	if err != nil {
		return rec, u, notFoundFor(k.what, id)
	}
	return rec, u, nil
}

// get reads the record named by the path's {id}.
func (k reviewed[T]) get(r *http.Request, store registry.Store) (T, error) {
	var rec T
	id, err := pathID(r, "id")
	if err != nil {
		return rec, err
	}
	err = store.View(r.Context(), func(tx registry.Tx) error {
		rec, _, err = k.load(r.Context(), tx, principal(r), id)
		return err
	})
	return rec, err
}

// change loads the record named by the path's {id}, lets apply move it
// (and do what else belongs in the same transaction), stores it and
// appends the audit event "<subject>.<action>" with apply's payload, all
// in one transaction.
func (k reviewed[T]) change(s *server, r *http.Request, action string,
	apply func(tx registry.Tx, rec *T, unit registry.Unit) (payload any, err error)) (T, error) {
	var rec T
	id, err := pathID(r, "id")
	if err != nil {
		return rec, err
	}
	err = s.Store.InTx(r.Context(), func(tx registry.Tx) error {
		var unit registry.Unit
		if rec, unit, err = k.load(r.Context(), tx, principal(r), id); err != nil {
			return err
		}
		payload, err := apply(tx, &rec, unit)
		if err != nil {
			return err
		}
		if err := k.update(r.Context(), tx, &rec); err != nil {
			return err
		}
		return s.event(r.Context(), tx, r, k.subject+"."+action, k.subject, k.idOf(rec), payload)
	})
	return rec, err
}

// answer writes v, or the problem err is.
func answer(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, v)
}
