package audit

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/certseal/certseal/registry"
)

// The transparency log is a Merkle tree (RFC 6962) over the audit trail:
// leaf i is event i+1, and its data is the event's hash. The hash, not the
// event, so the public log names no certificate number, actor or request
// (numbers must not be enumerable, DESIGN.md §7), yet whoever holds an
// event (the verify JSON of a certificate, an exported archive) proves it
// is in the log.

// LeafIndex is the log position of the event with sequence number seq.
func LeafIndex(seq int64) int64 { return seq - 1 }

// LeafData is what the log holds for ev: the hash of its canonical form,
// recomputed, so an event altered in the store no longer gives its leaf.
func LeafData(ev *registry.AuditEvent) []byte {
	h := sha256.Sum256(Canonical(ev))
	return h[:]
}

// LeafHash is the RFC 6962 leaf hash of ev.
func LeafHash(ev *registry.AuditEvent) tlog.Hash { return tlog.RecordHash(LeafData(ev)) }

// LogHashes reads stored tree hashes by their tlog stored-hash index
// (registry.Tx.LogHashes has this shape).
type LogHashes func(ctx context.Context, indexes []int64) ([][]byte, error)

// HashReader adapts stored hashes to tlog.
func HashReader(ctx context.Context, read LogHashes) tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		raw, err := read(ctx, idx)
		if err != nil {
			return nil, err
		}
		if len(raw) != len(idx) {
			return nil, fmt.Errorf("log: asked for %d stored hashes, got %d", len(idx), len(raw))
		}
		out := make([]tlog.Hash, len(raw))
		for i, b := range raw {
			if len(b) != tlog.HashSize {
				return nil, fmt.Errorf("log: stored hash %d has %d bytes", idx[i], len(b))
			}
			out[i] = tlog.Hash(b)
		}
		return out, nil
	})
}

// MemoryHashes is a tree kept in memory: the stored hashes in index order.
// Backfills and verification rebuild trees this way.
type MemoryHashes []tlog.Hash

func (m MemoryHashes) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x < 0 || x >= int64(len(m)) {
			return nil, fmt.Errorf("log: stored hash %d is not in a tree of %d hashes", x, len(m))
		}
		out[i] = m[x]
	}
	return out, nil
}

// Append adds leaf n with data to a tree kept in memory.
func (m *MemoryHashes) Append(n int64, data []byte) error {
	hs, err := tlog.StoredHashes(n, data, *m)
	if err != nil {
		return err
	}
	*m = append(*m, hs...)
	return nil
}

// Checkpoint is a tree head in the C2SP tlog-checkpoint form: the log's
// origin, its size and its root hash.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
}

// Text is the checkpoint body that is signed.
func (c Checkpoint) Text() string {
	return fmt.Sprintf("%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root[:]))
}

// Sign returns the signed checkpoint note.
func (c Checkpoint) Sign(s note.Signer) ([]byte, error) {
	if s.Name() != c.Origin {
		return nil, fmt.Errorf("log: key %q cannot sign checkpoints of origin %q", s.Name(), c.Origin)
	}
	return note.Sign(&note.Note{Text: c.Text()}, s)
}

// OpenCheckpoint checks a signed checkpoint with the log's key and parses
// it. Checkpoints are outside input (an auditor's file, a fetched page).
func OpenCheckpoint(msg []byte, v note.Verifier) (Checkpoint, error) {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint: %w", err)
	}
	return ParseCheckpoint(n.Text, v.Name())
}

