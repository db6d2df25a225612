package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	neturl "net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/certseal/certseal/internal/testenv"
	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/postgres"
	"github.com/certseal/certseal/registry/storetest"
)

func open(t *testing.T, url string) *postgres.Store {
	s, err := postgres.Open(context.Background(), url, storetest.PII())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Backend{
		Open:        func(t *testing.T) storetest.RawStore { return open(t, testenv.PostgresURL(t)) },
		DropTrigger: `DROP TRIGGER %[1]s ON %[2]s`,
	})
}

// Replicas starting together must migrate once, not fail or apply twice.
func TestConcurrentMigrations(t *testing.T) {
	url := testenv.PostgresURL(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			s, err := postgres.Open(context.Background(), url, storetest.PII())
			if err == nil {
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// newAppRole creates a login role for the test, dropped at its end (roles
// are global to the cluster).
func newAppRole(t *testing.T, url string) string {
	t.Helper()
	ctx := context.Background()
	b := make([]byte, 4)
	rand.Read(b)
	role := "certseal_app_" + hex.EncodeToString(b)
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE ROLE "+role+" LOGIN"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), url)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		c.Exec(context.Background(), "DROP OWNED BY "+role)
		c.Exec(context.Background(), "DROP ROLE "+role)
	})
	return role
}

// asRole migrates a fresh schema as the owner, grants role what the service
// needs, and returns the schema's URL for role.
func asRole(t *testing.T, role string) string {
	t.Helper()
	url := testenv.PostgresURL(t)
	owner := open(t, url)
	defer owner.Close()
	if err := owner.GrantAppRole(context.Background(), role); err != nil {
		t.Fatal(err)
	}
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	u.User = neturl.User(role)
	return u.String()
}

// The application's role, set up by GrantAppRole, does everything the
// service does (the conformance suite, but for tampering, which needs the
// owner) and cannot delete anything, rewrite the audit trail or what a
// record says, nor drop the triggers that guard against the owner.
func TestAppRole(t *testing.T) {
	ctx := context.Background()
	role := newAppRole(t, testenv.PostgresURL(t))
	self := open(t, testenv.PostgresURL(t))
	defer self.Close()
	if err := self.GrantAppRole(ctx, "postgres"); err == nil {
		t.Error("GrantAppRole to the role running it was allowed: its REVOKE would strip the owner")
	}

	t.Run("conformance", func(t *testing.T) {
		storetest.RunAsApplication(t, storetest.Backend{
			Open:        func(t *testing.T) storetest.RawStore { return open(t, asRole(t, role)) },
			DropTrigger: `DROP TRIGGER %[1]s ON %[2]s`,
		})
	})

	appURL := asRole(t, role)
	// The store opens (nothing to migrate) and records a transition.
	app := open(t, appURL)
	defer app.Close()
	err := app.InTx(ctx, func(tx registry.Tx) error {
		unit := registry.Unit{Name: "威海示范大学", USCC: "12371000494360979J", Jurisdiction: "威海市", Representative: "张三",
			Address: "威海市", Contact: "0631-5190962", CreatedAt: time.Now()}
		if err := tx.CreateUnit(ctx, &unit); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, &registry.AuditEvent{At: time.Now(), Actor: "test", Action: "unit.register", SubjectType: "unit", SubjectID: "1"})
	})
	if err != nil {
		t.Fatalf("the application role cannot work: %v", err)
	}
	// What the role may not do through the store says what to do instead.
	err = app.InTx(ctx, func(tx registry.Tx) error {
		return tx.CreateAPIKey(ctx, &registry.APIKey{Hash: []byte("h"), Role: registry.RolePlatform, CreatedAt: time.Now()})
	})
	if err == nil || !strings.Contains(err.Error(), "apikey create and migrate run as the schema's owner") {
		t.Errorf("an API key made as the application role: %v, want a permission error saying who may", err)
	}

	// It may revoke a key the owner made, and note a key's use.
	ownerURL, _ := neturl.Parse(appURL)
	if u, err := neturl.Parse(testenv.PostgresURL(t)); err == nil {
		ownerURL.User = u.User
	}
	owner := open(t, ownerURL.String())
	defer owner.Close()
	var k registry.APIKey
	if err := owner.InTx(ctx, func(tx registry.Tx) error {
		k = registry.APIKey{Hash: []byte("owner's"), Role: registry.RolePlatform, CreatedAt: time.Now()}
		return tx.CreateAPIKey(ctx, &k)
	}); err != nil {
		t.Fatal(err)
	}
	err = app.InTx(ctx, func(tx registry.Tx) error {
		now := time.Now()
		if err := tx.TouchAPIKey(ctx, k.ID, now, now.Add(-registry.APIKeyTouchEvery)); err != nil {
			return err
		}
		k, err := tx.APIKey(ctx, k.ID, registry.LockUpdate)
		if err != nil {
			return err
		}
		if err := registry.RevokeAPIKey(&k, "platform#1", now); err != nil {
			return err
		}
		return tx.UpdateAPIKey(ctx, &k)
	})
	if err != nil {
		t.Errorf("the application role cannot revoke an API key or note its use: %v", err)
	}

	conn, err := pgx.Connect(ctx, appURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		`DELETE FROM audit_events`,
		`UPDATE audit_events SET actor = 'someone else'`,
		`TRUNCATE audit_events`,
		`DROP TRIGGER audit_events_frozen ON audit_events`,
		`DELETE FROM units`,
		`DELETE FROM certificates`,
		`UPDATE units SET name = 'x'`,
		`UPDATE certificates SET pdf_sha256 = ''::bytea`,
		`UPDATE seals SET key_blob = ''::bytea`,
		`UPDATE certificate_pdfs SET pdf = ''::bytea`,
		`UPDATE integrity_records SET evidence = ''`,
		`INSERT INTO api_keys (hash, role, jurisdiction, unit_id, name, created_at) VALUES (''::bytea, 'platform', '', 0, 'x', 0)`,
		`INSERT INTO schema_migrations (version, name) VALUES (999, 'x')`,
	} {
		_, err := conn.Exec(ctx, q)
		var pe *pgconn.PgError
		// 42501: insufficient privilege; dropping a trigger needs ownership.
		if !errors.As(err, &pe) || pe.Code != "42501" {
			t.Errorf("%s as the application role: %v, want permission denied", q, err)
		}
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM audit_events`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("audit events = %d, %v; want the one recorded", n, err)
	}
}

// Another tool's schema_migrations elsewhere on the search_path is not
// certseal's.
func TestMigrationsIgnoreOtherSchemas(t *testing.T) {
	ctx := context.Background()
	url := testenv.PostgresURL(t)
	other := testenv.PostgresURL(t) // a second fresh schema
	ou, _ := neturl.Parse(other)
	otherSchema := ou.Query().Get("search_path")
	c, err := pgx.Connect(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, dirty BOOLEAN NOT NULL);
		INSERT INTO schema_migrations VALUES (20240101, false)`); err != nil {
		t.Fatal(err)
	}
	u, _ := neturl.Parse(url)
	q := u.Query()
	q.Set("search_path", q.Get("search_path")+","+otherSchema)
	u.RawQuery = q.Encode()
	s := open(t, u.String())
	defer s.Close()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

// See storetest.SeedUpgrade.
func TestUpgradeSettlesWhatTheNewIndexesForbid(t *testing.T) {
	ctx := context.Background()
	url := testenv.PostgresURL(t)
	s := open(t, url)
	storetest.SeedUpgrade(t, s)
	s.Close()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range storetest.BackToVersion2(`'\x02'::bytea`, `DELETE FROM schema_migrations WHERE version > 2`) {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	conn.Close(ctx)
	s = open(t, url) // migrates 003..007
	defer s.Close()
	storetest.CheckUpgraded(t, s)
}

// A page of a filtered certificate listing over storetest.ListingSize
// certificates (go test -bench CertificateListing -benchmem ./registry/...).
func BenchmarkCertificateListing(b *testing.B) {
	s, err := postgres.Open(context.Background(), testenv.PostgresURL(b), storetest.PII())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchmarkListing(b, s)
}

// Issuing's part in the store with the transparency log and without it,
// interleaved in one run (go test -run '^$' -bench IssueRecord -count 5 ./registry/...).
func BenchmarkIssueRecord(b *testing.B) {
	var stores [2]*postgres.Store
	for i := range stores {
		s, err := postgres.Open(context.Background(), testenv.PostgresURL(b), storetest.PII())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		stores[i] = s
	}
	postgres.WithoutLog(stores[1])
	storetest.BenchmarkIssueRecord(b, stores[0], stores[1])
}
