// Package config is the one place that reads certseal's settings: command
// line flags, with CERTSEAL_* environment variables as their defaults.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config holds every setting. Zero values are replaced by defaults in Load.
type Config struct {
	DataDir     string // embedded store, development CA and key files
	Addr        string
	BaseURL     string // public address printed in QR codes and seal certificates
	DatabaseURL string // PostgreSQL; empty: embedded SQLite
	RedisURL    string // Redis; empty: in-process cache

	CARootCert, CAIssuingCert, CAIssuingKey string // operator CA (PEM); empty: development CA
	KEKFile                                 string // key-encryption key for seal keys and personal data
	SealKeyAlg                              string
	FontFile, TemplateFile                  string
	CalendarDir                             string

	PublicRateLimit float64 // requests per second per client on public routes
	PublicBurst     int
	TrustProxy      bool // honour X-Forwarded-For (behind a load balancer)
	// DownloadLinkTTL is how long a holder's download link works.
	DownloadLinkTTL time.Duration
	// VerifyPagePDF offers the PDF on the verification page reached with
	// the certificate's QR token.
	VerifyPagePDF   bool
	ShutdownTimeout time.Duration
	LogLevel        slog.Level
	LogJSON         bool

	envErrs []error // CERTSEAL_* values that do not parse, reported by Validate
}

// Register adds the settings to fs; their defaults come from getenv.
func (c *Config) Register(fs *flag.FlagSet, getenv func(string) string) {
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	fs.StringVar(&c.DataDir, "data", env("CERTSEAL_DATA_DIR", "data"), "data directory (CERTSEAL_DATA_DIR)")
	fs.StringVar(&c.Addr, "addr", env("CERTSEAL_ADDR", "127.0.0.1:8080"), "listen address (CERTSEAL_ADDR)")
	fs.StringVar(&c.BaseURL, "base-url", env("CERTSEAL_BASE_URL", ""), "public base URL for QR codes and PKI addresses (CERTSEAL_BASE_URL; default http://ADDR)")
	URLVar(fs, &c.DatabaseURL, "database-url", env("CERTSEAL_DATABASE_URL", ""), "PostgreSQL URL; empty uses SQLite in the data directory (CERTSEAL_DATABASE_URL)")
	URLVar(fs, &c.RedisURL, "redis-url", env("CERTSEAL_REDIS_URL", ""), "Redis URL; empty uses an in-process cache (CERTSEAL_REDIS_URL)")
	fs.StringVar(&c.CARootCert, "ca-root", env("CERTSEAL_CA_ROOT", ""), "root CA certificate PEM (CERTSEAL_CA_ROOT)")
	fs.StringVar(&c.CAIssuingCert, "ca-issuing-cert", env("CERTSEAL_CA_ISSUING_CERT", ""), "issuing CA certificate PEM (CERTSEAL_CA_ISSUING_CERT)")
	fs.StringVar(&c.CAIssuingKey, "ca-issuing-key", env("CERTSEAL_CA_ISSUING_KEY", ""), "issuing CA private key PEM (CERTSEAL_CA_ISSUING_KEY)")
	fs.StringVar(&c.KEKFile, "kek-file", env("CERTSEAL_KEK_FILE", ""), "key-encryption key file (CERTSEAL_KEK_FILE; default DATA/kek, created for development)")
	fs.StringVar(&c.SealKeyAlg, "seal-key-alg", env("CERTSEAL_SEAL_KEY_ALG", "ecdsa-p256"), "seal key algorithm: ecdsa-p256 or rsa-2048 (CERTSEAL_SEAL_KEY_ALG)")
	fs.StringVar(&c.FontFile, "font", env("CERTSEAL_FONT", ""), "TrueType font for certificates; empty uses the embedded GB2312 subset (CERTSEAL_FONT)")
	fs.StringVar(&c.TemplateFile, "template", env("CERTSEAL_TEMPLATE", ""), "certificate layout template JSON; empty uses the embedded one (CERTSEAL_TEMPLATE)")
	fs.StringVar(&c.CalendarDir, "calendar-dir", env("CERTSEAL_CALENDAR_DIR", ""), "directory of <year>.json working-day files laid over the shipped ones (CERTSEAL_CALENDAR_DIR)")
	// A variable that does not parse is an error (Validate), not its default.
	parsed := func(name, def string, parse func(string) error) {
		s := env(name, def)
		if err := parse(s); err != nil {
			c.envErrs = append(c.envErrs, fmt.Errorf("%s=%q: %w", name, s, err))
			parse(def)
		}
	}
	parsed("CERTSEAL_PUBLIC_RATE", "20", func(s string) (err error) { c.PublicRateLimit, err = strconv.ParseFloat(s, 64); return err })
	parsed("CERTSEAL_PUBLIC_BURST", "40", func(s string) (err error) { c.PublicBurst, err = strconv.Atoi(s); return err })
	parsed("CERTSEAL_TRUST_PROXY", "false", func(s string) (err error) { c.TrustProxy, err = strconv.ParseBool(s); return err })
	parsed("CERTSEAL_DOWNLOAD_LINK_TTL", "15m", func(s string) (err error) { c.DownloadLinkTTL, err = time.ParseDuration(s); return err })
	parsed("CERTSEAL_VERIFY_PAGE_PDF", "false", func(s string) (err error) { c.VerifyPagePDF, err = strconv.ParseBool(s); return err })
	parsed("CERTSEAL_LOG_LEVEL", "info", func(s string) error { return c.LogLevel.UnmarshalText([]byte(s)) })
	parsed("CERTSEAL_LOG_FORMAT", "text", func(s string) error {
		if s != "text" && s != "json" {
			return errors.New("want text or json")
		}
		c.LogJSON = s == "json"
		return nil
	})
	fs.Float64Var(&c.PublicRateLimit, "public-rate", c.PublicRateLimit, "public requests per second per client (CERTSEAL_PUBLIC_RATE)")
	fs.IntVar(&c.PublicBurst, "public-burst", c.PublicBurst, "public request burst per client (CERTSEAL_PUBLIC_BURST)")
	fs.BoolVar(&c.TrustProxy, "trust-proxy", c.TrustProxy, "honour X-Forwarded-For from a load balancer (CERTSEAL_TRUST_PROXY=true)")
	fs.DurationVar(&c.DownloadLinkTTL, "download-link-ttl", c.DownloadLinkTTL, "how long a holder's certificate download link works (CERTSEAL_DOWNLOAD_LINK_TTL)")
	fs.BoolVar(&c.VerifyPagePDF, "verify-page-pdf", c.VerifyPagePDF, "offer the PDF on the verification page reached by QR code (CERTSEAL_VERIFY_PAGE_PDF=true)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 20*time.Second, "how long in-flight requests may finish on shutdown")
	fs.TextVar(&c.LogLevel, "log-level", c.LogLevel, "log level: debug, info, warn, error (CERTSEAL_LOG_LEVEL)")
	fs.BoolVar(&c.LogJSON, "log-json", c.LogJSON, "JSON logs (CERTSEAL_LOG_FORMAT=json)")
}

// URLVar defines a string flag holding a URL that may carry a password:
// its usage text, whose default comes from the environment, shows it
// redacted.
func URLVar(fs *flag.FlagSet, p *string, name, def, usage string) {
	*p = def
	fs.Var(secretValue{p, redactURL}, name, usage)
}

// SecretVar defines a string flag holding a secret (an API key), shown in
// usage text only as set or not.
func SecretVar(fs *flag.FlagSet, p *string, name, def, usage string) {
	*p = def
	fs.Var(secretValue{p, func(string) string { return "(set)" }}, name, usage)
}

// secretValue is a string flag whose printed form is show(value).
type secretValue struct {
	p    *string
	show func(string) string
}

func (v secretValue) String() string {
	if v.p == nil || *v.p == "" {
		return ""
	}
	return v.show(*v.p)
}

func (v secretValue) Set(s string) error { *v.p = s; return nil }

// redactURL shows where a URL points, without its secrets: the password
// of the user part and of the password-like query parameters libpq and
// pgx accept. What is not a URL (a libpq key=value string) shows as (set).
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return "(set)"
	}
	q := u.Query()
	for k := range q {
		if strings.Contains(strings.ToLower(k), "password") {
			q.Set(k, "xxxxx")
		}
	}
	u.RawQuery = q.Encode()
	return u.Redacted()
}

