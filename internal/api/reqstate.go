package api

import (
	"context"
	"encoding/base64"
	"math/rand/v2"
	"net/http"
)

// reqState is what RequestID gives one request, in one allocation: the
// record inner layers fill in for the access log (with the request id),
// the status writer that Recoverer, Metrics and AccessLog share, and the
// context that carries the record. A verification page is answered in about a
// microsecond, and each of these was an allocation or two of its own.
type reqState struct {
	context.Context // the request's context before RequestID
	info            requestInfo
	idHeader        [1]string // X-Request-ID's value, in place
	w               statusWriter
}

// Value answers the record; everything else is the parent's.
func (s *reqState) Value(key any) any {
	if key == infoKey {
		return &s.info
	}
	return s.Context.Value(key)
}

// newRequestID is 96 random bits: unique enough to find one request among
// all replicas' logs. They come from math/rand/v2's per-thread ChaCha8,
// seeded from the system: ids are not secrets (a caller may send its own),
// and crypto/rand cost a system call per request.
func newRequestID() string {
	var b [12]byte
	x, y := rand.Uint64(), rand.Uint32()
	for i := range 8 {
		b[i] = byte(x >> (8 * i))
	}
	for i := range 4 {
		b[8+i] = byte(y >> (8 * i))
	}
	var out [16]byte
	base64.RawURLEncoding.Encode(out[:], b[:])
	return string(out[:])
}

// statusWriter notes the status and the size of an answer. Unlike chi's
// middleware.WrapResponseWriter, one is shared by every layer that needs
// it (see wrapWriter).
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

// wrapWriter returns w as a statusWriter: w itself if an outer layer
// already wrapped it, else a new one.
func wrapWriter(w http.ResponseWriter) *statusWriter {
	if sw, ok := w.(*statusWriter); ok {
		return sw
	}
	return &statusWriter{ResponseWriter: w}
}

// WriteHeader passes informational answers on without noting them, and
// only the first final status (a second one is a handler's bug that
// net/http would only log about).
func (w *statusWriter) WriteHeader(code int) {
	if code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if w.status == 0 {
		w.status = code
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// Status is the status sent, 0 before any.
func (w *statusWriter) Status() int { return w.status }

// BytesWritten is how much of the body was written.
func (w *statusWriter) BytesWritten() int { return w.bytes }

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush keeps a handler's flush possible through the wrapper (it counts
// as the start of the answer, as a write does).
func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
