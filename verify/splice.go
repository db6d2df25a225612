package verify

import (
	"hash/maphash"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// An HTML answer shows the server time to the second, so every request for
// a page within one second gets the same bytes. spliced keeps, for the pages
// served lately, those bytes whole: a QR code scanned again and again costs a
// lookup and a write, not putting twenty kilobytes together each time.
//
// A slot is made whole only when its page is asked for a second time in the
// same second, so traffic spread over many certificates allocates no more
// than before (a small marker per page and second, no page copy).
type splicer struct {
	seed  maphash.Seed
	slots [spliceSlots]atomic.Pointer[spliced]
}

// spliceSlots bounds what the splicer holds: at most this many whole pages
// (about 20 KB each).
const spliceSlots = 64

// spliced is one page with one second's time in it. It is never modified
// once stored, so the bytes can be written while another request replaces
// the slot.
type spliced struct {
	src    *byte // the first byte of the cached page it was made from
	size   int   // and that page's length
	second int64 // unix second of the time it shows
	body   []byte
	length []string // the Content-Length header value of body
}

func newSplicer() *splicer { return &splicer{seed: maphash.MakeSeed()} }

// get returns p with now's time in it, whole, or nil when the caller should
// put it together itself (the first request for p in this second).
//
// The cached page is identified by its first byte's address: a cache entry
// is never modified, and a slot pointing into it keeps it from being freed,
// so an equal address and length is the same page. A page replaced in the
// cache (a revocation, a reissue) is a new address and is spliced anew.
func (s *splicer) get(p page, now time.Time) *spliced {
	if len(p.body) == 0 {
		return nil
	}
	src := &p.body[0]
	slot := &s.slots[maphash.Comparable(s.seed, src)%spliceSlots]
	sec := now.Unix()
	old := slot.Load()
	if old != nil && old.src == src && old.size == len(p.body) && old.second == sec {
		if old.body != nil {
			return old
		}
		b := make([]byte, 0, len(p.body)+len(serverTimeLayout))
		b = append(b, p.body[:p.split]...)
		b = appendServerTime(b, HTML, now)
		b = append(b, p.body[p.split:]...)
		whole := &spliced{src: src, size: len(p.body), second: sec, body: b, length: []string{strconv.Itoa(len(b))}}
		slot.CompareAndSwap(old, whole)
		return whole
	}
	slot.Store(&spliced{src: src, size: len(p.body), second: sec})
	return nil
}

// Header values every answer carries, shared between requests: net/http
// and certseal only read a header's values, never write into them.
var (
	noStore         = []string{"no-store"}
	noIndex         = []string{"noindex"}
	contentTypeHTML = []string{HTML.ContentType()}
	contentTypeJSON = []string{JSON.ContentType()}
)

// setAnswerHeaders sets the headers of an answer in format f, but its length.
func setAnswerHeaders(h http.Header, f Format) {
	if f == JSON {
		h["Content-Type"] = contentTypeJSON
	} else {
		h["Content-Type"] = contentTypeHTML
	}
	h["Cache-Control"] = noStore
	h["X-Robots-Tag"] = noIndex
}
