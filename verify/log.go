package verify

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/audit"
)

// Log serves the transparency log from the store: signed checkpoints,
// leaves, and inclusion and consistency proofs. The tree grows with every
// audit event, so nothing here goes into the cached verification pages;
// the checkpoint and recent proofs are kept per tree size instead.
type Log struct {
	store  registry.Store
	signer note.Signer

	mu     sync.Mutex
	head   signedHead                 // the latest checkpoint signed
	proofs map[int64]tlog.RecordProof // leaf -> proof at head.Size
}

type signedHead struct {
	audit.Checkpoint
	note []byte
}

// maxProofs bounds the proofs kept for one tree size.
const maxProofs = 4096

// NewLog serves the log of store, its checkpoints signed by signer (whose
// name is the log's origin).
func NewLog(store registry.Store, signer note.Signer) *Log {
	return &Log{store: store, signer: signer}
}

// ErrLogRange answers a size or index outside the tree.
var ErrLogRange = registry.Errf(registry.CodeInvalid, "outside the log: sizes run from 0 to the current checkpoint's, leaf indexes below the size")

// Checkpoint returns the signed checkpoint of the log as it is now.
func (l *Log) Checkpoint(ctx context.Context) ([]byte, audit.Checkpoint, error) {
	var h signedHead
	err := l.store.View(ctx, func(tx registry.Tx) (err error) {
		h, err = l.headIn(ctx, tx)
		return err
	})
	return h.note, h.Checkpoint, err
}

// headIn is the signed checkpoint of the tree tx sees.
func (l *Log) headIn(ctx context.Context, tx registry.Tx) (signedHead, error) {
	size, err := tx.LogSize(ctx)
	if err != nil {
		return signedHead{}, err
	}
	l.mu.Lock()
	h := l.head
	l.mu.Unlock()
	if h.note != nil && h.Size == size {
		return h, nil
	}
	root, err := tlog.TreeHash(size, audit.HashReader(ctx, tx.LogHashes))
	if err != nil {
		return signedHead{}, fmt.Errorf("log: root of %d leaves: %w", size, err)
	}
	h.Checkpoint = audit.Checkpoint{Origin: l.signer.Name(), Size: size, Root: root}
	if h.note, err = h.Sign(l.signer); err != nil {
		return signedHead{}, err
	}
	l.mu.Lock()
	if size > l.head.Size || l.head.note == nil { // a slower reader of an older tree does not win
		l.head, l.proofs = h, map[int64]tlog.RecordProof{}
	}
	l.mu.Unlock()
	return h, nil
}

// Leaf is one entry of the log: its index and data (the event's hash).
type Leaf struct {
	Index int64  `json:"index"`
	Data  []byte `json:"data"`
}

// Leaves returns leaves [start, end) of the log, at most 1000.
func (l *Log) Leaves(ctx context.Context, start, end int64) ([]Leaf, error) {
	if start < 0 || end < start {
		return nil, ErrLogRange
	}
	end = min(end, start+1000)
	if end == start {
		return nil, nil // the store reads a zero limit as its default page
	}
	var out []Leaf
	err := l.store.View(ctx, func(tx registry.Tx) error {
		evs, err := tx.AuditEvents(ctx, start, int(end-start))
		for _, ev := range evs {
			out = append(out, Leaf{Index: audit.LeafIndex(ev.Seq), Data: ev.Hash})
		}
		return err
	})
	return out, err
}

// Proof is a Merkle proof of leaf Index (inclusion) or of tree OldSize
// (consistency) in the tree of TreeSize leaves.
type Proof struct {
	Index    *int64      `json:"leaf_index,omitempty"`
	OldSize  *int64      `json:"old_size,omitempty"`
	TreeSize int64       `json:"tree_size"`
	Hashes   []tlog.Hash `json:"proof"`
}

// Inclusion proves leaf index in the tree of size leaves (0: the current).
func (l *Log) Inclusion(ctx context.Context, index, size int64) (Proof, error) {
	return l.prove(ctx, size, func(r tlog.HashReader, size int64) (Proof, error) {
		if index < 0 || index >= size {
			return Proof{}, ErrLogRange
		}
		hs, err := tlog.ProveRecord(size, index, r)
		return Proof{Index: &index, TreeSize: size, Hashes: hs}, err
	})
}

// Consistency proves the tree of old leaves a prefix of the one of size
// leaves (0: the current).
func (l *Log) Consistency(ctx context.Context, old, size int64) (Proof, error) {
	return l.prove(ctx, size, func(r tlog.HashReader, size int64) (Proof, error) {
		if old < 0 || old > size {
			return Proof{}, ErrLogRange
		}
		hs, err := tlog.ProveTree(size, old, r)
		return Proof{OldSize: &old, TreeSize: size, Hashes: hs}, err
	})
}

// prove runs fn on the stored tree and a size within it (0: the current).
func (l *Log) prove(ctx context.Context, size int64, fn func(r tlog.HashReader, size int64) (Proof, error)) (Proof, error) {
	var p Proof
	err := l.store.View(ctx, func(tx registry.Tx) error {
		cur, err := tx.LogSize(ctx)
		if err != nil {
			return err
		}
		if size == 0 {
			size = cur
		}
		if size < 0 || size > cur {
			return ErrLogRange
		}
		p, err = fn(audit.HashReader(ctx, tx.LogHashes), size)
		return err
	})
	return p, err
}

