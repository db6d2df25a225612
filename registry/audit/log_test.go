package audit

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/certseal/certseal/registry"
)

// memLog is a trail and its tree as a store keeps them.
type memLog struct {
	events []registry.AuditEvent
	hashes MemoryHashes
}

func newMemLog(t testing.TB, n int) *memLog {
	t.Helper()
	l := &memLog{}
	var prev []byte
	for i := range n {
		ev := registry.AuditEvent{At: time.Date(2026, 3, 2, 9, 0, i, 0, time.UTC), Actor: "unit:1", Action: "certificate.sign",
			SubjectType: "certificate", SubjectID: fmt.Sprint(372026000000013 + i), PayloadDigest: Digest(i)}
		Link(&ev, int64(i), prev)
		prev = ev.Hash
		if err := l.hashes.Append(LeafIndex(ev.Seq), LeafData(&ev)); err != nil {
			t.Fatal(err)
		}
		l.events = append(l.events, ev)
	}
	return l
}

func (l *memLog) fetch(_ context.Context, after int64, limit int) ([]registry.AuditEvent, error) {
	var out []registry.AuditEvent
	for _, ev := range l.events {
		if ev.Seq > after && len(out) < limit {
			out = append(out, ev)
		}
	}
	return out, nil
}

func (l *memLog) read(_ context.Context, idx []int64) ([][]byte, error) {
	hs, err := l.hashes.ReadHashes(idx)
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out, err
}

func (l *memLog) checkpoint(t testing.TB, size int64) Checkpoint {
	root, err := tlog.TreeHash(size, l.hashes)
	if err != nil {
		t.Fatal(err)
	}
	return Checkpoint{Origin: "example.org/log", Size: size, Root: root}
}

