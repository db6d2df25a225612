package logbuf

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// sink records writes; safe for concurrent use.
type sink struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.b.Write(p)
}

func (s *sink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *sink) Writes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never happened: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLinesArriveAfterTheInterval(t *testing.T) {
	var s sink
	w := New(&s, 20*time.Millisecond)
	for i := range 100 {
		fmt.Fprintf(w, "line %d\n", i)
	}
	if s.Writes() != 0 {
		t.Fatalf("%d writes before the interval; want the lines held", s.Writes())
	}
	eventually(t, "the lines are written", func() bool { return strings.Count(s.String(), "\n") == 100 })
	if s.Writes() != 1 {
		t.Errorf("%d writes for 100 lines; want them batched into 1", s.Writes())
	}
	// And again: a new timer after the buffer emptied.
	fmt.Fprintln(w, "later")
	eventually(t, "a later line is written", func() bool { return strings.HasSuffix(s.String(), "later\n") })
}

func TestWarningsAreNotHeldBack(t *testing.T) {
	var s sink
	w := New(&s, time.Hour)
	log := slog.New(Handler(slog.NewTextHandler(w, nil), w, slog.LevelWarn)).With("request_id", "r1")
	log.Info("access line")
	if s.String() != "" {
		t.Fatalf("an info line was written at once: %q", s.String())
	}
	log.Warn("trouble")
	if got := s.String(); !strings.Contains(got, "access line") || !strings.Contains(got, "trouble") || !strings.Contains(got, "request_id=r1") {
		t.Fatalf("after a warning: %q; want both lines, in order, with the logger's attributes", got)
	}
}

func TestCloseWritesTheRest(t *testing.T) {
	var s sink
	w := New(&s, time.Hour)
	fmt.Fprintln(w, "last words")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if s.String() != "last words\n" {
		t.Fatalf("after Close: %q", s.String())
	}
	fmt.Fprintln(w, "after")
	if s.String() != "last words\nafter\n" {
		t.Fatalf("a write after Close was held: %q", s.String())
	}
}

// Concurrent loggers: every line arrives whole, none lost, including
// lines bigger than the buffer.
func TestConcurrentLinesStayWhole(t *testing.T) {
	var s sink
	w := New(&s, time.Millisecond)
	big := strings.Repeat("x", 100<<10)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 500 {
				if i == 250 {
					fmt.Fprintf(w, "g%d big %s\n", g, big)
					continue
				}
				fmt.Fprintf(w, "g%d line %d\n", g, i)
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(s.String(), "\n"), "\n")
	if len(lines) != 2000 {
		t.Fatalf("%d lines, want 2000", len(lines))
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "g") || strings.Contains(l[1:], "g") && !strings.Contains(l, " big ") {
			t.Fatalf("a line was cut or mixed: %.60q", l)
		}
		if strings.Contains(l, " big ") && len(l) != len("g0 big ")+len(big) {
			t.Fatalf("a big line has %d bytes", len(l))
		}
	}
}

// failOnce fails its first write, as a full disk would, then works.
type failOnce struct {
	sink
	failed bool
}

func (f *failOnce) Write(p []byte) (int, error) {
	if !f.failed {
		f.failed = true
		return 0, errors.New("no space left on device")
	}
	return f.sink.Write(p)
}

// One failed write loses what was buffered then, not every later line.
func TestRecoversAfterAFailedWrite(t *testing.T) {
	var f failOnce
	w := New(&f, time.Hour)
	fmt.Fprintln(w, "lost")
	if err := w.Flush(); err == nil {
		t.Fatal("the failed write was not reported")
	}
	fmt.Fprintln(w, "after the disk was cleared")
	if err := w.Flush(); err != nil {
		t.Fatalf("a write after the failure: %v", err)
	}
	if got := f.String(); got != "after the disk was cleared\n" {
		t.Fatalf("written %q", got)
	}
}
