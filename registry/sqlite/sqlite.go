// Package sqlite is the default registry.Store: one SQLite file under the
// data directory (pure Go, no cgo), WAL journal, foreign keys on. Writes go
// through a single connection, so write transactions never fight over locks;
// reads use a pool and run beside them.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	sql     string
}

// loadMigrations returns the migrations in order; a file NNN_what.sql is
// schema version NNN, as in registry/postgres, so a version means the same
// schema in both stores whichever branch's files are present.
func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	out := make([]migration, len(names))
	for i, n := range names {
		v, err := strconv.Atoi(strings.SplitN(path.Base(n), "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s has no version prefix", n)
		}
		b, err := migrationFS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out[i] = migration{v, string(b)}
	}
	return out, nil
}

// Store implements registry.Store on SQLite.
type Store struct {
	write, read *sql.DB
	pii         *registry.PII
	dialect     sqlstore.Dialect
}

var _ registry.Store = (*Store)(nil)

// Open opens (creating if needed) the database file at path and applies
// pending migrations.
func Open(ctx context.Context, path string, pii *registry.PII) (*Store, error) {
	dsn := func(txlock string, readOnly bool) string {
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "synchronous(NORMAL)")
		if readOnly {
			q.Add("_pragma", "query_only(1)")
		}
		q.Set("_txlock", txlock)
		return "file:" + path + "?" + q.Encode()
	}
	write, err := sql.Open("sqlite", dsn("immediate", false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	s := &Store{write: write, pii: pii, dialect: sqlstore.Dialect{IsNoRows: isNoRows, IsUnique: isUnique}}
	if err := s.migrate(ctx); err != nil {
		write.Close()
		return nil, err
	}
	if s.read, err = sql.Open("sqlite", dsn("deferred", true)); err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s for reading: %w", path, err)
	}
	s.read.SetMaxOpenConns(8)
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	migrations, err := loadMigrations()
	if err != nil {
		return fmt.Errorf("sqlite: migrations: %w", err)
	}
	var version int
	if err := s.write.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return fmt.Errorf("sqlite: read schema version: %w", err)
	}
	if n := len(migrations); n > 0 && version > migrations[n-1].version {
		return fmt.Errorf("sqlite: database schema version %d is newer than this certseal (%d): upgrade certseal", version, migrations[n-1].version)
	}
	for _, m := range migrations {
		if m.version <= version {
			continue
		}
		if err := s.apply(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) apply(ctx context.Context, m migration) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	defer tx.Rollback()
	if err := sqlstore.New(conn{tx}, &s.dialect, s.pii).BeforeMigration(ctx, m.version, time.Now()); err != nil {
		return fmt.Errorf("sqlite: before migration %d: %w", m.version, err)
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return fmt.Errorf("sqlite: migration %d: %w", m.version, err)
	}
	if err := sqlstore.New(conn{tx}, &s.dialect, s.pii).AfterMigration(ctx, m.version); err != nil {
		return fmt.Errorf("sqlite: after migration %d: %w", m.version, err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, m.version)); err != nil {
		return fmt.Errorf("sqlite: migration %d: %w", m.version, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: migration %d: %w", m.version, err)
	}
	return nil
}

func (s *Store) InTx(ctx context.Context, fn func(registry.Tx) error) error {
	return s.run(ctx, s.write, fn)
}

func (s *Store) View(ctx context.Context, fn func(registry.Tx) error) error {
	return s.run(ctx, s.read, fn)
}

func (s *Store) run(ctx context.Context, db *sql.DB, fn func(registry.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return unavailable(err)
	}
	if err := fn(sqlstore.New(conn{tx}, &s.dialect, s.pii)); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return unavailable(err)
	}
	return nil
}

func unavailable(err error) error {
	return &registry.Error{Code: registry.CodeUnavailable, Msg: "sqlite", Err: err}
}

func (s *Store) Ping(ctx context.Context) error {
	if err := s.read.PingContext(ctx); err != nil {
		return unavailable(err)
	}
	return nil
}

func (s *Store) Close() error {
	return errors.Join(s.read.Close(), s.write.Close())
}

// Exec runs raw SQL outside the registry interface; tests use it to play
// the attacker who edits the file directly.
func (s *Store) Exec(ctx context.Context, query string, args ...any) error {
	_, err := s.write.ExecContext(ctx, query, args...)
	return err
}

type conn struct{ tx *sql.Tx }

func (c conn) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	r, err := c.tx.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return r.RowsAffected()
}

// Queue runs the statement at once: a statement costs SQLite no round trip.
func (c conn) Queue(ctx context.Context, check func(int64, error) error, q string, args ...any) error {
	return check(c.Exec(ctx, q, args...))
}

func (c conn) QueryRow(ctx context.Context, q string, args ...any) sqlstore.Row {
	return c.tx.QueryRowContext(ctx, q, args...)
}

func (c conn) Query(ctx context.Context, q string, args ...any) (sqlstore.Rows, error) {
	r, err := c.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return rows{r}, nil
}

type rows struct{ *sql.Rows }

func (r rows) Close() { r.Rows.Close() }

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }

func isUnique(err error) bool {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// WithoutLog makes s append audit events without their transparency log
// leaves, as certseal did before the log: only for benchmarks that price
// the log against that baseline; a store used so fails log verify.
func WithoutLog(s *Store) { s.dialect.WithoutLog = true }
