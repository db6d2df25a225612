// Package audit owns the canonical encoding of audit events, the hash chain
// that links them, and its verification. Stores call Seal when they append;
// `certseal audit verify` calls Verifier over the whole trail.
package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
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

// Head is the last event of a trail: its position and hash. The chain
// proves nothing about events after the last one it holds, so a removed
// newest event leaves an intact chain; a head recorded apart (printed by
// audit verify, kept by the operator) is what shows it later.
type Head struct {
	Seq  int64
	Hash []byte
}

func (h Head) String() string { return fmt.Sprintf("%d:%x", h.Seq, h.Hash) }

// ParseHead reads a Head as String writes it.
func ParseHead(s string) (Head, error) {
	seq, hexHash, ok := strings.Cut(s, ":")
	n, err := strconv.ParseInt(seq, 10, 64)
	if !ok || err != nil || n <= 0 {
		return Head{}, fmt.Errorf("audit head %q: want SEQ:HASH as audit verify prints it", s)
	}
	h, err := hex.DecodeString(hexHash)
	if err != nil || len(h) != sha256.Size {
		return Head{}, fmt.Errorf("audit head %q: the hash is not 64 hex digits", s)
	}
	return Head{Seq: n, Hash: h}, nil
}

// Verifier checks events in order, and that the event at Recorded.Seq (if
// any) is the one recorded.
type Verifier struct {
	Recorded Head
	seq      int64
	hash     []byte
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
	if ev.Seq == v.Recorded.Seq && !bytes.Equal(ev.Hash, v.Recorded.Hash) {
		return &BreakError{Seq: ev.Seq, Reason: "it is not the event recorded as the head (the trail was rewritten from here)"}
	}
	v.seq, v.hash = ev.Seq, ev.Hash
	return nil
}

// end checks the trail's end against the recorded head.
func (v *Verifier) end() error {
	if v.seq < v.Recorded.Seq {
		return &BreakError{Seq: v.seq + 1, Reason: fmt.Sprintf("the trail ends at event %d, before the recorded head %d (events were removed)", v.seq, v.Recorded.Seq)}
	}
	return nil
}

// Fetch returns up to limit events with Seq > after, in order.
type Fetch func(ctx context.Context, after int64, limit int) ([]registry.AuditEvent, error)

// Walk verifies the whole trail page by page, and against a head recorded
// earlier (zero: none), and returns its head. progress, if not nil, is
// called after each page with the number of events verified.
func Walk(ctx context.Context, fetch Fetch, progress func(n int64), recorded Head) (Head, error) {
	const page = 1000
	v := Verifier{Recorded: recorded}
	for {
		evs, err := fetch(ctx, v.seq, page)
		if err != nil {
			return Head{v.seq, v.hash}, fmt.Errorf("audit: read events after %d: %w", v.seq, err)
		}
		for _, ev := range evs {
			if err := v.Next(ev); err != nil {
				return Head{v.seq, v.hash}, err
			}
		}
		if progress != nil {
			progress(v.seq)
		}
		if len(evs) < page {
			return Head{v.seq, v.hash}, v.end()
		}
	}
}

// Event is the audit event of a transition the caller made at at, on the
// subject (subjectType, id), with the digest of payload.
func Event(c registry.Caller, at time.Time, action, subjectType string, id, payload any) *registry.AuditEvent {
	return &registry.AuditEvent{At: at, Actor: c.Actor, Action: action, SubjectType: subjectType, SubjectID: fmt.Sprint(id),
		RequestID: c.RequestID, PayloadDigest: Digest(payload)}
}