// ParseCheckpoint reads a checkpoint body of the given origin. Extension
// lines after the root are allowed, as C2SP says, and ignored.
func ParseCheckpoint(text, origin string) (Checkpoint, error) {
	lines := strings.SplitN(text, "\n", 4)
	if len(lines) < 4 {
		return Checkpoint{}, errors.New("checkpoint: want origin, size and root hash lines")
	}
	if lines[0] != origin {
		return Checkpoint{}, fmt.Errorf("checkpoint: origin %q is not this log's (%q)", lines[0], origin)
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || lines[1] != strconv.FormatInt(size, 10) {
		return Checkpoint{}, fmt.Errorf("checkpoint: tree size %q is not a number", lines[1])
	}
	root, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(root) != tlog.HashSize {
		return Checkpoint{}, errors.New("checkpoint: root hash is not 32 bytes of base64")
	}
	return Checkpoint{Origin: origin, Size: size, Root: tlog.Hash(root)}, nil
}

// LeafError names the first leaf of a log copy that is not what the tree
// (or an earlier checkpoint) holds.
type LeafError struct {
	Index  int64 // leaf index; the event is Index+1
	Reason string
}

func (e *LeafError) Error() string {
	return fmt.Sprintf("log leaf %d (audit event %d) is bad: %s", e.Index, e.Index+1, e.Reason)
}

// LogReport is what VerifyLog found in an intact log.
type LogReport struct {
	Size int64
	Root tlog.Hash
}

// VerifyLog rebuilds the tree from the events themselves and checks, leaf
// by leaf, that it is the stored tree, and that its first old.Size leaves
// hash to old's root (zero old: no earlier checkpoint). fetch pages the
// events; read gives the stored hashes. The first leaf that does not hold
// is named: an event altered or missing in the store, or a stored leaf
// hash altered. A log rewritten wholesale before old.Size (every event,
// link and stored hash made anew) is caught by the root but cannot be
// pinned to one leaf: the earlier checkpoint holds only the root.
func VerifyLog(ctx context.Context, fetch Fetch, read LogHashes, old Checkpoint, progress func(n int64)) (LogReport, error) {
	const page = 1000
	stored := HashReader(ctx, read)
	var mem MemoryHashes
	var chain Verifier // the links name an event altered with its hash remade
	var n int64        // leaves verified
	for {
		evs, err := fetch(ctx, n, page)
		if err != nil {
			return LogReport{}, fmt.Errorf("log: read events after %d: %w", n, err)
		}
		idx := make([]int64, len(evs))
		for i := range evs {
			idx[i] = tlog.StoredHashIndex(0, n+int64(i))
		}
		var leaves []tlog.Hash
		if len(evs) > 0 {
			if leaves, err = stored.ReadHashes(idx); err != nil {
				return LogReport{}, &LeafError{Index: n, Reason: fmt.Sprintf("its stored leaf hash cannot be read: %v", err)}
			}
		}
		for i := range evs {
			ev := &evs[i]
			if ev.Seq != n+1 {
				return LogReport{}, &LeafError{Index: n, Reason: fmt.Sprintf("its event is missing (the next stored event is %d)", ev.Seq)}
			}
			if err := chain.Next(*ev); err != nil {
				var b *BreakError
				if errors.As(err, &b) {
					return LogReport{}, &LeafError{Index: LeafIndex(b.Seq), Reason: b.Reason}
				}
				return LogReport{}, err
			}
			data := LeafData(ev)
			if tlog.RecordHash(data) != leaves[i] {
				return LogReport{}, &LeafError{Index: n, Reason: fmt.Sprintf("event %s %s %s does not hash to the leaf the log holds (the event or its leaf was altered)", ev.Action, ev.SubjectType, ev.SubjectID)}
			}
			if err := mem.Append(n, data); err != nil {
				return LogReport{}, err
			}
			n++
			if n == old.Size {
				if err := checkRoot(mem, old); err != nil {
					return LogReport{}, err
				}
			}
		}
		if progress != nil {
			progress(n)
		}
		if len(evs) < page {
			break
		}
	}
	if n < old.Size {
		return LogReport{}, &LeafError{Index: n, Reason: fmt.Sprintf("the log ends at %d leaves, before the checkpoint's %d (leaves were removed)", n, old.Size)}
	}
	if err := sameStored(stored, mem); err != nil {
		return LogReport{}, err
	}
	root, err := tlog.TreeHash(n, mem)
	if err != nil {
		return LogReport{}, err
	}
	return LogReport{Size: n, Root: root}, nil
}

// sameStored checks every stored hash above the leaves against the tree
// rebuilt from the events: proofs are served from the stored ones.
func sameStored(stored tlog.HashReader, mem MemoryHashes) error {
	const page = 1000
	for first := int64(0); first < int64(len(mem)); first += page {
		idx := make([]int64, 0, page)
		for i := first; i < min(first+page, int64(len(mem))); i++ {
			idx = append(idx, i)
		}
		got, err := stored.ReadHashes(idx)
		if err != nil {
			return fmt.Errorf("log: read stored hashes from %d: %w", first, err)
		}
		for i, h := range got {
			if h != mem[idx[i]] {
				level, n := tlog.SplitStoredHashIndex(idx[i])
				return fmt.Errorf("log: the stored tree hash at level %d, node %d (over leaves %d to %d) was altered: proofs served from it would be wrong",
					level, n, n<<level, (n+1)<<level-1)
			}
		}
	}
	return nil
}

func checkRoot(mem MemoryHashes, old Checkpoint) error {
	root, err := tlog.TreeHash(old.Size, mem)
	if err != nil {
		return err
	}
	if root != old.Root {
		// Only the root is known of the old tree, so nothing narrower than
		// its whole range can be named: the report starts at its first leaf.
		return &LeafError{Index: 0, Reason: "the first leaves no longer hash to the earlier checkpoint's root: the log was rewritten wholesale up to its size (every event and stored hash made anew), so no single leaf differs from the store; compare with a copy taken at that checkpoint"}
	}
	return nil
}

// FetchLeaves returns the leaf data of leaves start, start+1, … of a log
// served elsewhere (a page of them; none past its end).
type FetchLeaves func(ctx context.Context, start int64) ([][]byte, error)

// CheckLeaves rebuilds a log from its served leaves and checks they make
// the tree of cur (the checkpoint served now) and, if old is set, of old
// (one kept earlier): what an auditor without the database can check.
func CheckLeaves(ctx context.Context, fetch FetchLeaves, cur, old Checkpoint) error {
	if old.Size > cur.Size {
		return &LeafError{Index: cur.Size, Reason: fmt.Sprintf("the checkpoint served now has %d leaves, fewer than the %d of the one kept (leaves were removed)", cur.Size, old.Size)}
	}
	var mem MemoryHashes
	for n := int64(0); n < cur.Size; {
		page, err := fetch(ctx, n)
		if err != nil {
			return fmt.Errorf("log: fetch leaves from %d: %w", n, err)
		}
		if len(page) == 0 {
			return &LeafError{Index: n, Reason: fmt.Sprintf("the log serves %d leaves, its checkpoint says %d", n, cur.Size)}
		}
		for _, data := range page[:min(int64(len(page)), cur.Size-n)] {
			if err := mem.Append(n, data); err != nil {
				return err
			}
			n++
			if n == old.Size {
				if err := checkRoot(mem, old); err != nil {
					return err
				}
			}
		}
	}
	root, err := tlog.TreeHash(cur.Size, mem)
	if err != nil {
		return err
	}
	if root != cur.Root {
		return fmt.Errorf("log: the %d leaves served do not hash to the root of the checkpoint served with them", cur.Size)
	}
	return nil
}
