package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	neturl "net/url"
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

// The application's role, set up by GrantAppRole, runs certseal but cannot
// delete anything or rewrite the audit trail, nor drop the triggers that
// guard against the owner.
func TestAppRole(t *testing.T) {
	ctx := context.Background()
	url := testenv.PostgresURL(t)
	owner := open(t, url)
	defer owner.Close()

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
		// Roles are global to the cluster: leave none behind.
		c, err := pgx.Connect(context.Background(), url)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		c.Exec(context.Background(), "DROP OWNED BY "+role)
		c.Exec(context.Background(), "DROP ROLE "+role)
	})
	if err := owner.GrantAppRole(ctx, role); err != nil {
		t.Fatal(err)
	}

	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	u.User = neturl.User(role)
	appURL := u.String()

	// The store opens (nothing to migrate) and records a transition.
	app := open(t, appURL)
	defer app.Close()
	err = app.InTx(ctx, func(tx registry.Tx) error {
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
		`UPDATE certificate_pdfs SET pdf = ''::bytea`,
		`UPDATE integrity_records SET evidence = ''`,
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
