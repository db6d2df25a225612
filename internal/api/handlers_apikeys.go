package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/audit"
)

// CreateAPIKey checks k's scope, stores it with its audit event in one
// transaction and returns the key, which exists nowhere else (only its
// hash is stored). certseal apikey create and POST /api/v1/api-keys both
// make keys here.
func CreateAPIKey(ctx context.Context, store registry.Store, k registry.APIKey, actor, requestID string, now time.Time) (string, registry.APIKey, error) {
	if err := registry.CheckAPIKey(k, now); err != nil {
		return "", k, err
	}
	key, hash := NewAPIKey()
	k.Hash, k.CreatedAt, k.CreatedBy = hash, now, actor
	err := store.InTx(ctx, func(tx registry.Tx) error {
		if k.Role == registry.RoleUnit {
			if _, err := tx.Unit(ctx, k.UnitID); err != nil {
				return err
			}
		}
		if err := tx.CreateAPIKey(ctx, &k); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, &registry.AuditEvent{At: now, Actor: actor, Action: "apikey.create", SubjectType: "apikey",
			SubjectID: fmt.Sprint(k.ID), RequestID: requestID, PayloadDigest: audit.Digest(k)})
	})
	return key, k, err
}

// RevokeAPIKey revokes key id with its audit event; every replica refuses
// the key from its next request (Authenticate caches nothing). With
// withCreated it also revokes, in the same transaction, the keys that key
// made, and the keys those made, and so on (a leaked platform key may have
// minted more); those are returned after it.
func RevokeAPIKey(ctx context.Context, store registry.Store, id int64, actor, requestID string, now time.Time, withCreated bool) ([]registry.APIKey, error) {
	var revoked []registry.APIKey
	err := store.InTx(ctx, func(tx registry.Tx) error {
		revoked = revoked[:0] // InTx may run this again
		k, err := tx.APIKey(ctx, id, registry.LockUpdate)
		if err != nil {
			return err
		}
		if err := revokeKey(ctx, tx, &k, actor, requestID, now); err != nil {
			return err
		}
		revoked = append(revoked, k)
		if !withCreated {
			return nil
		}
		all, err := AllAPIKeys(ctx, tx)
		if err != nil {
			return err
		}
		for i := 0; i < len(revoked); i++ { // revoked grows as makers are found
			maker := "#" + strconv.FormatInt(revoked[i].ID, 10)
			for _, c := range all {
				if strings.HasSuffix(c.CreatedBy, maker) && c.RevokedAt == nil {
					c, err := tx.APIKey(ctx, c.ID, registry.LockUpdate)
					if err != nil {
						return err
					}
					if err := revokeKey(ctx, tx, &c, actor, requestID, now); err != nil {
						return err
					}
					revoked = append(revoked, c)
				}
			}
		}
		return nil
	})
	return revoked, err
}

func revokeKey(ctx context.Context, tx registry.Tx, k *registry.APIKey, actor, requestID string, now time.Time) error {
	if err := registry.RevokeAPIKey(k, actor, now); err != nil {
		return err
	}
	if err := tx.UpdateAPIKey(ctx, k); err != nil {
		return err
	}
	return tx.AppendAudit(ctx, &registry.AuditEvent{At: now, Actor: actor, Action: "apikey.revoke", SubjectType: "apikey",
		SubjectID: fmt.Sprint(k.ID), RequestID: requestID, PayloadDigest: audit.Digest(*k)})
}

// AllAPIKeys reads every key: a short table (one per platform, reviewer
// office and unit).
func AllAPIKeys(ctx context.Context, tx registry.Tx) ([]registry.APIKey, error) {
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

// apiKeyJSON is a key as listed: its scope and history, never the secret
// (which is not stored) nor its hash.
type apiKeyJSON struct {
	registry.APIKey
	State registry.APIKeyState `json:"state"`
	// Key is in the answer that created it only.
	Key string `json:"key,omitempty"`
}

func apiKeyView(k registry.APIKey, now time.Time) apiKeyJSON {
	return apiKeyJSON{APIKey: k, State: k.StateOn(now)}
}

func (s *server) listAPIKeys(w http.ResponseWriter, r *http.Request) {
	page, err := cursorPage(r)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	var list []registry.APIKey
	err = s.Store.View(r.Context(), func(tx registry.Tx) (err error) {
		list, err = tx.ListAPIKeys(r.Context(), page)
		return err
	})
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	out := make([]apiKeyJSON, len(list))
	for i, k := range list {
		out[i] = apiKeyView(k, s.Now())
	}
	writeCursorList(w, out, page, func(i int) int64 { return list[i].ID })
}

type apiKeyRequest struct {
	Role         registry.Role `json:"role"`
	Jurisdiction string        `json:"jurisdiction"`
	UnitID       int64         `json:"unit_id"`
	Name         string        `json:"name"`
	ExpiresAt    *time.Time    `json:"expires_at"`
}

func (s *server) createAPIKey(w http.ResponseWriter, r *http.Request) {
	// An idempotent replay would keep the answer, and with it the new key,
	// in the database: a key is shown once, so it is never replayed.
	if _, ok := r.Header[IdempotencyKeyHeader]; ok {
		WriteProblem(w, r, &registry.Error{Code: CodeMalformed, Field: IdempotencyKeyHeader,
			Msg: "a new API key is shown once and never replayed: send this request without Idempotency-Key"})
		return
	}
	var req apiKeyRequest
	if err := DecodeJSON(r, &req); err != nil {
		WriteProblem(w, r, err)
		return
	}
	name, err := text("name", req.Name, false, 100)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	k := registry.APIKey{Role: req.Role, Jurisdiction: req.Jurisdiction, UnitID: req.UnitID, Name: name, ExpiresAt: req.ExpiresAt}
	key, k, err := CreateAPIKey(r.Context(), s.Store, k, principal(r).Actor(), RequestIDFrom(r.Context()), s.Now())
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	out := apiKeyView(k, s.Now())
	out.Key = key
	w.Header().Set("Cache-Control", "no-store")
	WriteJSON(w, http.StatusCreated, out)
}

func (s *server) revokeAPIKey(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	withCreated := false
	if v := r.URL.Query().Get("with_created"); v != "" {
		if withCreated, err = strconv.ParseBool(v); err != nil {
			WriteProblem(w, r, registry.FieldErr("with_created", "must be true or false"))
			return
		}
	}
	revoked, err := RevokeAPIKey(r.Context(), s.Store, id, principal(r).Actor(), RequestIDFrom(r.Context()), s.Now(), withCreated)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	out := apiKeyRevocationJSON{apiKeyView(revoked[0], s.Now()), []apiKeyJSON{}}
	for _, k := range revoked[1:] {
		out.AlsoRevoked = append(out.AlsoRevoked, apiKeyView(k, s.Now()))
	}
	answer(w, r, out, nil)
}

// apiKeyRevocationJSON is the revoked key and, with with_created=true,
// the keys it had made that were revoked with it.
type apiKeyRevocationJSON struct {
	apiKeyJSON
	AlsoRevoked []apiKeyJSON `json:"also_revoked"`
}
