// Package logbuf batches log output: at thousands of requests a second, one
// write(2) per access-log line costs the verification page a fifth of its
// throughput. Lines reach the underlying writer at most a short interval
// after they were logged, at once when the buffer fills, and at once for a
// warning or an error (Handler); Close writes what is left.
package logbuf

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Writer is a buffered io.Writer that flushes itself after an interval. It is
// safe for concurrent use; each Write is kept whole.
type Writer struct {
	mu     sync.Mutex
	out    io.Writer
	buf    *bufio.Writer
	every  time.Duration
	timer  *time.Timer // pending flush, nil when the buffer is empty
	closed bool
}

// New buffers w, flushing at most every after a write.
func New(w io.Writer, every time.Duration) *Writer {
	return &Writer{out: w, buf: bufio.NewWriterSize(w, 64<<10), every: every}
}

// Write buffers p. After Close it writes through.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf.Available() < len(p) {
		// Keep a line whole: flush first rather than let bufio split it.
		if err := w.flushLocked(nil); err != nil {
			return 0, err
		}
	}
	n, err := w.buf.Write(p)
	if err != nil {
		w.buf.Reset(w.out) // see flushLocked
	}
	if err != nil || w.closed {
		return n, w.flushLocked(err)
	}
	if w.timer == nil && w.buf.Buffered() > 0 {
		w.timer = time.AfterFunc(w.every, func() { w.Flush() })
	}
	return n, nil
}

// Flush writes what is buffered.
func (w *Writer) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked(nil)
}

func (w *Writer) flushLocked(err error) error {
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	if ferr := w.buf.Flush(); ferr != nil {
		// bufio keeps its first error for ever: drop what could not be
		// written (a full disk, say) so that later lines still go out.
		w.buf.Reset(w.out)
		if err == nil {
			err = ferr
		}
	}
	return err
}

// Close flushes, and makes later writes go straight through.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	return w.flushLocked(nil)
}

// Handler flushes w after every record at level or above, so warnings and
// errors are never held back.
func Handler(h slog.Handler, w *Writer, level slog.Level) slog.Handler {
	return flushing{h, w, level}
}

type flushing struct {
	slog.Handler
	w     *Writer
	level slog.Level
}

func (f flushing) Handle(ctx context.Context, r slog.Record) error {
	err := f.Handler.Handle(ctx, r)
	if r.Level >= f.level {
		if ferr := f.w.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (f flushing) WithAttrs(as []slog.Attr) slog.Handler {
	return flushing{f.Handler.WithAttrs(as), f.w, f.level}
}

func (f flushing) WithGroup(name string) slog.Handler {
	return flushing{f.Handler.WithGroup(name), f.w, f.level}
}
