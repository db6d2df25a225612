package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/access"
)

// Principal is who an API request comes from, as its API key says.
type Principal struct {
	KeyID        int64
	Role         registry.Role
	Jurisdiction string // reviewers only
	UnitID       int64  // units only
}

// Actor names the caller in audit events and logs: role, scope and key id,
// never the key.
func (p Principal) Actor() string {
	id := "#" + strconv.FormatInt(p.KeyID, 10)
	switch p.Role {
	case registry.RoleReviewer:
		return "reviewer:" + p.Jurisdiction + id
	case registry.RoleUnit:
		return "unit:" + strconv.FormatInt(p.UnitID, 10) + id
	}
	return string(p.Role) + id
}

// BatchSubmitterAllowed is the signer's SubmitterCheck for batches that
// API keys submitted: a batch stops issuing once the key that submitted it
// is revoked or expired (the key's id ends its actor, see Actor). Batches
// of other actors (the operator's) are not checked.
func BatchSubmitterAllowed(ctx context.Context, tx registry.Tx, actor string, now time.Time) error {
	_, id, ok := strings.Cut(actor, "#")
	keyID, err := strconv.ParseInt(id, 10, 64)
	if !ok || err != nil {
		return nil
	}
	k, err := tx.APIKey(ctx, keyID, registry.NoLock)
	if err != nil {
		return err
	}
	if st := k.StateOn(now); st != registry.APIKeyActive {
		return registry.Errf(CodeUnauthorized, "the API key that submitted this batch (%d) is %s: the rest of the batch is not issued", keyID, st)
	}
	return nil
}

// CanUnit reports whether the caller may act on the unit's objects:
// the platform on every unit, a unit on itself. Reviewers are scoped by
// jurisdiction instead (CanJurisdiction, or CanView with the unit at hand).
func (p Principal) CanUnit(unitID int64) bool {
	switch p.Role {
	case registry.RolePlatform:
		return true
	case registry.RoleUnit:
		return unitID != 0 && p.UnitID == unitID
	}
	return false
}

// CanJurisdiction reports whether the caller reviews units of jurisdiction
// j: the platform everywhere, a reviewer in its own.
func (p Principal) CanJurisdiction(j string) bool {
	switch p.Role {
	case registry.RolePlatform:
		return true
	case registry.RoleReviewer:
		return j != "" && p.Jurisdiction == j
	}
	return false
}

// CanView reports whether the caller may see unit u and its objects: the
// platform, the unit itself, or a reviewer of u's jurisdiction.
func (p Principal) CanView(u registry.Unit) bool {
	return p.CanUnit(u.ID) || p.CanJurisdiction(u.Jurisdiction)
}

// WithPrincipal returns ctx carrying p (Authenticate does this; tests of
// handlers can too).
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey, p)
}

// PrincipalFrom returns the caller Authenticate found.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey).(Principal)
	return p, ok
}

// apiKeyPrefix marks certseal keys, so secret scanners and people can tell
// one when they see it in a file or a paste.
const apiKeyPrefix = "cs_"

// apiKeyLen is the length of a key: the prefix and 32 bytes in unpadded
// base64url (43 characters).
const apiKeyLen = len(apiKeyPrefix) + 43

// NewAPIKey makes a key and the hash to store. Only the hash is stored:
// the key is shown once, to whoever created it.
func NewAPIKey() (key string, hash []byte) {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand panics rather than return short)
	key = apiKeyPrefix + base64.RawURLEncoding.EncodeToString(b)
	return key, HashAPIKey(key)
}

// HashAPIKey is the stored form of a key. A plain SHA-256 is right here,
// unlike for passwords: a key holds 256 random bits, so there is nothing
// to guess that a slow hash or a salt would protect, and a fast hash keeps
// the lookup on every request cheap and exact (the hash is the index).
func HashAPIKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// bearerKey extracts a well-formed certseal key from an Authorization
// header (RFC 6750 §2.1), or "".
func bearerKey(header string) string {
	scheme, key, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	key = strings.TrimSpace(key)
	if len(key) != apiKeyLen || !strings.HasPrefix(key, apiKeyPrefix) {
		return ""
	}
	if _, err := base64.RawURLEncoding.Strict().DecodeString(key[len(apiKeyPrefix):]); err != nil {
		return ""
	}
	return key
}

