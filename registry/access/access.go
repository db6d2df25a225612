// Package access holds the commands on who may call the API: API keys
// (create, revoke, note their use) and the answers kept for a caller's
// retries under an Idempotency-Key. The key's format is the HTTP layer's;
// only its hash reaches this package.
package access

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/audit"
)

// Create checks k's scope and stores it, with hash as its only trace of
// the key, and its audit event in one transaction.
func Create(ctx context.Context, store registry.Store, k registry.APIKey, hash []byte, c registry.Caller, now time.Time) (registry.APIKey, error) {
	if err := registry.CheckAPIKey(k, now); err != nil {
		return k, err
	}
	k.Hash, k.CreatedAt, k.CreatedBy = hash, now, c.Actor
	err := registry.Writing(store).Write(ctx, func(tx registry.Tx, _ *registry.Changes) error {
		if k.Role == registry.RoleUnit {
			if _, err := tx.Unit(ctx, k.UnitID); err != nil {
				return err
			}
		}
		if err := tx.CreateAPIKey(ctx, &k); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, audit.Event(c, now, "apikey.create", "apikey", k.ID, k))
	})
	return k, err
}

// Revoke revokes key id with its audit event; every replica refuses the
// key from its next request (nothing caches keys). With withCreated it
// also revokes, in the same transaction, the keys that key made, and the
// keys those made, and so on (a leaked platform key may have minted more);
// those are returned after it.
func Revoke(ctx context.Context, store registry.Store, id int64, c registry.Caller, now time.Time, withCreated bool) ([]registry.APIKey, error) {
	var revoked []registry.APIKey
	err := registry.Writing(store).Write(ctx, func(tx registry.Tx, _ *registry.Changes) error {
		revoked = revoked[:0] // Write may run this again
		k, err := tx.APIKey(ctx, id, registry.LockUpdate)
		if err != nil {
			return err
		}
		if err := revoke(ctx, tx, &k, c, now); err != nil {
			return err
		}
		revoked = append(revoked, k)
		if !withCreated {
			return nil
		}
		all, err := All(ctx, tx)
		if err != nil {
			return err
		}
		for i := 0; i < len(revoked); i++ { // revoked grows as makers are found
			maker := "#" + strconv.FormatInt(revoked[i].ID, 10)
			for _, made := range all {
				if strings.HasSuffix(made.CreatedBy, maker) && made.RevokedAt == nil {
					made, err := tx.APIKey(ctx, made.ID, registry.LockUpdate)
					if err != nil {
						return err
					}
					if err := revoke(ctx, tx, &made, c, now); err != nil {
						return err
					}
					revoked = append(revoked, made)
				}
			}
		}
		return nil
	})
	return revoked, err
}

func revoke(ctx context.Context, tx registry.Tx, k *registry.APIKey, c registry.Caller, now time.Time) error {
	if err := registry.RevokeAPIKey(k, c.Actor, now); err != nil {
		return err
	}
	if err := tx.UpdateAPIKey(ctx, k); err != nil {
		return err
	}
	return tx.AppendAudit(ctx, audit.Event(c, now, "apikey.revoke", "apikey", k.ID, *k))
}

// All reads every key: a short table (one per platform, reviewer office
// and unit).
func All(ctx context.Context, tx registry.Tx) ([]registry.APIKey, error) {
	var all []registry.APIKey
	for after := int64(0); ; {
		page, err := tx.ListAPIKeys(ctx, registry.Page{AfterID: after, Limit: 1000})
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if len(page) < 1000 {
			return all, nil
		}
		after = page[len(page)-1].ID
	}
}

// Touch notes key id's use at at unless it was noted after notBefore. It
// is telemetry, not a state change: no audit event.
func Touch(ctx context.Context, store registry.Store, id int64, at, notBefore time.Time) error {
	return store.InTx(ctx, func(tx registry.Tx) error { return tx.TouchAPIKey(ctx, id, at, notBefore) })
}

// KeepAnswer stores the answer to a request made under an
// Idempotency-Key; one stored first for the same (scope, key) is
// registry.ErrDuplicate.
func KeepAnswer(ctx context.Context, store registry.Store, rec *registry.IdempotencyRecord) error {
	return store.InTx(ctx, func(tx registry.Tx) error { return tx.PutIdempotency(ctx, rec) })
}
