package verify_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certseal/certseal/verify"
	"github.com/certseal/certseal/verify/memcache"
)

// The Cache contract itself is tested by verify/cachetest, run by each
// backend; these are the wrapper's own cases.

func newCached(opts verify.CachedOptions) *verify.Cached {
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return verify.NewCached(memcache.New(memcache.Options{}), opts)
}

func TestCachedLoaderPanicIsAnError(t *testing.T) {
	cc := newCached(verify.CachedOptions{})
	_, err := cc.Get(t.Context(), "k", func(context.Context, string) ([]byte, time.Duration, error) {
		panic("bad row")
	})
	if err == nil || !strings.Contains(err.Error(), "bad row") {
		t.Fatalf("err = %v; want the panic as an error", err)
	}
	v, err := cc.Get(t.Context(), "k", func(context.Context, string) ([]byte, time.Duration, error) {
		return []byte("ok"), time.Hour, nil
	})
	if err != nil || string(v) != "ok" {
		t.Fatalf("after a panic: %q, %v", v, err)
	}
}

func TestCachedNonPositiveTTLNotCached(t *testing.T) {
	cc := newCached(verify.CachedOptions{})
	var calls atomic.Int32
	load := func(context.Context, string) ([]byte, time.Duration, error) {
		calls.Add(1)
		return []byte("x"), 0, nil
	}
	for range 2 {
		if v, err := cc.Get(t.Context(), "k", load); err != nil || string(v) != "x" {
			t.Fatalf("Get = %q, %v", v, err)
		}
	}
	if calls.Load() != 2 {
		t.Fatalf("loader called %d times; want 2", calls.Load())
	}
}

// The caller that started a load hangs up: the others waiting for it still
// get the answer, and the load is not cancelled under them.
func TestCachedCallerLeavingDoesNotFailOthers(t *testing.T) {
	cc := newCached(verify.CachedOptions{})
	started, proceed := make(chan struct{}), make(chan struct{})
	load := func(ctx context.Context, _ string) ([]byte, time.Duration, error) {
		close(started)
		<-proceed
		if err := ctx.Err(); err != nil {
			return nil, 0, err
		}
		return []byte("answer"), time.Hour, nil
	}
	ctx1, cancel1 := context.WithCancel(t.Context())
	first := make(chan error, 1)
	go func() {
		_, err := cc.Get(ctx1, "k", load)
		first <- err
	}()
	<-started
	second := make(chan string, 1)
	go func() {
		v, err := cc.Get(t.Context(), "k", load)
		if err != nil {
			v = []byte(err.Error())
		}
		second <- string(v)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for cc.Stats().Waiting != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the second caller never joined the load")
		}
		time.Sleep(time.Millisecond)
	}
	cancel1()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("first caller: %v; want context.Canceled", err)
	}
	close(proceed)
	if v := <-second; v != "answer" {
		t.Fatalf("second caller got %q; want answer", v)
	}
}

func TestCachedLoadTimeout(t *testing.T) {
	cc := newCached(verify.CachedOptions{LoadTimeout: 20 * time.Millisecond})
	_, err := cc.Get(t.Context(), "k", func(ctx context.Context, _ string) ([]byte, time.Duration, error) {
		<-ctx.Done()
		return nil, 0, ctx.Err()
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v; want the load's deadline", err)
	}
	if s := cc.Stats(); s.LoadErrors != 1 || s.CacheErrors != 0 {
		t.Fatalf("stats %+v; want 1 load error, no cache error", s)
	}
}