// Authenticate admits requests carrying a known, unrevoked, unexpired API
// key as "Authorization: Bearer <key>" and puts the Principal in the
// context. Missing, unknown, revoked and expired keys get 401; a store that
// cannot answer gets 503, so an outage never looks like a bad key.
//
// Nothing is cached: keys are looked up by their unique hash, one indexed
// read per API request, and API traffic (platform, reviewers, units) is
// small beside the public verification traffic, which needs no key. Not
// caching means a key revoked through any replica is refused by every
// replica at its next request. The key's last use is written at most once
// per registry.APIKeyTouchEvery, so authenticating stays a read.
func Authenticate(store registry.Store, now func() time.Time, log *slog.Logger) func(http.Handler) http.Handler {
	touch := &keyTouch{store: store, log: log}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			header := r.Header.Get("Authorization")
			key := bearerKey(header)
			switch {
			case header == "":
				WriteProblem(w, r, registry.Errf(CodeUnauthorized, "send an API key as Authorization: Bearer <key>"))
				return
			case key == "":
				WriteProblem(w, r, registry.Errf(CodeUnauthorized, "the Authorization header holds no certseal API key: send Authorization: Bearer cs_… as certseal apikey create printed it"))
				return
			}
			var k registry.APIKey
			err := store.View(r.Context(), func(tx registry.Tx) error {
				var err error
				k, err = tx.APIKeyByHash(r.Context(), HashAPIKey(key))
				return err
			})
			switch {
			case errors.Is(err, registry.ErrNotFound):
				WriteProblem(w, r, registry.Errf(CodeUnauthorized, "unknown API key: this installation did not make it (run certseal apikey create with the server's data directory or database)"))
				return
			case err != nil: // the store's unavailable is a 503
				WriteProblem(w, r, err)
				return
			}
			at := now()
			switch k.StateOn(at) {
			case registry.APIKeyRevoked:
				WriteProblem(w, r, registry.Errf(CodeUnauthorized, "API key %d was revoked on %s: ask for a new key", k.ID, k.RevokedAt.Format(time.RFC3339)))
				return
			case registry.APIKeyExpired:
				WriteProblem(w, r, registry.Errf(CodeUnauthorized, "API key %d expired on %s: ask for a new key", k.ID, k.ExpiresAt.Format(time.RFC3339)))
				return
			}
			touch.note(r.Context(), k, at)
			p := Principal{KeyID: k.ID, Role: k.Role, Jurisdiction: k.Jurisdiction, UnitID: k.UnitID}
			setInfoActor(r.Context(), p.Actor())
			next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
		})
	}
}

// keyTouch notes keys' use. A failed note (the application role without
// the grant, after an upgrade) is not tried again for that key within
// registry.APIKeyTouchEvery, so it costs one transaction and one warning
// a minute, not one a request.
type keyTouch struct {
	store  registry.Store
	log    *slog.Logger
	failed sync.Map // key id -> time.Time of the last failed note
}

func (t *keyTouch) note(ctx context.Context, k registry.APIKey, at time.Time) {
	if last, ok := t.failed.Load(k.ID); ok && at.Sub(last.(time.Time)) < registry.APIKeyTouchEvery {
		return
	}
	if touchAPIKey(ctx, t.store, t.log, k, at) {
		t.failed.Delete(k.ID)
	} else {
		t.failed.Store(k.ID, at)
	}
}

// touchAPIKey notes the key's use when the stored last use is older than
// the interval. It is telemetry, not a state change (no audit event), and
// a failure to write it never refuses the request.
func touchAPIKey(ctx context.Context, store registry.Store, log *slog.Logger, k registry.APIKey, at time.Time) bool {
	notBefore := at.Add(-registry.APIKeyTouchEvery)
	if k.LastUsedAt != nil && !k.LastUsedAt.Before(notBefore) {
		return true
	}
	if err := access.Touch(ctx, store, k.ID, at, notBefore); err != nil {
		log.WarnContext(ctx, "could not record an API key's last use; not tried again for a minute", "key_id", k.ID, "err", err)
		return false
	}
	return true
}

// Require lets through callers whose role is one of roles: no principal is
// 401, another role 403. Whether the caller may see a given object is the
// handler's question (CanUnit, CanView), answered with 404.
func Require(roles ...registry.Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := PrincipalFrom(r.Context())
			switch {
			case !ok:
				WriteProblem(w, r, registry.Errf(CodeUnauthorized, "send an API key as Authorization: Bearer <key>"))
			case !slices.Contains(roles, p.Role):
				WriteProblem(w, r, registry.Errf(CodeForbidden, "role %s may not do this", p.Role))
			default:
				next.ServeHTTP(w, r)
			}
		})
	}
}
