package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/certseal/certseal/internal/api"
	"github.com/certseal/certseal/internal/config"
	"github.com/certseal/certseal/keys"
	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/postgres"
	"github.com/certseal/certseal/registry/sqlite"
	"github.com/certseal/certseal/signer"
	"github.com/certseal/certseal/verify"
)

// app is the service's parts, built from the configuration. Only here are
// concrete stores and caches chosen.
type app struct {
	cfg   *config.Config
	log   *slog.Logger
	store registry.Store
	pii   *registry.PII
	kek   *keys.KEK
	ca    *keys.CA
	sm2   *keys.SM2CA // the 国密 twin's CA (sm2.go)
	keys  *keys.SoftwareKeys
	alg   keys.Alg
	// tsaRoots are the roots an outside TSA's tokens chain to
	// (CERTSEAL_TSA_ROOT); certseal's own chain to the platform root.
	tsaRoots []*x509.Certificate
	// tsaChains remembers the TSA chains that held, for the trusts of
	// what certseal signs; uploadChains, for those of uploaded files,
	// whose tokens an uploader chooses (they cannot flush the first).
	tsaChains, uploadChains *keys.ChainMemo
	// accessLog writes the access log's INFO lines when serve logs text.
	accessLog *api.TextAccessLog
}

// openApp opens the store and the key material. Every command that touches
// data goes through it, so they all agree on where things are. Only with
// create does it make what is missing (data directory, KEK, development CA,
// SQLite file): a command that inspects an installation and is pointed at
// the wrong place must say so, not start an empty one beside it.
func openApp(ctx context.Context, cfg *config.Config, log *slog.Logger, create bool) (*app, error) {
	a := &app{cfg: cfg, log: log, tsaChains: &keys.ChainMemo{}, uploadChains: &keys.ChainMemo{}}
	var err error
	if a.alg, err = keys.ParseAlg(cfg.SealKeyAlg); err != nil {
		return nil, err
	}
	if create {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
		a.kek, err = keys.LoadOrCreateKEK(cfg.KEKFile, log)
	} else {
		a.kek, err = keys.LoadKEK(cfg.KEKFile)
	}
	if err != nil {
		return nil, err
	}
	// Personal data is sealed under a key derived from the KEK: one secret
	// for the operator to keep.
	if a.pii, err = registry.NewPII(a.kek.PersonalDataKey()); err != nil {
		return nil, err
	}
	a.keys = keys.NewSoftwareKeys(a.kek)
	now := time.Now()
	switch {
	case !cfg.DevCA():
		a.ca, err = keys.LoadCA(cfg.CARootCert, cfg.CAIssuingCert, cfg.CAIssuingKey, now)
	case create:
		a.ca, err = keys.LoadOrCreateDevCA(filepath.Join(cfg.DataDir, "pki"), log, now)
	default:
		a.ca, err = keys.LoadDevCA(filepath.Join(cfg.DataDir, "pki"), log, now)
	}
	if err != nil {
		return nil, err
	}
	if err := a.openSM2CA(create); err != nil {
		return nil, err
	}
	if cfg.TSARoot != "" {
		root, err := keys.ReadCertFile(cfg.TSARoot)
		if err != nil {
			return nil, fmt.Errorf("outside TSA root: %w", err)
		}
		a.tsaRoots = []*x509.Certificate{root}
	}
	if cfg.DatabaseURL == "" && !create {
		if _, err := os.Stat(cfg.SQLitePath()); err != nil {
			return nil, fmt.Errorf("database: %w", err)
		}
	}
	if cfg.DatabaseURL != "" {
		a.store, err = postgres.Open(ctx, cfg.DatabaseURL, a.pii)
	} else {
		a.store, err = sqlite.Open(ctx, cfg.SQLitePath(), a.pii)
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}

// timestampTrust is what time-stamp tokens must chain to: the platform
// root (certseal's own TSA) and the outside TSA's root, if one is set.
func (a *app) timestampTrust() keys.TimestampTrust {
	return keys.TimestampTrust{Roots: append([]*x509.Certificate{a.ca.Root()}, a.tsaRoots...), Intermediates: []*x509.Certificate{a.ca.Issuing()},
		Chains: a.tsaChains}
}

// timestamping opens certseal's own TSA (creating its key and certificate
// on first start, with create) and says who stamps signatures: that TSA
// in process, or the operator's outside one (a failure there fails the
// issue). tsaCerts go into each certificate's DSS.
func (a *app) timestamping(create bool) (own *keys.TSA, stamper signer.Timestamper, tsaCerts []*x509.Certificate, err error) {
	own, err = keys.OpenTSA(a.cfg.TSACert, a.cfg.TSAKey, a.ca, a.cfg.BaseURL, create, a.log, time.Now)
	if err != nil {
		return nil, nil, nil, err
	}
	if a.cfg.TSAURL != "" {
		return own, keys.TSAClient{URL: a.cfg.TSAURL}, a.tsaRoots, nil
	}
	return own, own, []*x509.Certificate{own.Certificate()}, nil
}

// pdfTrust is what an uploaded PDF's seal and timestamp must chain to.
// A file signed by the platform's document signer is a receipt; there is
// none before serve's first start made it.
func (a *app) pdfTrust() verify.PDFTrust {
	t := verify.PDFTrust{Root: a.ca.Root(), Issuing: []*x509.Certificate{a.ca.Issuing()},
		Timestamps: keys.TimestampTrust{Roots: a.tsaRoots, Chains: a.uploadChains}}
	if c, err := keys.ReadCertFile(a.cfg.DocSignCert); err == nil && a.ca.Verify(c, time.Now()) == nil {
		t.ReceiptSigner = c
	}
	return t
}

// checkKeys refuses to run when an active seal's key does not open or does
// not match its certificate: better no service than wrong signatures.
func (a *app) checkKeys(ctx context.Context) error {
	var seals []registry.Seal
	err := a.store.View(ctx, func(tx registry.Tx) (err error) {
		seals, err = tx.ListSeals(ctx, 0)
		return err
	})
	if err != nil {
		return err
	}
	if err := keys.CheckSealKeys(ctx, a.keys, seals); err != nil {
		return fmt.Errorf("seal keys do not match their certificates (wrong --kek-file?): %w", err)
	}
	return a.checkSM2Keys(ctx, seals)
}

func (a *app) Close() error {
	if a.store == nil {
		return nil
	}
	return a.store.Close()
}