// Validate fills derived defaults and refuses settings that cannot work.
func (c *Config) Validate() error {
	errs := slices.Clone(c.envErrs)
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data must not be empty"))
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("--addr %q: %w", c.Addr, err))
	}
	if c.BaseURL == "" {
		c.BaseURL = "http://" + c.Addr
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		errs = append(errs, fmt.Errorf("--base-url %q must be an absolute http(s) URL without query", c.BaseURL))
	}
	ca := []string{c.CARootCert, c.CAIssuingCert, c.CAIssuingKey}
	set := 0
	for _, v := range ca {
		if v != "" {
			set++
		}
	}
	if set != 0 && set != 3 {
		errs = append(errs, errors.New("an operator CA needs all three of --ca-root, --ca-issuing-cert and --ca-issuing-key"))
	}
	if c.KEKFile == "" {
		c.KEKFile = filepath.Join(c.DataDir, "kek")
	}
	if c.SealKeyAlg != "ecdsa-p256" && c.SealKeyAlg != "rsa-2048" {
		errs = append(errs, fmt.Errorf("--seal-key-alg %q: want ecdsa-p256 or rsa-2048", c.SealKeyAlg))
	}
	if c.PublicRateLimit <= 0 || c.PublicBurst <= 0 {
		errs = append(errs, errors.New("--public-rate and --public-burst must be positive"))
	}
	if c.DownloadLinkTTL < time.Minute || c.DownloadLinkTTL > 24*time.Hour {
		errs = append(errs, fmt.Errorf("--download-link-ttl %s: want between 1m and 24h (a link is for one holder's session)", c.DownloadLinkTTL))
	}
	return errors.Join(errs...)
}

// DevCA reports whether the service runs on a development CA.
func (c *Config) DevCA() bool { return c.CARootCert == "" }

// SQLitePath is the embedded database file.
func (c *Config) SQLitePath() string { return filepath.Join(c.DataDir, "certseal.db") }

// Parse registers the settings on a new flag set, parses args and validates.
// extra registers a subcommand's own flags.
func Parse(name string, args []string, getenv func(string) string, stderr io.Writer, extra func(*flag.FlagSet)) (*Config, *flag.FlagSet, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &Config{}
	c.Register(fs, getenv)
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	return c, fs, nil
}

// Logger builds the process logger.
func (c *Config) Logger(w io.Writer) *slog.Logger { return slog.New(c.LogHandler(w)) }

// LogHandler is the slog.Handler of the configured format and level.
func (c *Config) LogHandler(w io.Writer) slog.Handler {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogJSON {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}
