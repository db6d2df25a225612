package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/audit"
)

// appendLeaf adds ev to the transparency log in the transaction that
// appends it to the trail, so a committed event always has its leaf and a
// rolled-back one never does. The caller holds the append's turn (the
// audit lock, or SQLite's single writer).
func (t *Tx) appendLeaf(ctx context.Context, ev *registry.AuditEvent) error {
	n := audit.LeafIndex(ev.Seq)
	hs, err := tlog.StoredHashes(n, audit.LeafData(ev), audit.HashReader(ctx, t.LogHashes))
	if err != nil {
		return fmt.Errorf("log: hashes of leaf %d: %w", n, err)
	}
	return t.putHashes(ctx, tlog.StoredHashCount(n), hs)
}

// putHashes stores hashes at consecutive indexes from first, in one
// statement (an append stores two on average).
func (t *Tx) putHashes(ctx context.Context, first int64, hs []tlog.Hash) error {
	if len(hs) == 0 {
		return nil
	}
	var q strings.Builder
	q.WriteString(`INSERT INTO log_hashes (idx, hash) VALUES `)
	args := make([]any, 0, 2*len(hs))
	for i, h := range hs {
		if i > 0 {
			q.WriteString(", ")
		}
		fmt.Fprintf(&q, "($%d, $%d)", 2*i+1, 2*i+2)
		args = append(args, first+int64(i), h[:])
	}
	if err := t.c.Queue(ctx, func(_ int64, err error) error {
		if err != nil {
			return fmt.Errorf("log: store hashes from %d: %w", first, err)
		}
		return nil
	}, q.String(), args...); err != nil {
		return err
	}
	for i, h := range hs {
		t.remember(first+int64(i), h[:])
	}
	return nil
}

// remember keeps a log hash for the rest of the transaction: the next
// leaf appended in it reads mostly those stored or read before.
func (t *Tx) remember(idx int64, hash []byte) {
	if t.hashes == nil {
		t.hashes = map[int64][]byte{}
	}
	t.hashes[idx] = hash
}

func (t *Tx) LogHashes(ctx context.Context, indexes []int64) ([][]byte, error) {
	out := make([][]byte, len(indexes))
	var missing []int64
	for i, x := range indexes {
		if out[i] = t.hashes[x]; out[i] == nil {
			missing = append(missing, x)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	var q strings.Builder
	q.WriteString(`SELECT idx, hash FROM log_hashes WHERE idx IN (`)
	args := inParams(&q, missing)
	q.WriteString(")")
	type stored struct {
		idx  int64
		hash []byte
	}
	rows, err := t.c.Query(ctx, q.String(), args...)
	got, err := collect(rows, err, func(r Row) (s stored, err error) { return s, r.Scan(&s.idx, &s.hash) })
	if err != nil {
		return nil, fmt.Errorf("log: read stored hashes: %w", err)
	}
	for _, s := range got {
		t.remember(s.idx, s.hash)
	}
	for i, x := range indexes {
		if out[i] = t.hashes[x]; out[i] == nil {
			return nil, fmt.Errorf("log: stored hash %d is missing", x)
		}
	}
	return out, nil
}

func (t *Tx) LogSize(ctx context.Context) (int64, error) {
	var n int64
	if err := t.c.QueryRow(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit_events`).Scan(&n); err != nil {
		return 0, fmt.Errorf("log: size: %w", err)
	}
	return n, nil
}

func (t *Tx) AuditEventsAbout(ctx context.Context, subjectType, subjectID string) ([]registry.AuditEvent, error) {
	rows, err := t.c.Query(ctx, `SELECT `+auditCols+` FROM audit_events WHERE subject_type = $1 AND subject_id = $2 ORDER BY seq`, subjectType, subjectID)
	return collect(rows, err, scanAudit)
}

// backfillLog gives the events recorded before the log existed their
// leaves, in order, inside the migration that adds the log. The tree is
// built in memory (64 bytes a leaf) and written a page at a time.
func (t *Tx) backfillLog(ctx context.Context) error {
	var mem audit.MemoryHashes
	var chain audit.Verifier
	var after int64
	for {
		evs, err := t.AuditEvents(ctx, after, 1000)
		if err != nil {
			return fmt.Errorf("log backfill: read events after %d: %w", after, err)
		}
		first := int64(len(mem))
		for i := range evs {
			ev := &evs[i]
			// The log must not launder a trail altered before it existed.
			if err := chain.Next(*ev); err != nil {
				return fmt.Errorf("log backfill: %w (certseal audit verify says the same; restore the trail from a backup first)", err)
			}
			if err := mem.Append(audit.LeafIndex(ev.Seq), audit.LeafData(ev)); err != nil {
				return err
			}
			after = ev.Seq
		}
		for i := first; i < int64(len(mem)); i += 500 {
			if err := t.putHashes(ctx, i, mem[i:min(i+500, int64(len(mem)))]); err != nil {
				return err
			}
		}
		if len(evs) < 1000 {
			return nil
		}
	}
}
