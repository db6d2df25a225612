package config

import (
	"errors"
	"flag"
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
			return c.DataDir == "data" && c.BaseURL == "http://127.0.0.1:8080" && c.KEKFile == "data/kek" && c.DevCA() && c.DevSM2CA() && c.SealKeyAlg == "ecdsa-p256"
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
		{name: "half an SM2 CA", env: map[string]string{"CERTSEAL_SM2_CA_ROOT": "r.pem", "CERTSEAL_SM2_CA_ISSUING_KEY": "k.pem"}, wantErr: "--sm2-ca-issuing-cert"},
		{name: "operator SM2 CA", env: map[string]string{"CERTSEAL_SM2_CA_ROOT": "r.pem", "CERTSEAL_SM2_CA_ISSUING_CERT": "i.pem", "CERTSEAL_SM2_CA_ISSUING_KEY": "k.pem"},
			check: func(c *Config) bool { return !c.DevSM2CA() && c.DevCA() && c.SM2CAIssuingCert == "i.pem" }},
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
		{name: "TSA files default to the data directory", args: []string{"--data", "/srv/cs"}, check: func(c *Config) bool {
			return c.TSACert == "/srv/cs/pki/tsa.crt" && c.TSAKey == "/srv/cs/pki/tsa.key" && c.TSAURL == ""
		}},
		{name: "outside TSA without its root", args: []string{"--tsa-url", "https://tsa.example"}, wantErr: "--tsa-root"},
		{name: "outside TSA not http", args: []string{"--tsa-url", "tsa.example", "--tsa-root", "r.pem"}, wantErr: "--tsa-url"},
		{name: "document signer files default to the data directory", args: []string{"--data", "/srv/cs"}, check: func(c *Config) bool {
			return c.DocSignCert == "/srv/cs/pki/docsign.crt" && c.DocSignKey == "/srv/cs/pki/docsign.key"
		}},
		{name: "half a document signer", env: map[string]string{"CERTSEAL_DOCSIGN_KEY": "d.key"}, wantErr: "--docsign-cert"},
		{name: "half a TSA", env: map[string]string{"CERTSEAL_TSA_CERT": "t.crt"}, wantErr: "--tsa-key"},
		{name: "revocation validity from env", env: map[string]string{"CERTSEAL_CRL_VALIDITY": "6h", "CERTSEAL_OCSP_VALIDITY": "90m"}, check: func(c *Config) bool {
			return c.CRLValidity == 6*time.Hour && c.OCSPValidity == 90*time.Minute
		}},
		{name: "revocation validity too short", args: []string{"--ocsp-validity", "10s"}, wantErr: "--ocsp-validity"},
		{name: "revocation validity not a duration", env: map[string]string{"CERTSEAL_CRL_VALIDITY": "a day"}, wantErr: "CERTSEAL_CRL_VALIDITY"},
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
	// A mistyped flag gets one line; -h the usage with the defaults.
	_, _, err := Parse("test", []string{"--nonsense"}, func(k string) string { return env[k] }, io.Discard, nil)
	if err == nil {
		t.Fatal("an unknown flag was accepted")
	}
	var usage strings.Builder
	c, _, help := Parse("test", []string{"-h"}, func(k string) string { return env[k] }, &usage, nil)
	if !errors.Is(help, flag.ErrHelp) {
		t.Fatalf("-h: %v", help)
	}
	for _, secret := range []string{"S3cretPW", "K3yPW", "Q3ryPW", "R3disPW"} {
		if strings.Contains(usage.String(), secret) || !strings.Contains(usage.String(), "db:5432") || strings.Contains(err.Error(), secret) {
			t.Errorf("usage text or error shows %s, or not where the database is:\n%s\n%v", secret, usage.String(), err)
		}
	}
	// A libpq key=value string is not a URL: it shows only as set.
	var kv strings.Builder
	Parse("test", []string{"-h"}, func(k string) string {
		return map[string]string{"CERTSEAL_DATABASE_URL": "host=db user=certseal password=KvPW dbname=cs"}[k]
	}, &kv, nil)
	if strings.Contains(kv.String(), "KvPW") || !strings.Contains(kv.String(), "(set)") {
		t.Errorf("usage text:\n%s", kv.String())
	}
	c, _, err = Parse("test", nil, func(k string) string { return env[k] }, io.Discard, nil)
	if err != nil || c.DatabaseURL != env["CERTSEAL_DATABASE_URL"] || c.RedisURL != env["CERTSEAL_REDIS_URL"] {
		t.Fatalf("the URLs themselves are kept: %v %q %q", err, c.DatabaseURL, c.RedisURL)
	}
}

// A command line the command does not take is one *UsageError naming
// where to look, and nothing is printed; -h prints the synopsis, the
// command's own flags and then the settings.
func TestUsage(t *testing.T) {
	extra := func(fs *flag.FlagSet) { fs.Bool("json", false, "print JSON") }
	var out strings.Builder
	_, _, err := Parse("certseal x", []string{"--nonsense"}, func(string) string { return "" }, &out, extra, "certseal x [--json] FILE")
	var usage *UsageError
	if !errors.As(err, &usage) || out.Len() != 0 || !strings.Contains(err.Error(), "-nonsense") || !strings.Contains(err.Error(), "certseal x -h") {
		t.Fatalf("unknown flag: %v, printed %q", err, out.String())
	}
	_, _, err = Parse("certseal x", []string{"-h"}, func(string) string { return "" }, &out, extra, "certseal x [--json] FILE")
	help := out.String()
	own, settings := strings.Index(help, "  -json"), strings.Index(help, "  -addr")
	if !errors.Is(err, flag.ErrHelp) || !strings.HasPrefix(help, "usage: certseal x [--json] FILE\n") || own < 0 || settings < own {
		t.Fatalf("-h: %v\n%s", err, help)
	}
	_, _, err = ParseClient("certseal y", nil, func(string) string { return "" }, io.Discard, nil)
	if !errors.As(err, &usage) || !strings.Contains(err.Error(), "--server") {
		t.Fatalf("a client without a server: %v", err)
	}
	c, _, err := ParseClient("certseal y", nil, func(k string) string {
		return map[string]string{"CERTSEAL_SERVER": "http://h", "CERTSEAL_API_KEY": "k"}[k]
	}, io.Discard, nil)
	if err != nil || c.Server != "http://h" || c.APIKey != "k" {
		t.Fatalf("client from the environment: %+v %v", c, err)
	}
}
