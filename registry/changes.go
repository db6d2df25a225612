package registry

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Changes is what a committed transaction changed that is also kept
// outside the store: verification answers (by certificate number) and
// revocation answers (CRL, OCSP: by seal). A command notes them on the
// transaction as it makes them, so nobody has to remember, after the
// commit, which copies a workflow made wrong.
type Changes struct {
	Numbers []string // certificates whose verification answer changed
	Seals   []int64  // seals whose state changed (their CRL and OCSP answers, and the pages of what they signed)
	Issued  int      // certificate versions signed and recorded
}

// Certificate notes that the answers about numbers changed.
func (c *Changes) Certificate(numbers ...string) { c.Numbers = append(c.Numbers, numbers...) }

// Seal notes that a seal's state changed, and with it the answers about
// the certificates it signed (signed).
func (c *Changes) Seal(id int64, signed []string) {
	c.Seals = append(c.Seals, id)
	c.Numbers = append(c.Numbers, signed...)
}

// Empty is whether nothing kept elsewhere changed.
func (c Changes) Empty() bool { return len(c.Numbers) == 0 && len(c.Seals) == 0 && c.Issued == 0 }

// afterCommitTimeout bounds the after-commit hooks: they run whether or
// not the client that asked for the change is still there.
const afterCommitTimeout = 30 * time.Second

// Writer runs the write transactions of the commands over a Store and,
// once one commits, tells its hooks what it changed. Every command over a
// store shares one Writer (see Writing), so one hook sees every change.
// Reads go to the embedded Store.
type Writer struct {
	Store
	mu    sync.RWMutex
	hooks []func(context.Context, Changes)
}

// NewWriter returns a Writer over s with no hooks yet.
func NewWriter(s Store) *Writer { return &Writer{Store: s} }

// Writing is the Writer of s: s itself when it is one, so that commands
// built apart over the same store share its hooks.
func Writing(s Store) *Writer {
	if w, ok := s.(*Writer); ok {
		return w
	}
	return NewWriter(s)
}

// AfterCommit adds a hook run after every transaction that changed
// something (Changes.Empty is false). It runs on a context detached from
// the caller's: a client that hangs up as its revocation commits must not
// leave a stale answer behind.
func (w *Writer) AfterCommit(hook func(ctx context.Context, c Changes)) {
	w.mu.Lock()
	w.hooks = append(w.hooks, hook)
	w.mu.Unlock()
}

// Write runs fn in a read-write transaction (Store.InTx); fn notes on
// changed what it changes. fn may run again on a serialization failure:
// only the last run's notes count.
func (w *Writer) Write(ctx context.Context, fn func(tx Tx, changed *Changes) error) error {
	var c Changes
	err := w.Store.InTx(ctx, func(tx Tx) error {
		c = Changes{}
		return fn(tx, &c)
	})
	if err != nil || c.Empty() {
		return err
	}
	c.Numbers = slices.Compact(slices.Sorted(slices.Values(c.Numbers)))
	c.Seals = slices.Compact(slices.Sorted(slices.Values(c.Seals)))
	w.mu.RLock()
	hooks := w.hooks
	w.mu.RUnlock()
	if len(hooks) > 0 {
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), afterCommitTimeout)
		defer cancel()
		for _, h := range hooks {
			h(hctx, c)
		}
	}
	return nil
}

// Caller is who runs a command: named in its audit events, and asked,
// with the unit an object belongs to, whether it may see the object; one
// that may not is told the object does not exist.
type Caller struct {
	Actor     string
	RequestID string
	// Sees is whether the caller may see a unit's records; nil sees all
	// (the operator's command line).
	Sees func(Unit) bool
}

// CanSee is whether the caller may see u's records.
func (c Caller) CanSee(u Unit) bool { return c.Sees == nil || c.Sees(u) }

// NotFound is the answer for an object the caller may not see: a unit or
// a reviewer outside its scope learns nothing, not even that it exists.
func NotFound(what string, id any) error { return Errf(CodeNotFound, "%s %v not found", what, id) }
