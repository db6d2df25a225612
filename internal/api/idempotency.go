package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/access"
)

const (
	// IdempotencyKeyHeader names the header (draft-ietf-httpapi-idempotency-key-header).
	IdempotencyKeyHeader = "Idempotency-Key"
	// ReplayedHeader marks an answer given again from the store.
	ReplayedHeader = "Idempotent-Replayed"

	maxIdempotencyKeyLen = 200
	// drainLimit is how much of a body the handler left unread is still
	// read to complete the request hash. An answer given without reading
	// a larger rest (a 413, a 404 before the body mattered) is not stored:
	// it is not tied to a known body, and a retry gets a fresh answer.
	drainLimit = 64 << 10
	// maxHashedBody bounds the body hashed to compare a retry with the
	// stored request; routes accept far less (MaxBody).
	maxHashedBody = 1 << 30
	// storeTimeout bounds saving an answer. The save is detached from the
	// client: one who hangs up must still find the answer on retry, or the
	// retry would do the work a second time.
	storeTimeout = 10 * time.Second
)

// storedAnswer is IdempotencyRecord.Body: the answer's body and the headers
// that are part of it.
type storedAnswer struct {
	Header map[string]string `json:"header,omitempty"`
	Body   []byte            `json:"body"`
}

// validIdempotencyKey accepts 1 to 200 printable ASCII characters.
func validIdempotencyKey(k string) bool {
	if k == "" || len(k) > maxIdempotencyKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

func mutating(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// finalStatus reports whether an answer is the final word on a request.
// 5xx and the "try again later" 4xx (408, 425, 429) are not: a retry must
// run the request again rather than be told the same failure forever.
func finalStatus(s int) bool {
	switch s {
	case http.StatusRequestTimeout, http.StatusTooEarly, http.StatusTooManyRequests:
		return false
	}
	return s < 500
}

// Idempotency makes mutating requests that carry an Idempotency-Key happen
// at most once per caller and key: the first runs, and every later request
// with the same key and the same method, path and body gets the same
// status, body and headers again, marked Idempotent-Replayed: true. The
// same key with another request is 409 idempotency_mismatch.
//
// Keys are scoped by API key (Authenticate runs first), or "public".
// Within one process duplicates are serialized, so the handler runs once
// and the others replay. Across replicas, two duplicates arriving at the
// same moment can both run; the store keeps the first answer and both
// callers get it, and the domain's own uniqueness backs this up: one
// valid certificate per appointment, one batch per caller, unit and
// Idempotency-Key (both unique indexes).
//
// The body is not buffered: it is hashed as the handler reads it, so the
// route's own MaxBody, applied inside this middleware, still holds.
func Idempotency(store registry.Store) func(http.Handler) http.Handler {
	locks := &keyedMutex{m: make(map[string]*keyedEntry)}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			vals, present := r.Header[IdempotencyKeyHeader]
			if !mutating(r.Method) || !present {
				next.ServeHTTP(w, r)
				return
			}
			if len(vals) != 1 || !validIdempotencyKey(vals[0]) {
				WriteProblem(w, r, &registry.Error{Code: CodeMalformed, Field: IdempotencyKeyHeader,
					Msg: "must be one value of 1 to 200 printable ASCII characters"})
				return
			}
			key, scope := vals[0], "public"
			if p, ok := PrincipalFrom(r.Context()); ok {
				scope = "key:" + strconv.FormatInt(p.KeyID, 10)
			}
			unlock, err := locks.lock(r.Context(), scope+"\x00"+key)
			if err != nil {
				WriteProblem(w, r, err)
				return
			}
			defer unlock()
			once := idempotentRequest{store: store, scope: scope, key: key}
			once.serve(w, r, next)
		})
	}
}

type idempotentRequest struct {
	store      registry.Store
	scope, key string
}

func (q idempotentRequest) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	rec, err := q.load(r.Context())
	switch {
	case err == nil:
		q.replayIfSame(w, r, rec)
		return
	case !errors.Is(err, registry.ErrNotFound):
		WriteProblem(w, r, err)
		return
	}

	body := newHashingBody(r)
	r.Body = body
	out := &recorder{header: make(http.Header)}
	next.ServeHTTP(out, r)
	if out.status == 0 {
		out.status = http.StatusOK
	}
	if sum, complete := body.finish(); complete && finalStatus(out.status) {
		if stored, ok := q.save(r, out, sum); ok {
			writeStored(w, r, stored)
			return
		}
	}
	out.writeTo(w)
}

func (q idempotentRequest) load(ctx context.Context) (registry.IdempotencyRecord, error) {
	var rec registry.IdempotencyRecord
	err := q.store.View(ctx, func(tx registry.Tx) error {
		var err error
		rec, err = tx.Idempotency(ctx, q.scope, q.key)
		return err
	})
	return rec, err
}

// replayIfSame answers a repeated key: the stored answer when the request
// is the same, 409 when it is another.
func (q idempotentRequest) replayIfSame(w http.ResponseWriter, r *http.Request, rec registry.IdempotencyRecord) {
	h := newRequestHash(r)
	n, err := io.Copy(h, io.LimitReader(r.Body, maxHashedBody+1))
	switch {
	case err != nil:
		WriteProblem(w, r, decodeError(err, maxHashedBody))
	case n > maxHashedBody:
		WriteProblem(w, r, tooLarge(maxHashedBody))
	case !bytes.Equal(h.Sum(nil), rec.RequestHash):
		WriteProblem(w, r, registry.Errf(CodeIdempotencyMismatch,
			"this Idempotency-Key was used with another request; use a new key for a new request"))
	default:
		writeStored(w, r, rec)
	}
}

