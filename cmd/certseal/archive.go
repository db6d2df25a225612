package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/certseal/certseal/internal/archive"
	"github.com/certseal/certseal/internal/config"
	"github.com/certseal/certseal/keys"
	"github.com/certseal/certseal/signer"
	"github.com/certseal/certseal/verify"
)

// runArchive exports a unit's complete record for the 10-year retention,
// or checks an exported directory offline.
func runArchive(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 {
		return usageErr("archive")
	}
	progress := func(what string) { fmt.Fprintln(env.stderr, what) }
	switch args[0] {
	case "export":
		var unitID int64
		var out string
		extra := func(fs *flagSet) {
			fs.Int64Var(&unitID, "unit", 0, "the unit to export")
			fs.StringVar(&out, "out", "", "a new, empty directory")
		}
		return withApp(ctx, env, "archive export", false, args[1:], extra, func(a *app, _ *flagSet) error {
			if unitID <= 0 || out == "" {
				return usageErr("archive export")
			}
			m, err := archive.Export(ctx, a.store, unitID, out, progress)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "archived unit %d (%s): %d files in %s\n", m.UnitID, m.USCC, len(m.Files), out)
			return nil
		})
	case "timestamp":
		return withAppOperands(ctx, env, "archive timestamp", false, args[1:], nil, 1, func(a *app, fs *flagSet) error {
			n, manifest, err := archive.Timestamp(ctx, fs.Arg(0), a.ca.Root(), a.ca.Issuing(), a.archiveStamper(), progress)
			fmt.Fprintf(env.stdout, "%d certificate PDFs time-stamped in %s\n", n, fs.Arg(0))
			if manifest != "" {
				fmt.Fprintf(env.stdout, "manifest SHA-256 now %s (keep it apart: it now stands for the whole archive)\n", manifest)
			}
			return err
		})
	case "verify":
		fs, err := config.ParseOwn("certseal archive verify", args[1:], env.stdout, nil, synopsisOf("archive verify")...)
		if err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return usageErr("archive verify")
		}
		dir := fs.Arg(0)
		problems, err := archive.Verify(ctx, dir, progress)
		if err != nil {
			return err
		}
		for _, p := range problems {
			fmt.Fprintln(env.stdout, p)
		}
		if len(problems) > 0 {
			return fmt.Errorf("archive %s: %d problems", dir, len(problems))
		}
		fmt.Fprintf(env.stdout, "archive %s is intact\n", dir)
		return nil
	}
	return usageErr("archive")
}

// archiveStamper adds a document time-stamp and the revocation data of the
// seal that signed it (as the registry has it now) to an archived PDF.
func (a *app) archiveStamper() archive.Stamper {
	var rsp *keys.Responder
	var stamper signer.Timestamper
	var tsaCerts []*x509.Certificate
	var setup error
	if rsp, setup = keys.NewResponder(a.ca, keys.StoreSeals(a.store), a.log, time.Now); setup == nil {
		rsp.WithValidity(a.cfg.CRLValidity, a.cfg.OCSPValidity)
		var own *keys.TSA
		if own, stamper, tsaCerts, setup = a.timestamping(false); setup == nil {
			rsp.Vouch(own.Certificate())
		}
	}
	seals := keys.StoreSeals(a.store)
	return func(ctx context.Context, pdf []byte) ([]byte, error) {
		if setup != nil {
			return nil, setup
		}
		res := verify.CheckPDF(ctx, pdf, a.pdfTrust())
		if res.Indication != verify.Passed {
			return nil, fmt.Errorf("its seal signature does not verify (%s %s); not stamped", res.Indication, res.SubIndication)
		}
		seal, err := seals.SealBySerial(ctx, res.SealSerial)
		if err != nil {
			return nil, fmt.Errorf("the seal that signed it: %w", err)
		}
		chain, err := a.ca.SealChain(seal.CertDER)
		if err != nil {
			return nil, err
		}
		dss, err := signer.NewDSS(rsp, seal, chain, tsaCerts)
		if err != nil {
			return nil, err
		}
		// Outside a transaction, the CRL can be read: it covers the issuing
		// CA's other certificates too.
		crl, err := rsp.CRL(ctx)
		if err != nil {
			return nil, err
		}
		dss.CRLs = [][]byte{crl}
		return signer.AddDocumentTimestamp(ctx, pdf, stamper, dss, a.timestampTrust())
	}
}
