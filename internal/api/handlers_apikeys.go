package api

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/access"
)

// CreateAPIKey makes a key with k's scope and stores it (access.Create)
// and returns the key, which exists nowhere else (only its hash is
// stored). certseal apikey create and POST /api/v1/api-keys both make keys
// here.
func CreateAPIKey(ctx context.Context, store registry.Store, k registry.APIKey, actor, requestID string, now time.Time) (string, registry.APIKey, error) {
	key, hash := NewAPIKey()
	k, err := access.Create(ctx, store, k, hash, registry.Caller{Actor: actor, RequestID: requestID}, now)
	return key, k, err
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
	revoked, err := access.Revoke(r.Context(), s.Store, id, caller(r), s.Now(), withCreated)
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
