package verify

import (
	"bytes"
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/sqlite"
	"github.com/certseal/certseal/registry/storetest"
)

func recorderStore(t testing.TB) registry.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"), storetest.PII())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func listed(t *testing.T, s registry.Store, number string) []registry.Verification {
	t.Helper()
	var out []registry.Verification
	err := s.View(context.Background(), func(tx registry.Tx) (err error) {
		out, err = tx.ListVerifications(context.Background(), number, registry.Page{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Everything recorded before Close is written, with a keyed
// hash of the client and never the client itself; unknown answers are not
// recorded.
func TestRecorderDrainsOnClose(t *testing.T) {
	s := recorderStore(t)
	// A long interval: only the batch size and Close write.
	r := NewRecorder(s, []byte("k"), RecorderOptions{Every: time.Hour})
	at := time.Date(2026, 6, 1, 10, 0, 0, 0, registry.ChinaTZ)
	for i := range 20 {
		client := "198.51.100.1"
		if i%2 == 1 {
			client = "198.51.100.2"
		}
		r.Record(registry.VerifiedByScan, "372026000000013", registry.CertValid, client, at.Add(time.Duration(i)*time.Second))
	}
	r.Record(registry.VerifiedByScan, "372026000000013", registry.CertUnknown, "198.51.100.1", at)
	r.Close()
	r.Close() // twice is harmless
	got := listed(t, s, "372026000000013")
	if len(got) != 20 {
		t.Fatalf("%d records written, want 20 (stats %+v)", len(got), r.Stats())
	}
	if st := r.Stats(); st.Written != 20 || st.Dropped != 0 || st.Failed != 0 {
		t.Errorf("stats %+v", st)
	}
	if !bytes.Equal(got[0].ClientHash, got[2].ClientHash) || bytes.Equal(got[0].ClientHash, got[1].ClientHash) ||
		bytes.Contains(got[0].ClientHash, []byte("198.51")) || len(got[0].ClientHash) != 16 {
		t.Errorf("client hashes %x %x %x", got[0].ClientHash, got[1].ClientHash, got[2].ClientHash)
	}
	if !got[19].At.Equal(at.Add(19 * time.Second)) {
		t.Errorf("last record at %s", got[19].At)
	}
	// The hash is keyed: another key gives another value.
	other := NewRecorder(s, []byte("other key"), RecorderOptions{})
	other.Record(registry.VerifiedByTyped, "372026000000021", registry.CertValid, "198.51.100.1", at)
	other.Close()
	if h := listed(t, s, "372026000000021")[0].ClientHash; bytes.Equal(h, got[0].ClientHash) {
		t.Error("two keys hash a client the same")
	}
}

// blockingStore holds every write until released: a database that hangs.
type blockingStore struct {
	registry.Store
	release chan struct{}
	writes  atomic.Int32
}

func (b *blockingStore) InTx(ctx context.Context, fn func(registry.Tx) error) error {
	b.writes.Add(1)
	<-b.release
	return b.Store.InTx(ctx, fn)
}

// A store that hangs never holds up Record: once the buffer is full,
// records are dropped and counted.
func TestRecorderNeverWaitsForTheStore(t *testing.T) {
	b := &blockingStore{Store: recorderStore(t), release: make(chan struct{})}
	r := NewRecorder(b, []byte("k"), RecorderOptions{Buffer: 4, Every: time.Hour})
	for range 100 { // returns although nothing can be written
		r.Record(registry.VerifiedByScan, "372026000000013", registry.CertValid, "", time.Now())
	}
	if d := r.Stats().Dropped; d != 100-4 { // the writer has not woken yet
		t.Errorf("dropped %d of 100 with a buffer of 4", d)
	}
	close(b.release)
	r.Close()
	st := r.Stats()
	if st.Written+st.Dropped+st.Coalesced != 100 {
		t.Errorf("written %d + dropped %d + coalesced %d != 100", st.Written, st.Dropped, st.Coalesced)
	}
}

// One client's repeated checks of one certificate within a second are one
// record; another client, another kind, another outcome or the next second
// is a record of its own.
func TestRecorderCoalescesRepeats(t *testing.T) {
	s := recorderStore(t)
	r := NewRecorder(s, []byte("k"), RecorderOptions{Every: time.Hour})
	at := time.Date(2026, 6, 1, 10, 0, 0, 0, registry.ChinaTZ)
	const n = "372026000000013"
	for i := range 50 { // one second's reloads
		r.Record(registry.VerifiedByScan, n, registry.CertValid, "198.51.100.1", at.Add(time.Duration(i)*time.Millisecond))
	}
	r.Record(registry.VerifiedByScan, n, registry.CertValid, "198.51.100.2", at)
	r.Record(registry.VerifiedByTyped, n, registry.CertValid, "198.51.100.1", at)
	r.Record(registry.VerifiedByScan, n, registry.CertRevoked, "198.51.100.1", at)
	r.Record(registry.VerifiedByScan, n, registry.CertValid, "198.51.100.1", at.Add(time.Second))
	r.Close()
	if got := listed(t, s, n); len(got) != 5 {
		t.Errorf("%d records written, want 5: %+v", len(got), got)
	}
	if st := r.Stats(); st.Written != 5 || st.Coalesced != 49 || st.Dropped != 0 {
		t.Errorf("stats %+v, want 5 written and 49 coalesced", st)
	}
}

// Record costs the page at most one allocation (the ISSUE's budget); in
// fact none.
func TestRecordAllocations(t *testing.T) {
	r := NewRecorder(recorderStore(t), []byte("k"), RecorderOptions{Buffer: 1 << 16})
	defer r.Close()
	at := time.Now()
	if n := testing.AllocsPerRun(1000, func() {
		r.Record(registry.VerifiedByScan, "372026000000013", registry.CertValid, "198.51.100.1", at)
	}); n > 1 {
		t.Errorf("Record allocates %v times per call", n)
	}
}

// BenchmarkRecord is Record's cost on the request path, the writer running
// behind it (go test -bench Record -benchmem ./verify).
func BenchmarkRecord(b *testing.B) {
	r := NewRecorder(recorderStore(b), []byte("k"), RecorderOptions{})
	defer r.Close()
	at := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Record(registry.VerifiedByScan, "372026000000013", registry.CertValid, "198.51.100.1", at)
		}
	})
	b.ReportMetric(float64(r.Stats().Dropped)/float64(b.N), "dropped/op")
}
