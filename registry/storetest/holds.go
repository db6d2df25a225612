package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/certseal/certseal/registry"
)

// testNumberHolds: concurrent holders get distinct values; a value
// released, or whose hold ran out unused, goes to the next holder before
// any new value; only its holder uses a value, once.
func testNumberHolds(t *testing.T, s RawStore) {
	ctx := ctxT(t)
	const seq = "holds-test"
	hold := func(holder string, now, until time.Time) (v int64, err error) {
		err = s.InTx(ctx, func(tx registry.Tx) (err error) { v, err = tx.HoldNumber(ctx, seq, holder, now, until); return err })
		return v, err
	}
	later := t0.Add(time.Hour)
	var mu sync.Mutex
	var got []int64
	for i, err := range race(6, func() error {
		v, err := hold("h", t0, later)
		mu.Lock()
		got = append(got, v)
		mu.Unlock()
		return err
	}) {
		if err != nil {
			t.Fatalf("holder %d: %v", i, err)
		}
	}
	if slices.Sort(got); !slices.Equal(got, []int64{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("concurrent holders got %v, want 1 to 6 once each", got)
	}
	use := func(v int64, holder string) error {
		return s.InTx(ctx, func(tx registry.Tx) error { return tx.UseNumber(ctx, seq, v, holder, t0) })
	}
	must(t, use(1, "h"))
	wantCode(t, use(1, "h"), registry.ErrConflict)
	wantCode(t, use(2, "someone else"), registry.ErrConflict)
	must(t, s.InTx(ctx, func(tx registry.Tx) error { return tx.ReleaseNumber(ctx, seq, 4, "h") }))
	must(t, s.InTx(ctx, func(tx registry.Tx) error { return tx.ReleaseNumber(ctx, seq, 1, "h") })) // used: stays used
	for _, want := range []struct {
		holder string
		now    time.Time
		value  int64
	}{
		{"a", t0, 4},                     // released
		{"b", t0, 7},                     // nothing free: the next value
		{"c", later.Add(time.Second), 2}, // the holds of 2, 3, 5, 6 ran out unused
		{"d", later.Add(time.Second), 3},
	} {
		v, err := hold(want.holder, want.now, want.now.Add(time.Hour))
		if err != nil || v != want.value {
			t.Errorf("holder %s got %d (%v), want %d", want.holder, v, err, want.value)
		}
	}
	wantCode(t, use(2, "h"), registry.ErrConflict) // h's hold ran out and c took it
	must(t, use(2, "c"))
	if err := s.Exec(ctx, `DELETE FROM number_holds`); err == nil {
		t.Error(fmt.Errorf("DELETE FROM number_holds was allowed"))
	}
}
