package api

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/sqlite"
	"github.com/certseal/certseal/registry/storetest"
)

// plumbStore is a real SQLite store in a temporary directory.
func plumbStore(t *testing.T) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"), storetest.PII())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// plumbKey stores a new API key with the given scope and returns it.
func plumbKey(t *testing.T, s registry.Store, k registry.APIKey) (string, registry.APIKey) {
	t.Helper()
	key, hash := NewAPIKey()
	k.Hash, k.CreatedAt = hash, time.Now()
	err := s.InTx(context.Background(), func(tx registry.Tx) error { return tx.CreateAPIKey(context.Background(), &k) })
	if err != nil {
		t.Fatal(err)
	}
	return key, k
}

func TestNewAPIKey(t *testing.T) {
	key, hash := NewAPIKey()
	if !strings.HasPrefix(key, "cs_") || len(key) != apiKeyLen {
		t.Fatalf("key %q: want cs_ and %d characters", key, apiKeyLen)
	}
	raw, err := base64.RawURLEncoding.DecodeString(key[3:])
	if err != nil || len(raw) != 32 {
		t.Fatalf("key body is not 32 bytes of base64url: %v", err)
	}
	if !bytes.Equal(hash, HashAPIKey(key)) || len(hash) != 32 {
		t.Errorf("hash is not SHA-256 of the key")
	}
	if bytes.Contains(hash, []byte(key)) {
		t.Errorf("hash contains the key")
	}
	if other, _ := NewAPIKey(); other == key {
		t.Errorf("two keys are equal")
	}
	if bearerKey("Bearer "+key) != key {
		t.Errorf("a new key is not accepted by the header parser")
	}
}

func TestBearerKey(t *testing.T) {
	key, _ := NewAPIKey()
	tests := []struct {
		header, want string
	}{
		{"Bearer " + key, key},
		{"bearer " + key, key},
		{"BEARER  " + key + " ", key},
		{"", ""},
		{key, ""},
		{"Basic " + key, ""},
		{"Bearer", ""},
		{"Bearer ", ""},
		{"Bearer " + key[:len(key)-1], ""},
		{"Bearer " + key + "A", ""},
		{"Bearer xx" + key[2:], ""},
		{"Bearer " + key[:10] + "+" + key[11:], ""}, // not base64url
		{"Bearer " + key[:10] + "\x00" + key[11:], ""},
	}
	for _, tc := range tests {
		if got := bearerKey(tc.header); got != tc.want {
			t.Errorf("bearerKey(%q) = %q, want %q", tc.header, got, tc.want)
		}
	}
}

func FuzzBearerKey(f *testing.F) {
	key, _ := NewAPIKey()
	for _, s := range []string{"Bearer " + key, "bearer x", "", "Basic abc", "Bearer cs_"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		k := bearerKey(header)
		if k == "" {
			return
		}
		if len(k) != apiKeyLen || !strings.HasPrefix(k, apiKeyPrefix) || !strings.Contains(header, k) {
			t.Fatalf("accepted %q from %q", k, header)
		}
	})
}

func TestPrincipalActorAndScope(t *testing.T) {
	platform := Principal{KeyID: 3, Role: registry.RolePlatform}
	reviewer := Principal{KeyID: 4, Role: registry.RoleReviewer, Jurisdiction: "威海市"}
	unit := Principal{KeyID: 5, Role: registry.RoleUnit, UnitID: 12}
	broken := Principal{KeyID: 6, Role: registry.RoleUnit} // a unit key without a unit
	tests := []struct {
		p              Principal
		actor          string
		unit12, unit13 bool
		weihai, jinan  bool
	}{
		{platform, "platform#3", true, true, true, true},
		{reviewer, "reviewer:威海市#4", false, false, true, false},
		{unit, "unit:12#5", true, false, false, false},
		{broken, "unit:0#6", false, false, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.actor, func(t *testing.T) {
			if got := tc.p.Actor(); got != tc.actor {
				t.Errorf("Actor() = %q, want %q", got, tc.actor)
			}
			if tc.p.CanUnit(12) != tc.unit12 || tc.p.CanUnit(13) != tc.unit13 || tc.p.CanUnit(0) && tc.p.Role != registry.RolePlatform {
				t.Errorf("CanUnit wrong")
			}
			if tc.p.CanJurisdiction("威海市") != tc.weihai || tc.p.CanJurisdiction("济南市") != tc.jinan {
				t.Errorf("CanJurisdiction wrong")
			}
			if tc.p.Role == registry.RoleReviewer && tc.p.CanJurisdiction("") {
				t.Errorf("a reviewer sees units without jurisdiction")
			}
			// CanView combines both: the unit itself or its reviewer.
			u := registry.Unit{ID: 12, Jurisdiction: "威海市"}
			if tc.p.CanView(u) != (tc.unit12 || tc.weihai) {
				t.Errorf("CanView(%+v) = %v", u, tc.p.CanView(u))
			}
		})
	}
}

