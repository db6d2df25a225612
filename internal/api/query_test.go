package api

import (
	"net/url"
	"testing"
)

func TestQueryValue(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"k=QcarjoyRMw_zv8rb9X43ew", "QcarjoyRMw_zv8rb9X43ew"},
		{"a=1&k=tok&k=second", "tok"},
		{"k", ""},
		{"kk=1&k=2", "2"},
		{"", ""},
		{"&&k=x", "x"},
		{"k=a%2Bb", "a+b"},
		{"k=a+b", "a b"},
		{"%6B=escaped", "escaped"},
		{"x=1;k=2&k=3", "3"},
		{"k=%zz&k=ok", "ok"},
	}
	for _, tc := range tests {
		if got := queryValue(tc.raw, "k"); got != tc.want {
			t.Errorf("queryValue(%q) = %q, want %q", tc.raw, got, tc.want)
		}
	}
}

// FuzzQueryValue holds queryValue to what r.URL.Query().Get gives.
func FuzzQueryValue(f *testing.F) {
	for _, s := range []string{"k=abc", "a=1&k=2", "k=%41", "k=a+b;c", "=&k&k=", "%zz=1&k=q"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, _ := url.ParseQuery(raw)
		if got, want := queryValue(raw, "k"), q.Get("k"); got != want {
			t.Fatalf("queryValue(%q) = %q, url.ParseQuery says %q", raw, got, want)
		}
	})
}
