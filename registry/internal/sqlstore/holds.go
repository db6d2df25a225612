package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/certseal/certseal/registry"
)

func (t *Tx) HoldNumber(ctx context.Context, seq, holder string, now, until time.Time) (int64, error) {
	var v int64
	err := t.c.QueryRow(ctx, `SELECT value FROM number_holds WHERE seq_name = $1 AND used_at = 0 AND held_until < $2
		ORDER BY value LIMIT 1`+lockClause(t.d, registry.LockUpdate), seq, micros(now)).Scan(&v)
	switch {
	case err == nil:
		// Taken only if it is still free: another holder may have taken it
		// between the read and the lock.
		n, err := t.c.Exec(ctx, `UPDATE number_holds SET holder = $3, held_until = $4
			WHERE seq_name = $1 AND value = $2 AND used_at = 0 AND held_until < $5`, seq, v, holder, micros(until), micros(now))
		if err != nil {
			return 0, fmt.Errorf("hold number %d of %s: %w", v, seq, err)
		}
		if n == 1 {
			return v, nil
		}
	case !t.d.IsNoRows(err):
		return 0, fmt.Errorf("free numbers of %s: %w", seq, err)
	}
	if v, err = t.NextSeq(ctx, seq); err != nil {
		return 0, err
	}
	if _, err = t.c.Exec(ctx, `INSERT INTO number_holds (seq_name, value, holder, held_until) VALUES ($1, $2, $3, $4)`,
		seq, v, holder, micros(until)); err != nil {
		return 0, t.duplicate(err, "number hold")
	}
	return v, nil
}

func (t *Tx) UseNumber(ctx context.Context, seq string, value int64, holder string, at time.Time) error {
	n, err := t.c.Exec(ctx, `UPDATE number_holds SET used_at = $4 WHERE seq_name = $1 AND value = $2 AND holder = $3 AND used_at = 0`,
		seq, value, holder, micros(at))
	if err != nil {
		return fmt.Errorf("use number %d of %s: %w", value, seq, err)
	}
	if n == 0 {
		return &registry.Error{Code: registry.CodeConflict, Msg: fmt.Sprintf("number %d of %s is no longer held for this issue", value, seq)}
	}
	return nil
}

func (t *Tx) ReleaseNumber(ctx context.Context, seq string, value int64, holder string) error {
	_, err := t.c.Exec(ctx, `UPDATE number_holds SET held_until = 0 WHERE seq_name = $1 AND value = $2 AND holder = $3 AND used_at = 0`,
		seq, value, holder)
	if err != nil {
		return fmt.Errorf("release number %d of %s: %w", value, seq, err)
	}
	return nil
}
