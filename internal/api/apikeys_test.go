package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certseal/certseal/internal/testenv"
	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/postgres"
	"github.com/certseal/certseal/registry/sqlite"
	"github.com/certseal/certseal/registry/storetest"
)

// countingStore counts the write transactions through it.
type countingStore struct {
	registry.Store
	writes atomic.Int64
}

func (s *countingStore) InTx(ctx context.Context, fn func(registry.Tx) error) error {
	s.writes.Add(1)
	return s.Store.InTx(ctx, fn)
}

// A revoked or expired key is refused at once, saying why; a key's use is
// written at most once a minute, so authenticating stays a read.
func TestAuthenticateKeyLifecycle(t *testing.T) {
	store := &countingStore{Store: plumbStore(t)}
	now := time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	past, future := now.Add(-time.Second), now.Add(time.Hour)
	liveKey, live := plumbKey(t, store, registry.APIKey{Role: registry.RolePlatform, ExpiresAt: &future})
	revokedKey, _ := plumbKey(t, store, registry.APIKey{Role: registry.RolePlatform, RevokedAt: &past, RevokedBy: "platform#1"})
	expiredKey, _ := plumbKey(t, store, registry.APIKey{Role: registry.RolePlatform, ExpiresAt: &now})
	base := store.writes.Load() // the keys' creation
	h := Authenticate(store, clock, slog.New(slog.DiscardHandler))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	get := func(key string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/api/v1/units", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for _, tc := range []struct{ name, key, says string }{
		{"revoked", revokedKey, "was revoked on"},
		{"expired at this instant", expiredKey, "expired on"},
	} {
		rec := get(tc.key)
		if p := plumbProblem(t, rec); rec.Code != 401 || p.Code != "unauthorized" || !strings.Contains(p.Detail, tc.says) {
			t.Errorf("%s key: %d %+v, want 401 saying %q", tc.name, rec.Code, p, tc.says)
		}
	}
	if n := store.writes.Load() - base; n != 0 {
		t.Errorf("refused keys wrote %d times", n)
	}

	lastUse := func() *time.Time {
		var k registry.APIKey
		if err := store.View(context.Background(), func(tx registry.Tx) (err error) {
			k, err = tx.APIKey(context.Background(), live.ID, registry.NoLock)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return k.LastUsedAt
	}
	steps := []struct {
		after      time.Duration
		writes     int64
		wantLastAt time.Duration // since the start
	}{
		{0, 1, 0},                               // first use: noted
		{30 * time.Second, 1, 0},                // within the minute: a read only
		{59 * time.Second, 1, 0},                //
		{61 * time.Second, 2, 61 * time.Second}, // the next minute: noted again
	}
	start := now
	for _, st := range steps {
		now = start.Add(st.after)
		if rec := get(liveKey); rec.Code != 200 {
			t.Fatalf("live key at +%s: %d %s", st.after, rec.Code, rec.Body)
		}
		if got := lastUse(); store.writes.Load()-base != st.writes || got == nil || !got.Equal(start.Add(st.wantLastAt)) {
			t.Errorf("at +%s: %d writes, last use %v; want %d writes, last use +%s", st.after, store.writes.Load()-base, got, st.writes, st.wantLastAt)
		}
	}
	// The key stops at its expiry.
	now = future
	if rec := get(liveKey); rec.Code != 401 {
		t.Errorf("a key past its expiry: %d", rec.Code)
	}
}

type apiKeyAnswer struct {
	ID         int64                `json:"id"`
	Role       registry.Role        `json:"role"`
	UnitID     int64                `json:"unit_id"`
	State      registry.APIKeyState `json:"state"`
	Key        string               `json:"key"`
	ExpiresAt  *time.Time           `json:"expires_at"`
	LastUsedAt *time.Time           `json:"last_used_at"`
	RevokedAt  *time.Time           `json:"revoked_at"`
	RevokedBy  string               `json:"revoked_by"`
	CreatedBy  string               `json:"created_by"`
}

// The platform makes, lists and revokes keys over the API; the secret is
// shown once, each step is an audit event, and nothing is deleted.
func TestAPIKeysOverTheAPI(t *testing.T) {
	w := newWorld(t)
	keysBefore := w.count("api_keys")
	expires := e2eStart.Add(30 * 24 * time.Hour).UTC()
	var made apiKeyAnswer
	rec := w.must(call{method: "POST", path: "/api/v1/api-keys", key: w.platform,
		body: map[string]any{"role": "unit", "unit_id": w.a.ID, "name": "教务处", "expires_at": expires}}, http.StatusCreated, &made)
	if bearerKey("Bearer "+made.Key) == "" || made.State != registry.APIKeyActive || made.ExpiresAt == nil || !made.ExpiresAt.Equal(expires) ||
		rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("made %+v (Cache-Control %q)", made, rec.Header().Get("Cache-Control"))
	}
	// The new key works, within its unit.
	w.must(call{method: "GET", path: fmt.Sprintf("/api/v1/units/%d", w.a.ID), key: made.Key}, http.StatusOK, nil)

	// Refusals: a scope that does not fit, a replayable request.
	for _, tc := range []struct {
		name   string
		body   map[string]any
		header map[string]string
		status int
		field  string
	}{
		{"reviewer without jurisdiction", map[string]any{"role": "reviewer"}, nil, 422, "jurisdiction"},
		{"unit key with a jurisdiction", map[string]any{"role": "unit", "unit_id": w.a.ID, "jurisdiction": weihai}, nil, 422, "jurisdiction"},
		{"no such unit", map[string]any{"role": "unit", "unit_id": 999_999}, nil, 404, ""},
		{"unknown role", map[string]any{"role": "root"}, nil, 422, "role"},
		{"expired already", map[string]any{"role": "platform", "expires_at": e2eStart.Add(-time.Hour)}, nil, 422, "expires_at"},
		{"with Idempotency-Key", map[string]any{"role": "platform"}, map[string]string{IdempotencyKeyHeader: "k1"}, 400, IdempotencyKeyHeader},
	} {
		rec := w.do(call{method: "POST", path: "/api/v1/api-keys", key: w.platform, body: tc.body, header: tc.header})
		code := map[int]registry.Code{422: registry.CodeInvalid, 404: registry.CodeNotFound, 400: CodeMalformed}[tc.status]
		wantProblem(t, rec, tc.status, code, tc.field)
	}
	// What is kept for replay (the refusal) holds no key.
	rows, err := w.raw.QueryContext(context.Background(), `SELECT body FROM idempotency`)
	must(t, err)
	for rows.Next() {
		var body string
		must(t, rows.Scan(&body))
		if strings.Contains(body, apiKeyPrefix) {
			t.Errorf("an answer kept for replay holds a key: %s", body)
		}
	}
	must(t, rows.Close())

	var revoked apiKeyAnswer
	w.must(call{method: "POST", path: fmt.Sprintf("/api/v1/api-keys/%d/revoke", made.ID), key: w.platform}, http.StatusOK, &revoked)
	if revoked.State != registry.APIKeyRevoked || revoked.RevokedAt == nil || !strings.HasPrefix(revoked.RevokedBy, "platform#") || revoked.Key != "" {
		t.Errorf("revoked: %+v", revoked)
	}
	rec = w.do(call{method: "GET", path: fmt.Sprintf("/api/v1/units/%d", w.a.ID), key: made.Key})
	if p := wantProblem(t, rec, 401, CodeUnauthorized, ""); !strings.Contains(p.Detail, "revoked") {
		t.Errorf("a revoked key: %q", p.Detail)
	}
	wantProblem(t, w.do(call{method: "POST", path: fmt.Sprintf("/api/v1/api-keys/%d/revoke", made.ID), key: w.platform}), 409, registry.CodeIllegalTransition, "")
	wantProblem(t, w.do(call{method: "POST", path: "/api/v1/api-keys/999999/revoke", key: w.platform}), 404, registry.CodeNotFound, "")

	// Listed, revoked ones too, never with a secret or its hash.
	var list cursorList[apiKeyAnswer]
	rec = w.must(call{method: "GET", path: "/api/v1/api-keys?limit=1000", key: w.platform}, http.StatusOK, &list)
	if len(list.Items) != keysBefore+1 || w.count("api_keys") != keysBefore+1 {
		t.Errorf("%d keys listed, %d stored; want %d", len(list.Items), w.count("api_keys"), keysBefore+1)
	}
	var found *apiKeyAnswer
	for i, k := range list.Items {
		if k.ID == made.ID {
			found = &list.Items[i]
		}
		if k.Role == registry.RolePlatform && k.LastUsedAt == nil {
			t.Errorf("the platform key in use has no last use: %+v", k)
		}
	}
	if found == nil || found.State != registry.APIKeyRevoked || found.UnitID != w.a.ID {
		t.Errorf("the revoked key in the list: %+v", found)
	}
	if strings.Contains(rec.Body.String(), made.Key) || strings.Contains(rec.Body.String(), `"key"`) || strings.Contains(rec.Body.String(), "hash") {
		t.Errorf("the list shows a secret: %s", rec.Body)
	}

	// Both steps are in the audit trail, by the platform key.
	var creates, revokes int
	must(t, w.store.View(context.Background(), func(tx registry.Tx) error {
		evs, err := tx.AuditEvents(context.Background(), 0, 1000)
		for _, ev := range evs {
			if ev.SubjectType == "apikey" && ev.SubjectID == fmt.Sprint(made.ID) && strings.HasPrefix(ev.Actor, "platform#") {
				switch ev.Action {
				case "apikey.create":
					creates++
				case "apikey.revoke":
					revokes++
				}
			}
		}
		return err
	}))
	if creates != 1 || revokes != 1 {
		t.Errorf("audit events of the key: %d creations, %d revocations", creates, revokes)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Two replicas on one store: a key revoked through one is refused by the
// other at its very next request (no replica keeps keys).
func TestRevocationHoldsOnEveryReplica(t *testing.T) {
	e := newE2E(t)
	second := func(t *testing.T) registry.Store {
		s, err := sqlite.Open(context.Background(), e.dbPath, storetest.PII())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	stores := map[string]func(*testing.T) (registry.Store, registry.Store){
		"sqlite": func(t *testing.T) (registry.Store, registry.Store) {
			other := second(t)
			t.Cleanup(func() { other.Close() })
			return e.store, other
		},
		"postgresql": func(t *testing.T) (registry.Store, registry.Store) {
			url := testenv.PostgresURL(t)
			var two [2]registry.Store
			for i := range two {
				s, err := postgres.Open(context.Background(), url, storetest.PII())
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				two[i] = s
			}
			return two[0], two[1]
		},
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			a, b := open(t)
			replica := func(s registry.Store) http.Handler {
				d := e.deps
				d.Store = s
				return New(d)
			}
			ra, rb := replica(a), replica(b)
			platform, _, err := CreateAPIKey(context.Background(), a, registry.APIKey{Role: registry.RolePlatform}, "test", "", e.clock.Now())
			must(t, err)
			victim, k, err := CreateAPIKey(context.Background(), a, registry.APIKey{Role: registry.RolePlatform, Name: "leaked"}, "test", "", e.clock.Now())
			must(t, err)
			do := func(h http.Handler, method, path, key string) int {
				req := httptest.NewRequest(method, path, nil)
				req.Header.Set("Authorization", "Bearer "+key)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				return rec.Code
			}
			// B has seen the key work, so anything it kept would be warm.
			if got := do(rb, "GET", "/api/v1/api-keys", victim); got != 200 {
				t.Fatalf("the key on B before revocation: %d", got)
			}
			if got := do(ra, "POST", fmt.Sprintf("/api/v1/api-keys/%d/revoke", k.ID), platform); got != 200 {
				t.Fatalf("revoke through A: %d", got)
			}
			if got := do(rb, "GET", "/api/v1/api-keys", victim); got != 401 {
				t.Errorf("the revoked key on B at its next request: %d, want 401", got)
			}
		})
	}
}

// A batch stops issuing once the key that submitted it is revoked or
// expired: the check the batch runner asks before each group.
func TestBatchSubmitterAllowed(t *testing.T) {
	store := plumbStore(t)
	now := time.Now()
	past := now.Add(-time.Minute)
	_, live := plumbKey(t, store, registry.APIKey{Role: registry.RoleUnit, UnitID: 1})
	_, revoked := plumbKey(t, store, registry.APIKey{Role: registry.RoleUnit, UnitID: 1, RevokedAt: &past, RevokedBy: "platform#1"})
	_, expired := plumbKey(t, store, registry.APIKey{Role: registry.RoleUnit, UnitID: 1, ExpiresAt: &past})
	for _, tc := range []struct {
		actor   string
		refused bool
	}{
		{Principal{KeyID: live.ID, Role: registry.RoleUnit, UnitID: 1}.Actor(), false},
		{Principal{KeyID: revoked.ID, Role: registry.RoleUnit, UnitID: 1}.Actor(), true},
		{Principal{KeyID: expired.ID, Role: registry.RoleUnit, UnitID: 1}.Actor(), true},
		{"operator", false}, // not an API key's batch
	} {
		err := store.View(context.Background(), func(tx registry.Tx) error {
			return BatchSubmitterAllowed(context.Background(), tx, tc.actor, now)
		})
		if got := err != nil && registry.CodeOf(err) == CodeUnauthorized; got != tc.refused || (err != nil && !tc.refused) {
			t.Errorf("%s: %v, want refused %v", tc.actor, err, tc.refused)
		}
	}
}

// failingWrites refuses every write transaction, as PostgreSQL refuses
// an application role that lacks a grant.
type failingWrites struct{ countingStore }

func (s *failingWrites) InTx(ctx context.Context, fn func(registry.Tx) error) error {
	s.writes.Add(1)
	return errors.New("permission denied for table api_keys")
}

// A key's use that cannot be noted is not tried again on every request.
func TestKeyTouchFailureIsNotRetriedEveryRequest(t *testing.T) {
	inner := plumbStore(t)
	key, _ := plumbKey(t, inner, registry.APIKey{Role: registry.RolePlatform})
	store := &failingWrites{countingStore{Store: inner}}
	now := time.Now()
	h := Authenticate(store, func() time.Time { return now }, slog.New(slog.DiscardHandler))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	for range 5 {
		req := httptest.NewRequest("GET", "/api/v1/units", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("request refused: %d", rec.Code)
		}
	}
	if n := store.writes.Load(); n != 1 {
		t.Errorf("%d attempts to note the key's use in five requests, want 1", n)
	}
	now = now.Add(registry.APIKeyTouchEvery + time.Second)
	req := httptest.NewRequest("GET", "/api/v1/units", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	h.ServeHTTP(httptest.NewRecorder(), req)
	if n := store.writes.Load(); n != 2 {
		t.Errorf("after a minute: %d attempts, want 2", n)
	}
}

// A leaked platform key may have minted more keys over the API: revoking
// it with with_created revokes them too, and theirs, in one step; keys
// made by others stay. Every key says who made it.
func TestRevokeWithTheKeysItMade(t *testing.T) {
	w := newWorld(t)
	mk := func(by string, body map[string]any) apiKeyAnswer {
		t.Helper()
		var made apiKeyAnswer
		w.must(call{method: "POST", path: "/api/v1/api-keys", key: by, body: body}, http.StatusCreated, &made)
		return made
	}
	leaked := mk(w.platform, map[string]any{"role": "platform", "name": "leaked"})
	minted := mk(leaked.Key, map[string]any{"role": "platform", "name": "minted"})
	mintedUnit := mk(minted.Key, map[string]any{"role": "unit", "unit_id": w.a.ID})
	other := mk(w.platform, map[string]any{"role": "unit", "unit_id": w.a.ID})
	if want := fmt.Sprintf("platform#%d", leaked.ID); minted.CreatedBy != want {
		t.Errorf("minted key made by %q, want %q", minted.CreatedBy, want)
	}
	w.must(call{method: "POST", path: fmt.Sprintf("/api/v1/api-keys/%d/revoke?with_created=maybe", leaked.ID), key: w.platform}, http.StatusUnprocessableEntity, nil)
	var out struct {
		apiKeyAnswer
		AlsoRevoked []apiKeyAnswer `json:"also_revoked"`
	}
	w.must(call{method: "POST", path: fmt.Sprintf("/api/v1/api-keys/%d/revoke?with_created=true", leaked.ID), key: w.platform}, http.StatusOK, &out)
	if out.ID != leaked.ID || out.State != registry.APIKeyRevoked || len(out.AlsoRevoked) != 2 {
		t.Fatalf("revocation answer %+v", out)
	}
	for _, k := range []apiKeyAnswer{leaked, minted, mintedUnit} {
		wantProblem(t, w.do(call{method: "GET", path: "/api/v1/units/" + fmt.Sprint(w.a.ID), key: k.Key}), http.StatusUnauthorized, CodeUnauthorized, "")
	}
	w.must(call{method: "GET", path: "/api/v1/units/" + fmt.Sprint(w.a.ID), key: other.Key}, http.StatusOK, nil)
}
