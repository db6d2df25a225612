package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/sqlite"
	"github.com/certseal/certseal/registry/storetest"
)

func open(t *testing.T, path string) *sqlite.Store {
	s, err := sqlite.Open(context.Background(), path, storetest.PII())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Backend{
		Open:        func(t *testing.T) storetest.RawStore { return open(t, filepath.Join(t.TempDir(), "certseal.db")) },
		DropTrigger: `DROP TRIGGER %[1]s`,
	})
}

// Personal data must not be readable from the database file.
func TestIDNumberNotStoredInClear(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "certseal.db")
	s := open(t, path)
	const id = "11010519491231002X"
	err := s.InTx(ctx, func(tx registry.Tx) error {
		a := registry.SealApplication{UnitID: 0, Kind: registry.KindNew, Handler: registry.Handler{Name: "赵六", IDNumber: id},
			Declaration: true, State: registry.ApplicationSubmitted}
		u := registry.Unit{Name: "u", USCC: "91370000MA3C00000X", Jurisdiction: "威海市"}
		if err := tx.CreateUnit(ctx, &u); err != nil {
			return err
		}
		a.UnitID = u.ID
		return tx.CreateSealApplication(ctx, &a)
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, f := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(id)) {
			t.Fatalf("%s holds the ID number in clear", filepath.Base(f))
		}
	}
	// Reopening applies no migration twice and reads the sealed value back.
	s = open(t, path)
	defer s.Close()
	err = s.View(ctx, func(tx registry.Tx) error {
		a, err := tx.SealApplication(ctx, 1)
		if err == nil && a.Handler.IDNumber != id {
			t.Errorf("handler ID number round trip: got a different value")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Every migration file is applied, and both stores have the same ones: the
// list used to be written out by hand, and files 003 and 004 were left out
// of it.
func TestEveryMigrationApplied(t *testing.T) {
	names := func(dir string) []string {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			out = append(out, e.Name())
		}
		return out
	}
	mine, theirs := names("migrations"), names("../postgres/migrations")
	if !slices.Equal(mine, theirs) {
		t.Errorf("migrations differ between the stores:\nsqlite   %v\npostgres %v", mine, theirs)
	}
	path := filepath.Join(t.TempDir(), "v.db")
	open(t, path).Close()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var version int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	last, err := strconv.Atoi(strings.SplitN(mine[len(mine)-1], "_", 2)[0])
	if err != nil {
		t.Fatal(err)
	}
	if version != last {
		t.Errorf("schema version %d after opening, want %d (the last file in migrations/)", version, last)
	}
}

// A database written before migrations 003 and 007 may hold what they
// forbid; the upgrade settles it (storetest.SeedUpgrade, CheckUpgraded).
func TestUpgradeSettlesWhatTheNewIndexesForbid(t *testing.T) {
	path := filepath.Join(t.TempDir(), "certseal.db")
	s := open(t, path)
	storetest.SeedUpgrade(t, s)
	s.Close()
	// Back to schema version 2, with the duplicates an older certseal made.
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range storetest.BackToVersion2(`x'02'`, `PRAGMA user_version = 2`) {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	s = open(t, path) // migrates 003..007
	defer s.Close()
	storetest.CheckUpgraded(t, s)
}

// A page of a filtered certificate listing over storetest.ListingSize
// certificates (go test -bench CertificateListing -benchmem ./registry/...).
func BenchmarkCertificateListing(b *testing.B) {
	s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"), storetest.PII())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	storetest.BenchmarkListing(b, s)
}

// Issuing's part in the store with the transparency log and without it,
// interleaved in one run (go test -run '^$' -bench IssueRecord -count 5 ./registry/...).
func BenchmarkIssueRecord(b *testing.B) {
	var stores [2]*sqlite.Store
	for i, name := range []string{"log", "no-log"} {
		s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), name+".db"), storetest.PII())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		stores[i] = s
	}
	sqlite.WithoutLog(stores[1])
	storetest.BenchmarkIssueRecord(b, stores[0], stores[1])
}
