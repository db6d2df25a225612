package e2e

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The operator's key commands against a running server: a key made with an
// expiry is listed with it, works until revoked, and is refused by the
// server from the next request on; it stays listed, and nothing shows a
// secret.
func TestAPIKeyCommands(t *testing.T) {
	s := StartServer(t, t.TempDir())
	day := time.Now().In(time.FixedZone("CST", 8*3600)).AddDate(0, 0, 2).Format("2006-01-02")
	key := apiKey(t, s, "--role", "platform", "--name", "nightly export", "--expires", day)
	status := func() int {
		req, _ := http.NewRequest("GET", s.URL+"/api/v1/api-keys", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status(); got != 200 {
		t.Fatalf("a new key: %d", got)
	}
	list := CLI(t, s.Env, "apikey", "list")
	row := regexp.MustCompile(`(?m)^(\d+)\s+platform\s+-\s+nightly export\s+\S+ \S+\s+operator\s+(\S+ \S+)\s+(\S+ \S+)\s+active$`).FindStringSubmatch(list)
	if row == nil || row[3] != day+" 00:00" || row[2] == "-" {
		t.Fatalf("apikey list, want the key active with its last use and its expiry from the start of %s:\n%s", day, list)
	}
	if strings.Contains(list, key) || strings.Contains(list, "cs_") {
		t.Errorf("apikey list shows a secret:\n%s", list)
	}
	CLI(t, s.Env, "apikey", "revoke", row[1])
	if got := status(); got != http.StatusUnauthorized {
		t.Errorf("the revoked key at the next request: %d", got)
	}
	if list := CLI(t, s.Env, "apikey", "list"); !regexp.MustCompile(`(?m)^` + row[1] + `\s+platform.*revoked \S+ \S+ by operator$`).MatchString(list) {
		t.Errorf("apikey list after the revocation:\n%s", list)
	}
	for _, args := range [][]string{
		{"apikey", "revoke", row[1]}, // once only
		{"apikey", "revoke", "999"},  // no such key
		{"apikey", "revoke"},         // which?
		{"apikey", "create", "--role", "platform", "--expires", "2020-01-01"}, // already over
		{"apikey", "create", "--role", "platform", "--expires", "soon"},
		{"apikey", "create", "--role", "platform", "--expires", "-1h"},
		{"apikey", "delete", row[1]}, // nothing is deleted
	} {
		if out, err := CLIResult(s.Env, args...); err == nil {
			t.Errorf("certseal %s succeeded:\n%s", strings.Join(args, " "), out)
		}
	}
}
