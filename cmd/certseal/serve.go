package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/certseal/certseal/internal/api"
	"github.com/certseal/certseal/internal/config"
	"github.com/certseal/certseal/internal/logbuf"
	"github.com/certseal/certseal/keys"
	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/workday"
	"github.com/certseal/certseal/signer"
	"github.com/certseal/certseal/verify"
	"github.com/certseal/certseal/verify/memcache"
	"github.com/certseal/certseal/verify/rediscache"
)

// service is the running application above the store.
type service struct {
	handler  http.Handler
	batches  *signer.Batches
	cache    verify.Cache
	verifier *verify.Service
	pki      *keys.Responder
	recorder *verify.Recorder
}

// Close runs after the HTTP server stopped: the recorder writes what it
// still holds.
func (s *service) Close() {
	s.batches.Close()
	s.recorder.Close()
	s.cache.Close()
}

// buildService wires verify, keys, signer and the API over an open app.
func buildService(ctx context.Context, a *app) (*service, error) {
	cfg := a.cfg
	var cache verify.Cache
	if cfg.RedisURL != "" {
		rc, err := rediscache.Open(cfg.RedisURL, rediscache.Options{Prefix: "certseal:", ValueKey: a.kek.SharedCacheKey(), Logger: a.log})
		if err != nil {
			return nil, fmt.Errorf("redis: %w", err)
		}
		cache = rc
	} else {
		cache = memcache.New(memcache.Options{})
	}
	svc := &service{cache: cache}
	cached := verify.NewCached(cache, verify.CachedOptions{Logger: a.log})
	docSigner, err := keys.OpenDocSigner(cfg.DocSignCert, cfg.DocSignKey, a.ca, cfg.BaseURL, true, a.log, time.Now)
	if err != nil {
		return nil, err
	}
	if svc.verifier, err = verify.NewService(a.store, cached, cfg.BaseURL, a.pdfTrust(), time.Now); err != nil {
		return nil, err
	}
	svc.verifier.OfferPDF = cfg.VerifyPagePDF
	if svc.pki, err = keys.NewResponder(a.ca, keys.StoreSeals(a.store), a.log, time.Now); err != nil {
		return nil, err
	}
	svc.pki.WithValidity(cfg.CRLValidity, cfg.OCSPValidity)
	tsa, stamper, tsaCerts, err := a.timestamping(true)
	if err != nil {
		return nil, err
	}
	svc.pki.Vouch(tsa.Certificate(), docSigner.Certificate())
	logKey, err := a.logKey(true)
	if err != nil {
		return nil, err
	}
	font := signer.DefaultFont()
	if cfg.FontFile != "" {
		if font, err = signer.LoadFont(cfg.FontFile); err != nil {
			return nil, err
		}
	}
	tpl := signer.DefaultTemplate()
	if cfg.TemplateFile != "" {
		if tpl, err = signer.LoadTemplate(cfg.TemplateFile); err != nil {
			return nil, err
		}
	}
	renderer, err := signer.NewRenderer(tpl, font)
	if err != nil {
		return nil, err
	}
	calendar, err := workday.Load(cfg.CalendarDir)
	if err != nil {
		return nil, err
	}
	warnCalendarGaps(a.log, calendar, registry.Today(time.Now()))
	receiptRenderer, err := signer.NewReceiptRenderer(font)
	if err != nil {
		return nil, err
	}
	metrics := api.NewMetrics()
	svc.recorder = verify.NewRecorder(a.store, a.kek.VerifierHashKey(), verify.RecorderOptions{Logger: a.log})
	metrics.WatchRecorder(svc.recorder.Stats)
	metrics.WatchCache(func() (uint64, uint64) { s := cached.Stats(); return s.Hits, s.Loads })
	// Every command writes through one Writer, whose after-commit hook
	// (set by api.New) refreshes what each change made stale.
	writer := registry.NewWriter(a.store)
	svc.verifier.SES = a.sesTrust()
	issuer := signer.NewIssuer(signer.IssuerDeps{Store: writer, PII: a.pii, Keys: a.keys, SM2: a.keys, Chains: a.ca, Renderer: renderer,
		TSA: stamper, TSATrust: a.timestampTrust(), TSACerts: tsaCerts, Revocation: svc.pki, BaseURL: cfg.BaseURL, Calendar: calendar, Now: time.Now, Log: a.log})
	svc.batches = signer.NewBatches(issuer, writer, a.log)
	svc.batches.SetSubmitterCheck(api.BatchSubmitterAllowed)
	receipts := signer.NewReceipts(signer.ReceiptsDeps{Store: writer, Renderer: receiptRenderer, Key: docSigner, TSA: stamper,
		TSATrust: a.timestampTrust(), TSACerts: tsaCerts, Revocation: svc.pki, BaseURL: cfg.BaseURL, Now: time.Now})
	svc.handler = api.New(api.Deps{
		Store: writer, Keys: a.keys, CA: a.ca, SM2: a.sm2Twin(tpl), PKI: svc.pki, TSA: tsa.Handle(), Issuer: issuer, Batches: svc.batches, Verifier: svc.verifier,
		Receipts: receipts, Recorder: svc.recorder,
		Metrics: metrics, Log: a.log, AccessLog: a.accessLog, BaseURL: cfg.BaseURL, KeyAlg: a.alg, Now: time.Now,
		Ready:      map[string]func(context.Context) error{"store": a.store.Ping, "cache": cachePing(cache)},
		PublicRate: cfg.PublicRateLimit, PublicBurst: cfg.PublicBurst, TrustProxy: cfg.TrustProxy,
		LinkKey: a.kek.DownloadLinkKey(), LinkTTL: cfg.DownloadLinkTTL,
		TLog: verify.NewLog(a.store, logKey.Signer()), LogKey: logKey.VerifierKey(),
	})
	return svc, nil
}

