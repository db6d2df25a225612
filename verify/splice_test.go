package verify

import (
	"context"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A page asked for again within its second is written whole from the
// splicer: the same bytes as put together, the next second's time after
// the clock moves, and a change of the certificate at once.
func TestSplicedPagesFollowTheCacheAndTheClock(t *testing.T) {
	f := newSvcFixture(t)
	ctx := context.Background()
	get := func() (string, string, bool) {
		t.Helper()
		r, err := f.svc.ByToken(ctx, number, f.token, HTML)
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		r.WriteTo(w)
		if w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
		sp := r.splice.get(r.page, r.now)
		return w.Body.String(), w.Header().Get("Content-Length"), sp != nil
	}

	first, length, _ := get()
	again, againLength, spliced := get()
	if !spliced {
		t.Fatal("a page asked for three times in one second is not kept whole")
	}
	if again != first || againLength != length || length != strconv.Itoa(len(first)) {
		t.Fatalf("the whole page differs from the one put together (Content-Length %s, %s; %d bytes)", length, againLength, len(first))
	}
	if !strings.Contains(first, "2026-06-01 12:00:00") {
		t.Fatal("no server time on the page")
	}

	f.now = f.now.Add(time.Second)
	next, _, _ := get()
	if next2, _, _ := get(); next2 != next || !strings.Contains(next, "2026-06-01 12:00:01") || strings.Contains(next, "12:00:00") {
		t.Fatal("the next second's page shows the old time")
	}

	// Revoked within the same second: the new page at once.
	f.revokeForgery(t)
	for range 3 {
		if page, _, _ := get(); !strings.Contains(page, "已撤销") {
			t.Fatal("a revoked certificate's page is served from before the revocation")
		}
	}
}
