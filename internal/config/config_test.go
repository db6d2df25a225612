package config

import (
	"io"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(*Config) bool
		wantErr string
	}{
		{name: "defaults", check: func(c *Config) bool {
			return c.DataDir == "data" && c.BaseURL == "http://127.0.0.1:8080" && c.KEKFile == "data/kek" && c.DevCA() && c.SealKeyAlg == "ecdsa-p256"
		}},
		{name: "env is the default", env: map[string]string{"CERTSEAL_DATA_DIR": "/srv/cs", "CERTSEAL_BASE_URL": "https://zc.example.cn/"},
			check: func(c *Config) bool {
				return c.DataDir == "/srv/cs" && c.BaseURL == "https://zc.example.cn" && c.KEKFile == "/srv/cs/kek"
			}},
		{name: "flag beats env", args: []string{"--data", "/flag"}, env: map[string]string{"CERTSEAL_DATA_DIR": "/env"},
			check: func(c *Config) bool { return c.DataDir == "/flag" }},
		{name: "bad address", args: []string{"--addr", "nonsense"}, wantErr: "--addr"},
		{name: "bad base URL", args: []string{"--base-url", "ftp://x"}, wantErr: "--base-url"},
		{name: "half a CA", args: []string{"--ca-root", "r.pem"}, wantErr: "all three"},
		{name: "bad algorithm", args: []string{"--seal-key-alg", "dsa"}, wantErr: "--seal-key-alg"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := Parse("test", tc.args, func(k string) string { return tc.env[k] }, io.Discard, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want error mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("unexpected config %+v", c)
			}
		})
	}
}
