// Package postgres is the production registry.Store on PostgreSQL through
// pgx/v5's pool. Migrations are embedded and applied at open under an
// advisory lock, so replicas starting together migrate once.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/internal/sqlstore"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Advisory lock ids (arbitrary constants, fixed forever).
const (
	migrateLockID = 0x63657274_0001 // "cert" 1
	auditLockID   = 0x63657274_0002
)

// Store implements registry.Store on PostgreSQL.
type Store struct {
	pool    *pgxpool.Pool
	pii     *registry.PII
	dialect sqlstore.Dialect
}

var _ registry.Store = (*Store)(nil)

// Open connects to url, migrates, and returns the store.
func Open(ctx context.Context, url string, pii *registry.PII) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse database URL: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	s := &Store{pool: pool, pii: pii, dialect: sqlstore.Dialect{
		LockShare:  " FOR SHARE",
		LockUpdate: " FOR UPDATE",
		// Every writer appends to one chain: take turns from here to commit.
		AuditLock: fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", auditLockID),
		IsNoRows:  func(err error) bool { return errors.Is(err, pgx.ErrNoRows) },
		IsUnique:  func(err error) bool { return pgCode(err) == "23505" },
	}}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// retryable is whether a transaction lost a race that running it again
// settles: a serialization failure, a deadlock, or a second valid
// certificate for one appointment (the rerun finds the first and says so).
func retryable(err error) bool {
	var e *pgconn.PgError
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code {
	case "40001", "40P01":
		return true
	case "23505":
		return e.ConstraintName == "certificates_dedup_valid"
	}
	return false
}

func pgCode(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

type migration struct {
	version int
	name    string
	sql     string
}

func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []migration
	for _, n := range names {
		base := strings.TrimPrefix(n, "migrations/")
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("postgres: migration %s has no version prefix", base)
		}
		b, err := migrationFS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{v, base, string(b)})
	}
	return out, nil
}