// CertificateEntry is a certificate version's place in the log: the event
// that recorded its signing, and the proof that the current checkpoint
// holds it. A verifier hashes the event (registry/audit.Canonical, SHA-256)
// to get the leaf data, and checks the proof against the checkpoint's root
// (tlog.CheckRecord with tlog.RecordHash of the data).
type CertificateEntry struct {
	LeafIndex  int64               `json:"leaf_index"`
	Event      registry.AuditEvent `json:"event"`
	TreeSize   int64               `json:"tree_size"`
	RootHash   tlog.Hash           `json:"root_hash"`
	Checkpoint string              `json:"checkpoint"`
	Proof      []tlog.Hash         `json:"inclusion_proof"`
}

// ErrNoEntry answers a certificate lookup in the log that finds nothing:
// the same for a wrong token and an unknown number, as the pages answer.
var ErrNoEntry = registry.Errf(registry.CodeNotFound, "no such certificate")

// CertificateEntry finds the version of number whose QR token this is and
// proves its signing event in the current tree.
func (l *Log) CertificateEntry(ctx context.Context, number, token string) (CertificateEntry, error) {
	number, err := registry.ParseCertNumber(number)
	if err != nil {
		return CertificateEntry{}, err
	}
	secret := sha256Of(token)
	var e CertificateEntry
	err = l.store.View(ctx, func(tx registry.Tx) error {
		versions, err := tx.ListCertificates(ctx, registry.CertFilter{Number: number, WithoutPersonalData: true})
		if err != nil {
			return err
		}
		version := 0
		for _, v := range versions { // every one, so a wrong token costs the same
			if subtle.ConstantTimeCompare(v.TokenHash, secret[:]) == 1 {
				version = v.Version
			}
		}
		if version == 0 {
			return ErrNoEntry
		}
		ev, err := signingEvent(ctx, tx, number, version)
		if err != nil {
			return err
		}
		h, err := l.headIn(ctx, tx)
		if err != nil {
			return err
		}
		proof, err := l.proof(ctx, tx, h, audit.LeafIndex(ev.Seq))
		e = CertificateEntry{LeafIndex: audit.LeafIndex(ev.Seq), Event: ev, TreeSize: h.Size, RootHash: h.Root,
			Checkpoint: string(h.note), Proof: proof}
		return err
	})
	return e, err
}

// signingEvent is the event that recorded the signing of a version: each
// version is signed once, in the transaction that stores it, and versions
// are numbered 1, 2, … in order, so version n's is the number's n-th.
func signingEvent(ctx context.Context, tx registry.Tx, number string, version int) (registry.AuditEvent, error) {
	evs, err := tx.AuditEventsAbout(ctx, "certificate", number)
	if err != nil {
		return registry.AuditEvent{}, err
	}
	n := 0
	for _, ev := range evs {
		if ev.Action == "certificate.sign" {
			if n++; n == version {
				return ev, nil
			}
		}
	}
	return registry.AuditEvent{}, fmt.Errorf("%w: certificate %s version %d (%d signing events found)", ErrNoSigningEvent, number, version, n)
}

// ErrNoSigningEvent is a certificate version the trail holds no signing
// of: a record made outside certseal's issuing, which the answer about
// the certificate must not hide behind an error.
var ErrNoSigningEvent = errors.New("log: no signing event")

// proof is the inclusion proof of leaf in h's tree, kept while h is the
// latest head.
func (l *Log) proof(ctx context.Context, tx registry.Tx, h signedHead, leaf int64) (tlog.RecordProof, error) {
	l.mu.Lock()
	p, ok := l.proofs[leaf]
	current := l.head.Size == h.Size
	l.mu.Unlock()
	if ok && current {
		return p, nil
	}
	p, err := tlog.ProveRecord(h.Size, leaf, audit.HashReader(ctx, tx.LogHashes))
	if err != nil {
		return nil, fmt.Errorf("log: prove leaf %d in %d: %w", leaf, h.Size, err)
	}
	l.mu.Lock()
	if l.head.Size == h.Size && len(l.proofs) < maxProofs {
		l.proofs[leaf] = p
	}
	l.mu.Unlock()
	return p, nil
}

// WithMember adds a member to a JSON answer (the log entry of the version
// it is about); other formats are left as they are.
func (r Response) WithMember(name string, value any) (Response, error) {
	if r.format != JSON {
		return r, nil
	}
	k, err := json.Marshal(name)
	if err != nil {
		return r, err
	}
	v, err := json.Marshal(value)
	if err != nil {
		return r, err
	}
	extra := append(slices.Clip(r.extra), ',')
	extra = append(append(append(extra, k...), ':'), v...)
	r.extra = extra
	return r, nil
}

// appendBody appends the rest of the page after the server time, with the
// added members before the object's closing brace.
func (r Response) appendBody(b []byte) []byte {
	rest := r.page.body[r.page.split:]
	if len(r.extra) == 0 {
		return append(b, rest...)
	}
	end := bytes.LastIndexByte(rest, '}')
	b = append(b, rest[:end]...)
	b = append(b, r.extra...)
	return append(b, rest[end:]...)
}