// warnCalendarGaps says at start when the working-day calendar lacks this
// year, or next year with the year's end near: deadlines that need a
// missing year are marked unchecked until the operator adds it.
func warnCalendarGaps(log *slog.Logger, c *workday.Calendar, today registry.Date) {
	need := []int{today.Year}
	if today.Month >= 11 {
		need = append(need, today.Year+1)
	}
	for _, y := range need {
		if !slices.Contains(c.Years(), y) {
			log.Warn("the working-day calendar has no data for a year deadlines will need; add <year>.json to the calendar directory",
				"year", y, "have", c.Years(), "flag", "-calendar-dir / CERTSEAL_CALENDAR_DIR")
		}
	}
}

// cachePing reports a shared cache that is not trusted (Redis unreachable):
// the service still answers from the database, but an operator should know.
func cachePing(c verify.Cache) func(context.Context) error {
	return func(context.Context) error {
		if rc, ok := c.(*rediscache.Cache); ok && !rc.Trusted() {
			return errors.New("redis cache is not reachable; answering from the database")
		}
		return nil
	}
}

func runServe(ctx context.Context, env *cliEnv, args []string) error {
	cfg, fs, err := config.Parse("certseal serve", args, env.getenv, env.stdout, nil, synopsisOf("serve")...)
	if err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return usageErr("serve")
	}
	// Batched: one write per access-log line would cost the verification
	// page a fifth of its throughput. Warnings go out at once.
	out := logbuf.New(env.stderr, 100*time.Millisecond)
	defer out.Close()
	log := slog.New(logbuf.Handler(cfg.LogHandler(out), out, slog.LevelWarn))
	a, err := openApp(ctx, cfg, log, true)
	if err != nil {
		return err
	}
	defer a.Close()
	if !cfg.LogJSON {
		// The same bytes as log's text handler, without its generic walk.
		a.accessLog = &api.TextAccessLog{W: out, Level: cfg.LogLevel}
	}
	if err := a.checkKeys(ctx); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	if strings.HasSuffix(cfg.Addr, ":0") && cfg.BaseURL == "http://"+cfg.Addr {
		// Any free port: the public address is the one we got.
		cfg.BaseURL = "http://" + ln.Addr().String()
	}
	svc, err := buildService(ctx, a)
	if err != nil {
		return err
	}
	defer svc.Close()
	if err := svc.batches.Resume(ctx); err != nil {
		return fmt.Errorf("resume batches: %w", err)
	}

	srv := &http.Server{Handler: svc.handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 2 * time.Minute,
		WriteTimeout: 2 * time.Minute, IdleTimeout: 2 * time.Minute}
	store, cache := "sqlite "+cfg.SQLitePath(), "in-process"
	if cfg.DatabaseURL != "" {
		store = "postgresql"
	}
	if cfg.RedisURL != "" {
		cache = "redis"
	}
	log.Info("certseal is listening", "addr", "http://"+ln.Addr().String(), "public_url", cfg.BaseURL,
		"data_dir", cfg.DataDir, "store", store, "cache", cache, "development_ca", cfg.DevCA())
	if cfg.DevCA() {
		log.Warn("THIS IS A DEVELOPMENT CA: certificates it signs are for trying certseal out, not for real use")
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing requests in flight", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}