func (s *Store) migrate(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return unavailable(err)
	}
	defer c.Release()
	if _, err := c.Exec(ctx, `SELECT pg_advisory_lock($1)`, int64(migrateLockID)); err != nil {
		return fmt.Errorf("postgres: take migration lock: %w", err)
	}
	defer c.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, int64(migrateLockID))
	// Checked first: the application role (see GrantAppRole) may not
	// create tables, and needs not when the schema is there.
	var exists bool
	// In this schema only: another tool's schema_migrations elsewhere on
	// the search_path is none of ours.
	if err := c.QueryRow(ctx, `SELECT to_regclass(format('%I.schema_migrations', current_schema())) IS NOT NULL`).Scan(&exists); err != nil {
		return fmt.Errorf("postgres: look for schema_migrations: %w", err)
	}
	if !exists {
		if _, err := c.Exec(ctx, `CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
			return fmt.Errorf("postgres: create schema_migrations: %w", err)
		}
	}
	var current int
	if err := c.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("postgres: read schema version: %w", err)
	}
	if n := len(ms); n > 0 && current > ms[n-1].version {
		return fmt.Errorf("postgres: database schema version %d is newer than this certseal (%d): upgrade certseal", current, ms[n-1].version)
	}
	for _, m := range ms {
		if m.version <= current {
			continue
		}
		err := pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			// One conn throughout, so that its queued writes go in order.
			c := &conn{tx: tx}
			if err := sqlstore.New(c, &s.dialect, s.pii).BeforeMigration(ctx, m.version, time.Now()); err != nil {
				return err
			}
			if _, err := c.Exec(ctx, m.sql); err != nil {
				return err
			}
			if err := sqlstore.New(c, &s.dialect, s.pii).AfterMigration(ctx, m.version); err != nil {
				return err
			}
			_, err := c.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name)
			return err
		})
		if err != nil {
			return fmt.Errorf("postgres: migration %s: %w", m.name, err)
		}
	}
	return nil
}

// appUpdates are the columns the service updates, by table: exactly those
// of the store's UPDATE statements (a state, a review, a revocation, a
// counter), so the application's role cannot rewrite what a record says
// (an appointment, a PDF's digest, a seal's key) nor the audit trail.
var appUpdates = []struct{ table, columns string }{
	{"filings", "state, review_json, valid_from, valid_until, rev"},
	{"seal_applications", "state, review_json, seal_id, rev"},
	{"seals", "state, revoked_at, reason, invalidity_date, rev"},
	{"certificates", "state, revoked_at, revoke_reason, revoked_by, category, rev, token_hash"},
	{"sequences", "value"},
	{"batches", "state, finished_at, issued, failed, rev, runner, lease_until"},
	{"batch_rows", "state, number, error"},
	{"api_keys", "revoked_at, revoked_by, rev, last_used_at"},
	{"number_holds", "holder, held_until, used_at"},
}

// appReadOnly are tables the service only reads and never adds to: API
// keys are made by an operator's command as the owner (the service may
// revoke them and note their use), migrations by the owner.
var appReadOnly = []string{"api_keys", "schema_migrations"}

// GrantAppRole lets role run certseal serve on this schema without owning
// it: it may read everything, insert records, and update only the columns
// in appUpdates. It gets no DELETE or TRUNCATE on anything, and, not being
// the owner, cannot drop the triggers that refuse the same to the owner.
// Run it as the owner after the migrations (certseal migrate
// -grant-app-role), and again after an upgrade adds tables; commands such
// as apikey create run as the owner.
func (s *Store) GrantAppRole(ctx context.Context, role string) error {
	if role == "" {
		return errors.New("postgres: grant: empty role name")
	}
	var schema, current string
	if err := s.pool.QueryRow(ctx, `SELECT current_schema(), current_user`).Scan(&schema, &current); err != nil {
		return fmt.Errorf("postgres: grant: %w", err)
	}
	if role == current {
		return fmt.Errorf("postgres: grant: %s is the role running this; grant to the service's own role", role)
	}
	r := pgx.Identifier{role}.Sanitize()
	sc := pgx.Identifier{schema}.Sanitize()
	table := func(t string) string { return sc + "." + pgx.Identifier{t}.Sanitize() }
	stmts := []string{
		"REVOKE ALL ON ALL TABLES IN SCHEMA " + sc + " FROM " + r,
		"GRANT USAGE ON SCHEMA " + sc + " TO " + r,
		"GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA " + sc + " TO " + r,
		"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA " + sc + " TO " + r,
	}
	for _, t := range appReadOnly {
		stmts = append(stmts, "REVOKE INSERT ON "+table(t)+" FROM "+r)
	}
	for _, u := range appUpdates {
		stmts = append(stmts, "GRANT UPDATE ("+u.columns+") ON "+table(u.table)+" TO "+r)
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, q := range stmts {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("postgres: grant to %s: %w", role, err)
			}
		}
		return nil
	})
}

// InTx retries when PostgreSQL aborts the transaction for a race that
// running it again settles (retryable); registry.Store asks fn to be free
// of outside effects.
func (s *Store) InTx(ctx context.Context, fn func(registry.Tx) error) error {
	return s.run(ctx, pgx.TxOptions{}, fn)
}

func (s *Store) View(ctx context.Context, fn func(registry.Tx) error) error {
	return s.run(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly}, fn)
}

func (s *Store) run(ctx context.Context, opts pgx.TxOptions, fn func(registry.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := s.once(ctx, opts, fn)
		if !retryable(err) || attempt == 5 {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt) * 10 * time.Millisecond):
		}
	}
}

func (s *Store) once(ctx context.Context, opts pgx.TxOptions, fn func(registry.Tx) error) error {
	tx, err := s.pool.BeginTx(ctx, opts)
	if err != nil {
		return unavailable(err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	c := &conn{tx: tx}
	err = fn(sqlstore.New(c, &s.dialect, s.pii))
	if err == nil {
		err = c.flush(ctx)
	}
	if err != nil {
		if pgCode(err) == "42501" {
			return fmt.Errorf("%w (this database role may not do that: certseal migrate -grant-app-role gives a role what serve needs; apikey create and migrate run as the schema's owner)", err)
		}
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		if pgCode(err) != "" {
			return err
		}
		return unavailable(err)
	}
	return nil
}

func unavailable(err error) error {
	return &registry.Error{Code: registry.CodeUnavailable, Msg: "postgres", Err: err}
}

func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return unavailable(err)
	}
	return nil
}

func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Exec runs raw SQL outside the registry interface; tests use it to play
// the attacker who edits the database directly.
func (s *Store) Exec(ctx context.Context, query string, args ...any) error {
	_, err := s.pool.Exec(ctx, query, args...)
	return err
}

// conn is a transaction whose queued writes (sqlstore.Conn.Queue) wait
// for the next statement, or the commit, and go in one round trip: a
// batch's group records a dozen statements a row, most of them writes
// whose answer nothing waits for.
type conn struct {
	tx     pgx.Tx
	queued pgx.Batch
	checks []func(int64, error) error
}

// maxQueued bounds the writes held (a batch's rows carry their photos).
const maxQueued = 256

func (c *conn) Queue(ctx context.Context, check func(int64, error) error, q string, args ...any) error {
	c.queued.Queue(q, args...)
	c.checks = append(c.checks, check)
	if len(c.checks) >= maxQueued {
		return c.flush(ctx)
	}
	return nil
}

// flush sends the queued writes in one round trip.
func (c *conn) flush(ctx context.Context) error {
	if len(c.checks) == 0 {
		return nil
	}
	br, err := c.send(ctx, nil)
	if err != nil {
		return err
	}
	return br.Close()
}

// send sends the queued writes, then next if not nil, in one round trip
// and returns the first check's error: after a failed statement
// PostgreSQL refuses the rest of the transaction, so the later errors say
// nothing new. On success next's result is br's next; the caller closes br.
func (c *conn) send(ctx context.Context, next *pgx.QueuedQuery) (br pgx.BatchResults, err error) {
	b, checks := c.queued, c.checks
	c.queued, c.checks = pgx.Batch{}, nil
	if next != nil {
		b.QueuedQueries = append(b.QueuedQueries, next)
	}
	br = c.tx.SendBatch(ctx, &b)
	for _, check := range checks {
		tag, e := br.Exec()
		if e := check(tag.RowsAffected(), e); e != nil && err == nil {
			err = e
		}
	}
	if err != nil {
		br.Close()
		// Said so, as the caller's own message names what it was about
		// to do, not the write that failed.
		return nil, fmt.Errorf("a write queued earlier in this transaction: %w", err)
	}
	return br, nil
}

func (c *conn) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	if err := c.flush(ctx); err != nil {
		return 0, err
	}
	tag, err := c.tx.Exec(ctx, q, args...)
	return tag.RowsAffected(), err
}

// QueryRow sends the queued writes with the query: a recorded row's
// writes go with the next row's first read.
func (c *conn) QueryRow(ctx context.Context, q string, args ...any) sqlstore.Row {
	if len(c.checks) == 0 {
		return c.tx.QueryRow(ctx, q, args...)
	}
	br, err := c.send(ctx, &pgx.QueuedQuery{SQL: q, Arguments: args})
	if err != nil {
		return errRow{err}
	}
	return batchRow{br}
}

// batchRow is a query's row that came last in a batch.
type batchRow struct{ br pgx.BatchResults }

func (r batchRow) Scan(dest ...any) error {
	err := r.br.QueryRow().Scan(dest...)
	if cerr := r.br.Close(); err == nil {
		err = cerr
	}
	return err
}

func (c *conn) Query(ctx context.Context, q string, args ...any) (sqlstore.Rows, error) {
	if err := c.flush(ctx); err != nil {
		return nil, err
	}
	return c.tx.Query(ctx, q, args...)
}

// errRow is a row that could not be read because a queued write failed.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// WithoutLog makes s append audit events without their transparency log
// leaves, as certseal did before the log: only for benchmarks that price
// the log against that baseline; a store used so fails log verify.
func WithoutLog(s *Store) { s.dialect.WithoutLog = true }
