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
	// The operator's SM2 CA of the 国密 twin (PEM); empty: development SM2 CA.
	SM2CARootCert, SM2CAIssuingCert, SM2CAIssuingKey string
	KEKFile                                          string // key-encryption key for seal keys and personal data
	SealKeyAlg                                       string
	FontFile, TemplateFile                           string
	CalendarDir                                      string

	// Time-stamping: certseal's own TSA (key and certificate files; empty:
	// DATA/pki/tsa.*, created on first start), or an outside one at TSAURL
	// whose tokens chain to the root in TSARoot.
	TSACert, TSAKey, TSAURL, TSARoot string
	CRLValidity, OCSPValidity        time.Duration // nextUpdate - thisUpdate
	// The platform's document signer (signs verification receipts): key
	// and certificate files; empty: DATA/pki/docsign.*, made on first start.
	DocSignCert, DocSignKey string
	// LogKey is the operator's transparency log key (a note private key
	// file); empty: DATA/pki/log.key, sealed under the KEK, made on first start.
	LogKey string

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
	fs.StringVar(&c.SM2CARootCert, "sm2-ca-root", env("CERTSEAL_SM2_CA_ROOT", ""), "SM2 root CA certificate PEM of the 国密 seals (CERTSEAL_SM2_CA_ROOT)")
	fs.StringVar(&c.SM2CAIssuingCert, "sm2-ca-issuing-cert", env("CERTSEAL_SM2_CA_ISSUING_CERT", ""), "SM2 issuing CA certificate PEM, maker of the 国密 seals (CERTSEAL_SM2_CA_ISSUING_CERT)")
	fs.StringVar(&c.SM2CAIssuingKey, "sm2-ca-issuing-key", env("CERTSEAL_SM2_CA_ISSUING_KEY", ""), "SM2 issuing CA private key PEM, PKCS#8 (CERTSEAL_SM2_CA_ISSUING_KEY)")
	fs.StringVar(&c.KEKFile, "kek-file", env("CERTSEAL_KEK_FILE", ""), "key-encryption key file (CERTSEAL_KEK_FILE; default DATA/kek, created for development)")
	fs.StringVar(&c.SealKeyAlg, "seal-key-alg", env("CERTSEAL_SEAL_KEY_ALG", "ecdsa-p256"), "seal key algorithm: ecdsa-p256 or rsa-2048 (CERTSEAL_SEAL_KEY_ALG)")
	fs.StringVar(&c.FontFile, "font", env("CERTSEAL_FONT", ""), "TrueType font for certificates; empty uses the embedded GB2312 subset (CERTSEAL_FONT)")
	fs.StringVar(&c.TemplateFile, "template", env("CERTSEAL_TEMPLATE", ""), "certificate layout template JSON; empty uses the embedded one (CERTSEAL_TEMPLATE)")
	fs.StringVar(&c.CalendarDir, "calendar-dir", env("CERTSEAL_CALENDAR_DIR", ""), "directory of <year>.json working-day files laid over the shipped ones (CERTSEAL_CALENDAR_DIR)")
	fs.StringVar(&c.TSACert, "tsa-cert", env("CERTSEAL_TSA_CERT", ""), "time-stamping authority certificate PEM (CERTSEAL_TSA_CERT; default DATA/pki/tsa.crt, created on first start)")
	fs.StringVar(&c.TSAKey, "tsa-key", env("CERTSEAL_TSA_KEY", ""), "time-stamping authority private key PEM (CERTSEAL_TSA_KEY; default DATA/pki/tsa.key)")
	fs.StringVar(&c.TSAURL, "tsa-url", env("CERTSEAL_TSA_URL", ""), "outside RFC 3161 time-stamping authority to use instead of certseal's own (CERTSEAL_TSA_URL; needs --tsa-root)")
	fs.StringVar(&c.DocSignCert, "docsign-cert", env("CERTSEAL_DOCSIGN_CERT", ""), "platform document-signing certificate PEM, signs verification receipts (CERTSEAL_DOCSIGN_CERT; default DATA/pki/docsign.crt, created on first start)")
	fs.StringVar(&c.DocSignKey, "docsign-key", env("CERTSEAL_DOCSIGN_KEY", ""), "platform document-signing private key PEM (CERTSEAL_DOCSIGN_KEY; default DATA/pki/docsign.key)")
	fs.StringVar(&c.LogKey, "log-key", env("CERTSEAL_LOG_KEY", ""), "transparency log key: a note private key file, mode 0600 (CERTSEAL_LOG_KEY; default DATA/pki/log.key, sealed under the KEK, created on first start)")
	fs.StringVar(&c.TSARoot, "tsa-root", env("CERTSEAL_TSA_ROOT", ""), "root certificate PEM of the outside time-stamping authority (CERTSEAL_TSA_ROOT)")
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
	parsed("CERTSEAL_SHUTDOWN_TIMEOUT", "20s", func(s string) (err error) { c.ShutdownTimeout, err = time.ParseDuration(s); return err })
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
	parsed("CERTSEAL_CRL_VALIDITY", "24h", func(s string) (err error) { c.CRLValidity, err = time.ParseDuration(s); return err })
	parsed("CERTSEAL_OCSP_VALIDITY", "24h", func(s string) (err error) { c.OCSPValidity, err = time.ParseDuration(s); return err })
	fs.DurationVar(&c.CRLValidity, "crl-validity", c.CRLValidity, "how long a CRL runs, nextUpdate - thisUpdate; re-signed after half (CERTSEAL_CRL_VALIDITY)")
	fs.DurationVar(&c.OCSPValidity, "ocsp-validity", c.OCSPValidity, "how long an OCSP answer runs, nextUpdate - thisUpdate; re-signed after half (CERTSEAL_OCSP_VALIDITY)")
	fs.Float64Var(&c.PublicRateLimit, "public-rate", c.PublicRateLimit, "public requests per second per client (CERTSEAL_PUBLIC_RATE)")
	fs.IntVar(&c.PublicBurst, "public-burst", c.PublicBurst, "public request burst per client (CERTSEAL_PUBLIC_BURST)")
	fs.BoolVar(&c.TrustProxy, "trust-proxy", c.TrustProxy, "honour X-Forwarded-For from a load balancer (CERTSEAL_TRUST_PROXY=true)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long in-flight requests may finish on shutdown (CERTSEAL_SHUTDOWN_TIMEOUT)")
	fs.DurationVar(&c.DownloadLinkTTL, "download-link-ttl", c.DownloadLinkTTL, "how long a holder's certificate download link works (CERTSEAL_DOWNLOAD_LINK_TTL)")
	fs.BoolVar(&c.VerifyPagePDF, "verify-page-pdf", c.VerifyPagePDF, "offer the PDF on the verification page reached by QR code (CERTSEAL_VERIFY_PAGE_PDF=true)")
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
	if (c.SM2CARootCert == "") != (c.SM2CAIssuingCert == "") || (c.SM2CARootCert == "") != (c.SM2CAIssuingKey == "") {
		errs = append(errs, errors.New("an operator SM2 CA needs all three of --sm2-ca-root, --sm2-ca-issuing-cert and --sm2-ca-issuing-key"))
	}
	if c.KEKFile == "" {
		c.KEKFile = filepath.Join(c.DataDir, "kek")
	}
	if c.SealKeyAlg != "ecdsa-p256" && c.SealKeyAlg != "rsa-2048" {
		errs = append(errs, fmt.Errorf("--seal-key-alg %q: want ecdsa-p256 or rsa-2048", c.SealKeyAlg))
	}
	if (c.TSAURL == "") != (c.TSARoot == "") {
		errs = append(errs, errors.New("an outside time-stamping authority needs both --tsa-url and --tsa-root"))
	}
	if c.TSAURL != "" {
		if u, err := url.Parse(c.TSAURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("--tsa-url %q must be an absolute http(s) URL", c.TSAURL))
		}
	}
	if (c.TSACert == "") != (c.TSAKey == "") {
		errs = append(errs, errors.New("certseal's time-stamping authority needs both --tsa-cert and --tsa-key, or neither"))
	}
	if c.TSACert == "" {
		c.TSACert, c.TSAKey = filepath.Join(c.DataDir, "pki", "tsa.crt"), filepath.Join(c.DataDir, "pki", "tsa.key")
	}
	if (c.DocSignCert == "") != (c.DocSignKey == "") {
		errs = append(errs, errors.New("the platform's document signer needs both --docsign-cert and --docsign-key, or neither"))
	}
	if c.DocSignCert == "" {
		c.DocSignCert, c.DocSignKey = filepath.Join(c.DataDir, "pki", "docsign.crt"), filepath.Join(c.DataDir, "pki", "docsign.key")
	}
	if c.CRLValidity < time.Minute || c.OCSPValidity < time.Minute {
		errs = append(errs, errors.New("--crl-validity and --ocsp-validity must be at least 1m"))
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

// DevLogKeyPath is where the log key is kept, sealed under the KEK, when
// the operator supplies none.
func (c *Config) DevLogKeyPath() string { return filepath.Join(c.DataDir, "pki", "log.key") }

// DevSM2CA reports whether the 国密 twin runs on a development SM2 CA.
func (c *Config) DevSM2CA() bool { return c.SM2CARootCert == "" }

// SQLitePath is the embedded database file.
func (c *Config) SQLitePath() string { return filepath.Join(c.DataDir, "certseal.db") }

// Parse registers the settings on a new flag set, parses args and validates.
// extra registers a subcommand's own flags. -h prints to out the synopsis
// lines (each a whole command line; NAME [flags] if none), the command's
// own flags and then the settings, and Parse returns flag.ErrHelp; a
// command line that does not parse is a *UsageError.
func Parse(name string, args []string, getenv func(string) string, out io.Writer, extra func(*flag.FlagSet), synopsis ...string) (*Config, *flag.FlagSet, error) {
	c := &Config{}
	fs, err := parseWith(name, args, out, func(fs *flag.FlagSet) { c.Register(fs, getenv) }, extra, synopsis)
	if err != nil {
		return nil, nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	return c, fs, nil
}

// Client is the settings of the commands that talk to a running certseal
// over its API instead of opening the data (batch submit).
type Client struct {
	Server string // the service's address
	APIKey string
}

// Register adds the client settings to fs; their defaults come from getenv.
func (c *Client) Register(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&c.Server, "server", getenv("CERTSEAL_SERVER"), "address of the running certseal, e.g. http://127.0.0.1:8080 (CERTSEAL_SERVER)")
	SecretVar(fs, &c.APIKey, "key", getenv("CERTSEAL_API_KEY"), "API key of the unit or the platform (CERTSEAL_API_KEY)")
}

// ParseClient is Parse for a command that talks to a running certseal.
func ParseClient(name string, args []string, getenv func(string) string, out io.Writer, extra func(*flag.FlagSet), synopsis ...string) (*Client, *flag.FlagSet, error) {
	c := &Client{}
	fs, err := parseWith(name, args, out, func(fs *flag.FlagSet) { c.Register(fs, getenv) }, extra, synopsis)
	if err != nil {
		return nil, nil, err
	}
	if c.Server == "" || c.APIKey == "" {
		return nil, nil, &UsageError{Err: errors.New("give --server (CERTSEAL_SERVER) and --key (CERTSEAL_API_KEY)"), Command: name}
	}
	return c, fs, nil
}

// ParseOwn is Parse for a command that takes only flags of its own, no
// settings (archive verify works on a directory alone).
func ParseOwn(name string, args []string, out io.Writer, extra func(*flag.FlagSet), synopsis ...string) (*flag.FlagSet, error) {
	return parseWith(name, args, out, func(*flag.FlagSet) {}, extra, synopsis)
}

// UsageError is a command line the command does not take.
type UsageError struct {
	Err     error
	Command string // whose -h says what it takes: "certseal serve"
}

func (e *UsageError) Error() string {
	return fmt.Sprintf("%v; %s -h says what it takes", e.Err, e.Command)
}
func (e *UsageError) Unwrap() error { return e.Err }

// parseWith parses args with the settings that settings registers and the
// command's own flags that extra does. The flag package would print the
// whole usage on a mistyped flag; the caller prints the one line of the
// UsageError instead, and the usage only when asked.
func parseWith(name string, args []string, out io.Writer, settings, extra func(*flag.FlagSet), synopsis []string) (*flag.FlagSet, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	settings(fs)
	shared := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { shared[f.Name] = true })
	if extra != nil {
		extra(fs)
	}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		printUsage(out, fs, synopsis, shared)
		return nil, err
	}
	if err != nil {
		return nil, &UsageError{Err: err, Command: name}
	}
	return fs, nil
}

// printUsage writes the synopsis, the command's own flags and then the
// shared settings, each part as flag.PrintDefaults lays it out.
func printUsage(w io.Writer, fs *flag.FlagSet, synopsis []string, shared map[string]bool) {
	if len(synopsis) == 0 {
		synopsis = []string{fs.Name() + " [flags]"}
	}
	fmt.Fprintf(w, "usage: %s\n", strings.Join(synopsis, "\n       "))
	own := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	settings := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	fs.VisitAll(func(f *flag.Flag) {
		part := own
		if shared[f.Name] {
			part = settings
		}
		part.Var(f.Value, f.Name, f.Usage)
	})
	for _, p := range []struct {
		title string
		fs    *flag.FlagSet
	}{{"flags of " + fs.Name() + ":", own}, {"settings (each also the CERTSEAL_* variable its text names; the flag wins):", settings}} {
		n := 0
		p.fs.VisitAll(func(*flag.Flag) { n++ })
		if n == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s\n", p.title)
		p.fs.SetOutput(w)
		p.fs.PrintDefaults()
	}
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