// save stores the answer. It returns the record to send instead of out
// when another replica stored an answer to the same request first.
func (q idempotentRequest) save(r *http.Request, out *recorder, requestHash []byte) (registry.IdempotencyRecord, bool) {
	ans := storedAnswer{Body: out.body.Bytes()}
	// The headers that are part of the answer; the rest (request id,
	// dates, rate limits) belong to each request itself.
	for _, name := range [...]string{"Content-Type", "Content-Language", "Content-Disposition", "Location"} {
		if v := out.header.Get(name); v != "" {
			if ans.Header == nil {
				ans.Header = make(map[string]string)
			}
			ans.Header[name] = v
		}
	}
	blob, err := json.Marshal(ans)
	if err != nil {
		LoggerFrom(r.Context()).Error("idempotency: cannot encode an answer", "err", err)
		return registry.IdempotencyRecord{}, false
	}
	rec := registry.IdempotencyRecord{Key: q.key, Scope: q.scope, RequestHash: requestHash,
		Status: out.status, Body: blob, CreatedAt: time.Now()}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), storeTimeout)
	defer cancel()
	err = access.KeepAnswer(ctx, q.store, &rec)
	if !errors.Is(err, registry.ErrDuplicate) {
		if err != nil {
			// The work is done and the client gets its answer; only a
			// retry will not find it.
			LoggerFrom(r.Context()).Warn("idempotency: cannot store an answer", "err", err)
		}
		return registry.IdempotencyRecord{}, false
	}
	first, err := q.load(ctx)
	if err != nil || !bytes.Equal(first.RequestHash, requestHash) {
		LoggerFrom(r.Context()).Warn("idempotency: another replica stored a different answer for this key", "err", err)
		return registry.IdempotencyRecord{}, false
	}
	return first, true
}

// writeStored sends a stored answer as it was first sent.
func writeStored(w http.ResponseWriter, r *http.Request, rec registry.IdempotencyRecord) {
	var ans storedAnswer
	if err := json.Unmarshal(rec.Body, &ans); err != nil {
		// Only this package writes these records; an unreadable one is
		// corruption, and replaying garbage would be worse than a 500.
		WriteProblem(w, r, fmt.Errorf("idempotency record %q: %w", rec.Key, err))
		return
	}
	h := w.Header()
	for name, v := range ans.Header {
		h.Set(name, v)
	}
	h.Set(ReplayedHeader, "true")
	h.Set("Content-Length", strconv.Itoa(len(ans.Body)))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(rec.Status)
	w.Write(ans.Body)
}

// newRequestHash starts the request hash: method, path and query, each
// length-prefixed so that no two requests share a preimage; the body
// follows.
func newRequestHash(r *http.Request) hash.Hash {
	h := sha256.New()
	for _, part := range []string{r.Method, r.URL.Path, r.URL.RawQuery} {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write([]byte(part))
	}
	return h
}

// hashingBody hashes the body as the handler reads it.
type hashingBody struct {
	rc  io.ReadCloser
	h   hash.Hash
	eof bool
	err error
}

func newHashingBody(r *http.Request) *hashingBody {
	rc := r.Body
	if rc == nil {
		rc = http.NoBody
	}
	return &hashingBody{rc: rc, h: newRequestHash(r)}
}

func (b *hashingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.h.Write(p[:n])
	switch {
	case err == io.EOF:
		b.eof = true
	case err != nil && b.err == nil:
		b.err = err
	}
	return n, err
}

func (b *hashingBody) Close() error { return b.rc.Close() }

// finish reads what the handler left, up to drainLimit, and returns the
// request hash and whether it covers the whole body.
func (b *hashingBody) finish() ([]byte, bool) {
	if !b.eof && b.err == nil {
		// One byte past the limit: a rest that long is never complete.
		io.Copy(io.Discard, io.LimitReader(b, drainLimit+1))
	}
	return b.h.Sum(nil), b.eof && b.err == nil
}

// recorder holds a handler's answer until it is stored.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (o *recorder) Header() http.Header { return o.header }

func (o *recorder) WriteHeader(status int) {
	if o.status == 0 {
		o.status = status
	}
}

func (o *recorder) Write(p []byte) (int, error) {
	if o.status == 0 {
		o.status = http.StatusOK
	}
	return o.body.Write(p)
}

func (o *recorder) writeTo(w http.ResponseWriter) {
	h := w.Header()
	for name, v := range o.header {
		h[name] = v
	}
	w.WriteHeader(o.status)
	w.Write(o.body.Bytes())
}

// keyedMutex serializes requests with one idempotency key; entries live
// only while someone holds or waits for them, so memory stays bounded by
// the requests in flight.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	token chan struct{} // holds one token while locked
	refs  int
}

// lock waits for key, or for ctx (the client hanging up).
func (k *keyedMutex) lock(ctx context.Context, key string) (func(), error) {
	k.mu.Lock()
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{token: make(chan struct{}, 1)}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()

	release := func() {
		k.mu.Lock()
		if e.refs--; e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
	select {
	case e.token <- struct{}{}:
		return func() { <-e.token; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
