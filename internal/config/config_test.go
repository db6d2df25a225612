package config

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"
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
		{name: "env values parse", env: map[string]string{"CERTSEAL_PUBLIC_RATE": "2.5", "CERTSEAL_PUBLIC_BURST": "7", "CERTSEAL_TRUST_PROXY": "true",
			"CERTSEAL_LOG_LEVEL": "warn", "CERTSEAL_LOG_FORMAT": "json"}, check: func(c *Config) bool {
			return c.PublicRateLimit == 2.5 && c.PublicBurst == 7 && c.TrustProxy && c.LogLevel == slog.LevelWarn && c.LogJSON
		}},
		{name: "flag beats a bad env value", args: []string{"--public-rate", "3"}, env: map[string]string{"CERTSEAL_PUBLIC_RATE": "5/s"},
			wantErr: `CERTSEAL_PUBLIC_RATE="5/s"`}, // the variable is wrong all the same
		{name: "rate with a unit", env: map[string]string{"CERTSEAL_PUBLIC_RATE": "5/s"}, wantErr: "CERTSEAL_PUBLIC_RATE"},
		{name: "burst not a number", env: map[string]string{"CERTSEAL_PUBLIC_BURST": "many"}, wantErr: "CERTSEAL_PUBLIC_BURST"},
		{name: "trust proxy yes", env: map[string]string{"CERTSEAL_TRUST_PROXY": "yes"}, wantErr: "CERTSEAL_TRUST_PROXY"},
		{name: "unknown log level", env: map[string]string{"CERTSEAL_LOG_LEVEL": "verbose"}, wantErr: "CERTSEAL_LOG_LEVEL"},
		{name: "unknown log format", env: map[string]string{"CERTSEAL_LOG_FORMAT": "xml"}, wantErr: "CERTSEAL_LOG_FORMAT"},
		{name: "holder downloads by default", check: func(c *Config) bool { return c.DownloadLinkTTL == 15*time.Minute && !c.VerifyPagePDF }},
		{name: "holder download settings", env: map[string]string{"CERTSEAL_DOWNLOAD_LINK_TTL": "5m", "CERTSEAL_VERIFY_PAGE_PDF": "true"},
			check: func(c *Config) bool { return c.DownloadLinkTTL == 5*time.Minute && c.VerifyPagePDF }},
		{name: "download link for a week", args: []string{"--download-link-ttl", "168h"}, wantErr: "--download-link-ttl"},
		{name: "download link not a duration", env: map[string]string{"CERTSEAL_DOWNLOAD_LINK_TTL": "15"}, wantErr: "CERTSEAL_DOWNLOAD_LINK_TTL"},
		{name: "verify page PDF yes", env: map[string]string{"CERTSEAL_VERIFY_PAGE_PDF": "yes"}, wantErr: "CERTSEAL_VERIFY_PAGE_PDF"},
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

// The usage text shows defaults, which come from the environment: the
// passwords in URLs must not be in it (a mistyped flag in a unit file
// would write them to the journal).
func TestUsageHidesSecrets(t *testing.T) {
	env := map[string]string{"CERTSEAL_DATABASE_URL": "postgres://certseal:S3cretPW@db:5432/cs?sslpassword=K3yPW&password=Q3ryPW",
		"CERTSEAL_REDIS_URL": "redis://:R3disPW@cache:6379/0"}
	var usage strings.Builder
	c, _, err := Parse("test", []string{"--nonsense"}, func(k string) string { return env[k] }, &usage, nil)
	if err == nil {
		t.Fatal("an unknown flag was accepted")
	}
	for _, secret := range []string{"S3cretPW", "K3yPW", "Q3ryPW", "R3disPW"} {
		if strings.Contains(usage.String(), secret) || !strings.Contains(usage.String(), "db:5432") {
			t.Errorf("usage text shows %s, or not where the database is:\n%s", secret, usage.String())
		}
	}
	// A libpq key=value string is not a URL: it shows only as set.
	var kv strings.Builder
	Parse("test", []string{"--nonsense"}, func(k string) string {
		return map[string]string{"CERTSEAL_DATABASE_URL": "host=db user=certseal password=KvPW dbname=cs"}[k]
	}, &kv, nil)
	if strings.Contains(kv.String(), "KvPW") {
		t.Errorf("usage text:\n%s", kv.String())
	}
	c, _, err = Parse("test", nil, func(k string) string { return env[k] }, io.Discard, nil)
	if err != nil || c.DatabaseURL != env["CERTSEAL_DATABASE_URL"] || c.RedisURL != env["CERTSEAL_REDIS_URL"] {
		t.Fatalf("the URLs themselves are kept: %v %q %q", err, c.DatabaseURL, c.RedisURL)
	}
}
