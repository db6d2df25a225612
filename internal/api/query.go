package api

import (
	"net/url"
	"strings"
)

// queryValue is url.ParseQuery(raw).Get(key), without building the map
// (three allocations on every verification page). A query with anything
// to decode (%, +) or to refuse (;) takes url.ParseQuery itself; in any
// other the pairs are the bytes between '&' as they stand.
func queryValue(raw, key string) string {
	if strings.ContainsAny(raw, "%+;") {
		q, _ := url.ParseQuery(raw) // an error leaves the pairs it could read, as r.URL.Query() does
		return q.Get(key)
	}
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if k, v, _ := strings.Cut(pair, "="); k == key {
			return v
		}
	}
	return ""
}
