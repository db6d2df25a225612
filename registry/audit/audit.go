// Package audit owns the canonical encoding of audit events, the hash chain
// that links them, and its verification. Stores call Seal when they append;
// `certseal audit verify` calls Verifier over the whole trail.
package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/certseal/certseal/registry"
)

// Precision is what stores keep of an event's time; hashing uses the same,
// so a stored event re-hashes to the same value.
const Precision = time.Microsecond

// Digest is the SHA-256 of the JSON form of payload. Only the digest is
// kept in the trail, so the trail holds no personal data yet proves what
// the payload was.
func Digest(payload any) []byte {
	b, err := json.Marshal(payload)
	if err != nil {
		// Payloads are our own structs; a failure is a programming error.
		panic(fmt.Sprintf("audit: payload cannot be encoded: %v", err))
	}
	d := sha256.Sum256(b)
	return d[:]
}

// Canonical is the byte string that is hashed: every field, length-prefixed,
// in a fixed order, so no two different events encode alike.
func Canonical(ev *registry.AuditEvent) []byte {
	var b bytes.Buffer
	num := func(v int64) {
		var x [8]byte
		binary.BigEndian.PutUint64(x[:], uint64(v))
		b.Write(x[:])
	}
	field := func(p []byte) {
		num(int64(len(p)))
		b.Write(p)
	}
	b.WriteString("certseal-audit-v1")
	num(ev.Seq)
	num(ev.At.UTC().Truncate(Precision).UnixMicro())
	field([]byte(ev.Actor))
	field([]byte(ev.Action))
	field([]byte(ev.SubjectType))
	field([]byte(ev.SubjectID))
	field([]byte(ev.RequestID))
	field(ev.PayloadDigest)
	field(ev.PrevHash)
	return b.Bytes()
}

// Link sets ev's position after prev (nil for the first event) and its hash.
func Link(ev *registry.AuditEvent, prevSeq int64, prevHash []byte) {
	ev.Seq = prevSeq + 1
	ev.At = ev.At.UTC().Truncate(Precision)
	ev.PrevHash = append([]byte(nil), prevHash...)
	h := sha256.Sum256(Canonical(ev))
	ev.Hash = h[:]
}

// BreakError names the first event at which the chain is broken.
type BreakError struct {
	Seq    int64 // the first event that does not verify (or that is missing)
	Reason string
}

func (e *BreakError) Error() string {
	return fmt.Sprintf("audit chain broken at event %d: %s", e.Seq, e.Reason)
}

// Verifier checks events in order.
type Verifier struct {
	seq  int64
	hash []byte
}

// Next checks the next event of the trail.
func (v *Verifier) Next(ev registry.AuditEvent) error {
	if ev.Seq != v.seq+1 {
		return &BreakError{Seq: v.seq + 1, Reason: fmt.Sprintf("event is missing (next stored event is %d)", ev.Seq)}
	}
	if !bytes.Equal(ev.PrevHash, v.hash) {
		return &BreakError{Seq: ev.Seq, Reason: "its link to the previous event does not match (the previous event was altered or removed)"}
	}
	h := sha256.Sum256(Canonical(&ev))
	if !bytes.Equal(h[:], ev.Hash) {
		return &BreakError{Seq: ev.Seq, Reason: "its content does not match its hash (the event was altered)"}
	}
	v.seq, v.hash = ev.Seq, ev.Hash
	return nil
}

// Fetch returns up to limit events with Seq > after, in order.
type Fetch func(ctx context.Context, after int64, limit int) ([]registry.AuditEvent, error)

// Walk verifies the whole trail page by page and returns how many events
// verified. progress, if not nil, is called after each page.
func Walk(ctx context.Context, fetch Fetch, progress func(n int64)) (int64, error) {
	const page = 1000
	var v Verifier
	for {
		evs, err := fetch(ctx, v.seq, page)
		if err != nil {
			return v.seq, fmt.Errorf("audit: read events after %d: %w", v.seq, err)
		}
		for _, ev := range evs {
			if err := v.Next(ev); err != nil {
				return v.seq, err
			}
		}
		if progress != nil {
			progress(v.seq)
		}
		if len(evs) < page {
			return v.seq, nil
		}
	}
}
