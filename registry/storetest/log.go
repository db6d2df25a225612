package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/audit"
)

// The transparency log is written by AppendAudit in the event's own
// transaction: these cases check it holds one leaf per committed event and
// nothing else, whatever runs at once or rolls back.

// logHashes reads stored hashes in a view of s.
func logHashes(s registry.Store) audit.LogHashes {
	return func(ctx context.Context, idx []int64) (hs [][]byte, err error) {
		err = s.View(ctx, func(tx registry.Tx) error {
			hs, err = tx.LogHashes(ctx, idx)
			return err
		})
		return hs, err
	}
}

// CheckLog rebuilds the log from the events and checks it is the stored
// tree, with exactly one leaf per event and no hash beyond them; it
// returns the log's size.
func CheckLog(t *testing.T, s registry.Store) int64 {
	t.Helper()
	ctx := ctxT(t)
	rep, err := audit.VerifyLog(ctx, fetcher(s), logHashes(s), audit.Checkpoint{}, nil)
	if err != nil {
		t.Fatalf("log does not verify: %v", err)
	}
	must(t, s.View(ctx, func(tx registry.Tx) error {
		n, err := tx.LogSize(ctx)
		if err != nil {
			return err
		}
		if n != rep.Size {
			return fmt.Errorf("log size %d, but %d events verified", n, rep.Size)
		}
		// Nothing was stored past the last leaf's hashes.
		if _, err := tx.LogHashes(ctx, []int64{tlog.StoredHashCount(n)}); err == nil {
			return fmt.Errorf("a stored hash beyond the %d leaves of the log", n)
		}
		return nil
	}))
	return rep.Size
}

func testLogConcurrentWriters(t *testing.T, s RawStore) {
	ctx := ctxT(t)
	const writers, each = 6, 60
	var committed atomic.Int64
	errRollback := errors.New("rolled back on purpose")
	errs := race(writers, func() error {
		for i := range each {
			err := s.InTx(ctx, func(tx registry.Tx) error {
				// Two events in one transaction: both leaves or neither.
				for j := range 2 {
					if err := event(ctx, tx, "filing.review", "filing", i, j); err != nil {
						return err
					}
				}
				if i%7 == 3 {
					return errRollback
				}
				return nil
			})
			switch {
			case errors.Is(err, errRollback):
			case err != nil:
				return err
			default:
				committed.Add(2)
			}
		}
		return nil
	})
	for _, err := range errs {
		must(t, err)
	}
	size := CheckLog(t, s)
	if size != committed.Load() {
		t.Fatalf("log has %d leaves, %d events were committed", size, committed.Load())
	}
	// Proofs from the stored tree check against its root, as an outside
	// verifier checks them.
	must(t, s.View(ctx, func(tx registry.Tx) error {
		r := audit.HashReader(ctx, tx.LogHashes)
		root, err := tlog.TreeHash(size, r)
		if err != nil {
			return err
		}
		evs, err := tx.AuditEvents(ctx, 0, 1000)
		if err != nil {
			return err
		}
		for _, n := range []int64{0, 1, size / 2, size - 1} {
			p, err := tlog.ProveRecord(size, n, r)
			if err != nil {
				return err
			}
			if err := tlog.CheckRecord(p, size, root, n, audit.LeafHash(&evs[n])); err != nil {
				return fmt.Errorf("inclusion of leaf %d: %w", n, err)
			}
		}
		// A subject's events, in order: each writer committed two about filing 0.
		about, err := tx.AuditEventsAbout(ctx, "filing", "0")
		if err != nil {
			return err
		}
		if len(about) != 2*writers {
			return fmt.Errorf("%d events about filing 0, want %d", len(about), 2*writers)
		}
		for i, ev := range about {
			if ev.SubjectID != "0" || i > 0 && ev.Seq <= about[i-1].Seq {
				return fmt.Errorf("events about filing 0 out of order or of another subject: %+v", about)
			}
		}
		old := size / 3
		oldRoot, err := tlog.TreeHash(old, r)
		if err != nil {
			return err
		}
		p, err := tlog.ProveTree(size, old, r)
		if err != nil {
			return err
		}
		return tlog.CheckTree(p, size, root, old, oldRoot)
	}))
}

func testLogNamesTamperedLeaf(t *testing.T, s RawStore) {
	ctx := ctxT(t)
	trail(t, s, 6)
	// Rewritten with its own hash remade, the event still breaks its leaf.
	dropUpdateGuard(t, s)
	must(t, s.Exec(ctx, `UPDATE audit_events SET actor = 'someone else' WHERE seq = 5`))
	var le *audit.LeafError
	_, err := audit.VerifyLog(ctx, fetcher(s), logHashes(s), audit.Checkpoint{}, nil)
	if !errors.As(err, &le) || le.Index != 4 {
		t.Fatalf("got %v, want leaf 4 named", err)
	}
}

func testLogNamesAlteredLeafHash(t *testing.T, s RawStore) {
	ctx := ctxT(t)
	trail(t, s, 6)
	must(t, s.Exec(ctxT(t), fmt.Sprintf(s.(rawStore).b.DropTrigger, "log_hashes_frozen", "log_hashes")))
	// Leaf 2's stored hash is stored hash index 3 (tlog numbering).
	must(t, s.Exec(ctx, fmt.Sprintf(`UPDATE log_hashes SET hash = (SELECT hash FROM log_hashes WHERE idx = 0) WHERE idx = %d`, tlog.StoredHashIndex(0, 2))))
	var le *audit.LeafError
	_, err := audit.VerifyLog(ctx, fetcher(s), logHashes(s), audit.Checkpoint{}, nil)
	if !errors.As(err, &le) || le.Index != 2 {
		t.Fatalf("got %v, want leaf 2 named", err)
	}
}