func TestAuthenticate(t *testing.T) {
	store := plumbStore(t)
	platformKey, platform := plumbKey(t, store, registry.APIKey{Role: registry.RolePlatform, Name: "province"})
	reviewerKey, reviewer := plumbKey(t, store, registry.APIKey{Role: registry.RoleReviewer, Jurisdiction: "威海市", Name: "weihai"})
	unitKey, unit := plumbKey(t, store, registry.APIKey{Role: registry.RoleUnit, UnitID: 12, Name: "college"})
	unknownKey, _ := NewAPIKey()

	h := Authenticate(store, time.Now, slog.New(slog.DiscardHandler))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := PrincipalFrom(r.Context())
		if !ok {
			t.Error("no principal behind Authenticate")
		}
		w.Write([]byte(p.Actor()))
	}))
	tests := []struct {
		name, header string
		status       int
		actor        string // or, for a 401, what the detail says
	}{
		{"platform", "Bearer " + platformKey, 200, "platform#" + strconv.FormatInt(platform.ID, 10)},
		{"reviewer", "Bearer " + reviewerKey, 200, "reviewer:威海市#" + strconv.FormatInt(reviewer.ID, 10)},
		{"unit", "Bearer " + unitKey, 200, "unit:12#" + strconv.FormatInt(unit.ID, 10)},
		{"no header", "", 401, "send an API key"},
		{"unknown key", "Bearer " + unknownKey, 401, "this installation did not make it"},
		{"malformed key", "Bearer hello", 401, "holds no certseal API key"},
		{"other scheme", "Basic " + base64.StdEncoding.EncodeToString([]byte("a:b")), 401, "holds no certseal API key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/api/v1/units/12", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			rec, logs := plumbLogged(h, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.status == 401 {
				if p := plumbProblem(t, rec); p.Code != "unauthorized" || !strings.Contains(p.Detail, tc.actor) {
					t.Errorf("code %s, detail %q, want it to say %q", p.Code, p.Detail, tc.actor)
				}
				if !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("401 without WWW-Authenticate: Bearer")
				}
				return
			}
			if rec.Body.String() != tc.actor {
				t.Errorf("actor %q, want %q", rec.Body, tc.actor)
			}
			if !strings.Contains(logs, `"actor":"`+tc.actor+`"`) {
				t.Errorf("access log lacks the actor:\n%s", logs)
			}
			if strings.Contains(logs, strings.TrimPrefix(tc.header, "Bearer ")) {
				t.Errorf("the key is in the log")
			}
		})
	}

	// A store that cannot answer is an outage (503), not a bad key (401).
	store.Close()
	req := httptest.NewRequest("GET", "/api/v1/units/12", nil)
	req.Header.Set("Authorization", "Bearer "+platformKey)
	rec, _ := plumbLogged(h, req)
	if rec.Code != 503 || plumbProblem(t, rec).Code != "unavailable" {
		t.Errorf("store down: %d %s", rec.Code, rec.Body)
	}
}

func TestRequire(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	tests := []struct {
		name      string
		principal *Principal
		roles     []registry.Role
		status    int
		code      string
	}{
		{"platform allowed", &Principal{Role: registry.RolePlatform}, []registry.Role{registry.RolePlatform}, 204, ""},
		{"unit among two", &Principal{Role: registry.RoleUnit, UnitID: 1}, []registry.Role{registry.RolePlatform, registry.RoleUnit}, 204, ""},
		{"reviewer refused", &Principal{Role: registry.RoleReviewer, Jurisdiction: "x"}, []registry.Role{registry.RolePlatform, registry.RoleUnit}, 403, "forbidden"},
		{"unit refused", &Principal{Role: registry.RoleUnit, UnitID: 1}, []registry.Role{registry.RoleReviewer}, 403, "forbidden"},
		{"unknown role refused", &Principal{Role: "root"}, []registry.Role{registry.RolePlatform}, 403, "forbidden"},
		{"no principal", nil, []registry.Role{registry.RolePlatform}, 401, "unauthorized"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/api/v1/units", nil)
			if tc.principal != nil {
				req = req.WithContext(WithPrincipal(req.Context(), *tc.principal))
			}
			rec := httptest.NewRecorder()
			Require(tc.roles...)(ok).ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d", rec.Code, tc.status)
			}
			if tc.code != "" && plumbProblem(t, rec).Code != tc.code {
				t.Errorf("body %s", rec.Body)
			}
		})
	}
}
