package audit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/certseal/certseal/registry"
)

// chain links n events, the i-th with subject s<i>.
func chain(n int, subject func(i int) string) []registry.AuditEvent {
	var evs []registry.AuditEvent
	var prevSeq int64
	var prevHash []byte
	for i := 1; i <= n; i++ {
		ev := registry.AuditEvent{At: time.Date(2026, 6, 1, 0, 0, i, 0, time.UTC), Actor: "t", Action: "x", SubjectType: "s", SubjectID: subject(i)}
		Link(&ev, prevSeq, prevHash)
		prevSeq, prevHash = ev.Seq, ev.Hash
		evs = append(evs, ev)
	}
	return evs
}

func fetchFrom(evs []registry.AuditEvent) Fetch {
	return func(_ context.Context, after int64, limit int) ([]registry.AuditEvent, error) {
		var out []registry.AuditEvent
		for _, ev := range evs {
			if ev.Seq > after && len(out) < limit {
				out = append(out, ev)
			}
		}
		return out, nil
	}
}

// A recorded head shows what the chain alone cannot: that the newest
// events were removed, or removed and written again.
func TestWalkAgainstARecordedHead(t *testing.T) {
	ctx := context.Background()
	five := chain(5, func(i int) string { return fmt.Sprint(i) })
	head, err := Walk(ctx, fetchFrom(five), nil, Head{})
	if err != nil || head.Seq != 5 || string(head.Hash) != string(five[4].Hash) {
		t.Fatalf("head %v, %v", head, err)
	}
	rewritten := chain(5, func(i int) string {
		if i >= 4 {
			return "other"
		}
		return fmt.Sprint(i)
	})
	tests := []struct {
		name     string
		trail    []registry.AuditEvent
		recorded Head
		breakAt  int64 // 0: intact
		reason   string
	}{
		{"nothing recorded", five, Head{}, 0, ""},
		{"the head itself", five, head, 0, ""},
		{"an older head, more events since", five, Head{3, five[2].Hash}, 0, ""},
		{"the newest events removed", five[:3], head, 4, "before the recorded head 5"},
		{"the newest events removed and written again", rewritten, head, 5, "not the event recorded"},
		{"everything removed", nil, head, 1, "before the recorded head 5"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Walk(ctx, fetchFrom(tc.trail), nil, tc.recorded)
			var be *BreakError
			switch {
			case tc.breakAt == 0 && err != nil:
				t.Errorf("intact trail: %v", err)
			case tc.breakAt != 0 && (!errors.As(err, &be) || be.Seq != tc.breakAt || !strings.Contains(be.Reason, tc.reason)):
				t.Errorf("got %v, want a break at %d saying %q", err, tc.breakAt, tc.reason)
			}
		})
	}
}

func TestParseHead(t *testing.T) {
	head := Head{Seq: 42, Hash: chain(1, func(int) string { return "a" })[0].Hash}
	if got, err := ParseHead(head.String()); err != nil || got.String() != head.String() {
		t.Fatalf("round trip: %v %v", got, err)
	}
	for _, bad := range []string{"", "42", "0:" + strings.Repeat("a", 64), "x:" + strings.Repeat("a", 64), "42:abcd", "42:" + strings.Repeat("g", 64)} {
		if _, err := ParseHead(bad); err == nil {
			t.Errorf("ParseHead(%q) accepted", bad)
		}
	}
}