func TestVerifyLogNamesTheFirstBadLeaf(t *testing.T) {
	const n = 2500 // more than one page of events
	tests := []struct {
		name     string
		old      int64 // checkpoint size; 0 none
		tamper   func(l *memLog)
		wantLeaf int64 // -1: intact
		want     string
	}{
		{"intact", 0, func(*memLog) {}, -1, ""},
		{"intact against a checkpoint", 1700, func(*memLog) {}, -1, ""},
		{"an event altered", 1700, func(l *memLog) { l.events[1203].Actor = "nobody" }, 1203, "does not match its hash"},
		{"an event altered with its hash remade", 0, func(l *memLog) {
			ev := &l.events[2100]
			ev.Actor = "nobody"
			Link(ev, ev.Seq-1, ev.PrevHash)
		}, 2100, "does not hash to the leaf"},
		{"a stored leaf hash altered", 0, func(l *memLog) { l.hashes[tlog.StoredHashIndex(0, 17)][0] ^= 1 }, 17, "does not hash to the leaf"},
		{"an event removed", 0, func(l *memLog) { l.events = append(l.events[:40], l.events[41:]...) }, 40, "missing"},
		{"the newest events removed", 2400, func(l *memLog) { l.events = l.events[:2300] }, 2300, "before the checkpoint's 2400"},
		{"rewritten wholesale before the checkpoint", 1700, func(l *memLog) {
			fresh := newMemLog(t, n)
			fresh.events[5].Actor = "nobody"
			var prev []byte
			fresh.hashes = nil
			for i := range fresh.events {
				Link(&fresh.events[i], int64(i), prev)
				prev = fresh.events[i].Hash
				if err := fresh.hashes.Append(int64(i), LeafData(&fresh.events[i])); err != nil {
					t.Fatal(err)
				}
			}
			*l = memLog{events: fresh.events, hashes: fresh.hashes}
		}, 0, "rewritten wholesale"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newMemLog(t, n)
			var old Checkpoint
			if tc.old > 0 {
				old = l.checkpoint(t, tc.old)
			}
			tc.tamper(l)
			rep, err := VerifyLog(context.Background(), l.fetch, l.read, old, nil)
			if tc.wantLeaf < 0 {
				if err != nil || rep.Size != n || rep.Root != l.checkpoint(t, n).Root {
					t.Fatalf("intact log: %+v, %v", rep, err)
				}
				return
			}
			var le *LeafError
			if !errors.As(err, &le) || le.Index != tc.wantLeaf || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want leaf %d named (%q)", err, tc.wantLeaf, tc.want)
			}
		})
	}
	t.Run("a stored interior hash altered", func(t *testing.T) {
		l := newMemLog(t, n)
		l.hashes[tlog.StoredHashIndex(3, 1)][0] ^= 1
		if _, err := VerifyLog(context.Background(), l.fetch, l.read, Checkpoint{}, nil); err == nil || !strings.Contains(err.Error(), "level 3, node 1 (over leaves 8 to 15) was altered") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestCheckpointSignAndOpen(t *testing.T) {
	skey, vkey, err := note.GenerateKey(rand.Reader, "example.org/log")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := note.NewSigner(skey)
	v, _ := note.NewVerifier(vkey)
	l := newMemLog(t, 9)
	cp := l.checkpoint(t, 9)
	msg, err := cp.Sign(s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(msg), "example.org/log\n9\n"+cp.Root.String()+"\n\n— example.org/log ") {
		t.Errorf("not a C2SP checkpoint:\n%s", msg)
	}
	got, err := OpenCheckpoint(msg, v)
	if err != nil || got != cp {
		t.Fatalf("opened %+v, %v; want %+v", got, err, cp)
	}
	otherS, _ := note.NewSigner(mustKey(t, "other.org/log"))
	if _, err := cp.Sign(otherS); err == nil {
		t.Error("a key of another origin signed the checkpoint")
	}
	tampered := strings.Replace(string(msg), "\n9\n", "\n8\n", 1)
	if _, err := OpenCheckpoint([]byte(tampered), v); err == nil {
		t.Error("an altered checkpoint opened")
	}
}

func mustKey(t *testing.T, name string) string {
	skey, _, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	return skey
}

func TestParseCheckpoint(t *testing.T) {
	root := "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
	tests := []struct {
		name, text, want string
	}{
		{"valid", "o.org/log\n12\n" + root + "\n", ""},
		{"with an extension line", "o.org/log\n12\n" + root + "\nextra\n", ""},
		{"another origin", "x.org/log\n12\n" + root + "\n", "origin"},
		{"no root", "o.org/log\n12\n", "want origin"},
		{"size with a sign", "o.org/log\n+12\n" + root + "\n", "tree size"},
		{"size with a leading zero", "o.org/log\n012\n" + root + "\n", "tree size"},
		{"negative size", "o.org/log\n-1\n" + root + "\n", "tree size"},
		{"short root", "o.org/log\n12\nAAAA\n", "root hash"},
		{"root not base64", "o.org/log\n12\n" + strings.Repeat("!", 44) + "\n", "root hash"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cp, err := ParseCheckpoint(tc.text, "o.org/log")
			if tc.want == "" {
				if err != nil || cp.Size != 12 || cp.Root.String() != root {
					t.Fatalf("%+v, %v", cp, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// Checkpoints come from outside (an auditor's file): never a panic, and
// what parses prints back the same.
func FuzzParseCheckpoint(f *testing.F) {
	f.Add("o.org/log\n12\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n")
	f.Add("o.org/log\n0\n\n")
	f.Add("\n\n\n\n")
	f.Fuzz(func(t *testing.T, text string) {
		cp, err := ParseCheckpoint(text, "o.org/log")
		if err != nil {
			return
		}
		if !strings.HasPrefix(text, cp.Text()) {
			t.Fatalf("parsed %+v from %q, which does not begin with %q", cp, text, cp.Text())
		}
	})
}

func TestCheckLeaves(t *testing.T) {
	const n = 2300
	serve := func(l *memLog) FetchLeaves {
		return func(_ context.Context, start int64) ([][]byte, error) {
			var out [][]byte
			for _, ev := range l.events {
				if ev.Seq > start && len(out) < 1000 {
					out = append(out, ev.Hash)
				}
			}
			return out, nil
		}
	}
	tests := []struct {
		name   string
		tamper func(l *memLog)
		old    int64
		want   string // "" intact
	}{
		{"intact", func(*memLog) {}, 1500, ""},
		{"a leaf changed before the kept checkpoint", func(l *memLog) { l.events[700].Hash = l.events[701].Hash }, 1500, "log leaf 0 (audit event 1) is bad: the first leaves no longer hash"},
		{"a leaf changed after it", func(l *memLog) { l.events[1700].Hash = l.events[1701].Hash }, 1500, "do not hash to the root of the checkpoint"},
		{"leaves missing", func(l *memLog) { l.events = l.events[:1900] }, 1500, "log leaf 1900 (audit event 1901) is bad: the log serves 1900 leaves"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newMemLog(t, n)
			cur, old := l.checkpoint(t, n), l.checkpoint(t, tc.old)
			tc.tamper(l)
			err := CheckLeaves(context.Background(), serve(l), cur, old)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	l := newMemLog(t, 10)
	if err := CheckLeaves(context.Background(), serve(l), l.checkpoint(t, 4), l.checkpoint(t, 9)); err == nil || !strings.Contains(err.Error(), "fewer than the 9") {
		t.Errorf("a log that shrank: %v", err)
	}
}
