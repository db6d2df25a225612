package api

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/certseal/certseal/verify"
)

// varyAccept is the Vary header's usual value. Its length is its capacity,
// so an Add to it copies it.
var varyAccept = []string{"Accept"}

// answerFormat decides, once per request, whether a public route answers r
// with its page or with JSON; its answer and its problems alike then come
// in that format, so a client never gets a page on success and
// problem+json on failure. The format is the one the Accept header prefers
// by q-value among those it names (text/html or application/xhtml+xml for
// the page, application/json or application/problem+json for JSON); def
// when it names neither (no Accept, curl's */*, image/*), or the other one
// when it refuses def with q=0. Equal preference goes to JSON: browsers
// never name it, and a program naming both wants it. It adds Vary: Accept,
// for caches.
func answerFormat(w http.ResponseWriter, r *http.Request, def verify.Format) verify.Format {
	if h := w.Header(); h["Vary"] == nil {
		h["Vary"] = varyAccept // shared: Add would allocate a slice per request
	} else {
		h.Add("Vary", "Accept")
	}
	html, json := -1.0, -1.0 // -1: not named
	for _, v := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(v, ",") {
			switch media, q := mediaRange(part); media {
			case "text/html", "application/xhtml+xml":
				html = max(html, q)
			case "application/json", "application/problem+json":
				json = max(json, q)
			}
		}
	}
	switch {
	case json > 0 && json >= html:
		return verify.JSON
	case html > 0:
		return verify.HTML
	case def == verify.JSON && json == 0:
		return verify.HTML
	case def == verify.HTML && html == 0:
		return verify.JSON
	}
	return def
}

// mediaRange reads one element of an Accept header: the media range in
// lower case and its q-value (1 when absent or unreadable).
func mediaRange(s string) (media string, q float64) {
	media, params, _ := strings.Cut(s, ";")
	q = 1
	for p := range strings.SplitSeq(params, ";") {
		k, v, _ := strings.Cut(p, "=")
		if strings.EqualFold(strings.TrimSpace(k), "q") {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				q = min(max(f, 0), 1)
			}
		}
	}
	return strings.ToLower(strings.TrimSpace(media)), q
}
