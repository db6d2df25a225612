package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/certseal/certseal/keys"
	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/signer"
	"github.com/certseal/certseal/verify"
)

// openSM2CA loads the SM2 CA of the 国密 twin: the operator's, or the
// development one beside the other development CA (made only with create).
func (a *app) openSM2CA(create bool) (err error) {
	cfg, now := a.cfg, time.Now()
	switch {
	case !cfg.DevSM2CA():
		a.sm2, err = keys.LoadSM2CA(cfg.SM2CARootCert, cfg.SM2CAIssuingCert, cfg.SM2CAIssuingKey, now)
	case create:
		a.sm2, err = keys.LoadOrCreateDevSM2CA(filepath.Join(cfg.DataDir, "pki"), a.log, now)
	default:
		a.sm2, err = keys.LoadDevSM2CA(filepath.Join(cfg.DataDir, "pki"), a.log, now)
		if errors.Is(err, fs.ErrNotExist) {
			// An installation from before the twin: it has no SM2 seals
			// to check, and inspecting it must not fail for that.
			a.sm2, err = nil, nil
		}
	}
	return err
}

// sm2Twin makes the 国密 twin of approved seals, its imprint the size of
// the template's seal box (PDF points to millimetres).
func (a *app) sm2Twin(tpl signer.Template) *keys.SM2Twin {
	mm := func(pt float64) int { return int(math.Round(pt * 25.4 / 72)) }
	return &keys.SM2Twin{CA: a.sm2, Keys: a.keys, WidthMM: mm(tpl.Seal.W), HeightMM: mm(tpl.Seal.H)}
}

// sesTrust is what the certificates' seal signatures must chain to.
func (a *app) sesTrust() verify.SESTrust {
	return verify.SESTrust{CA: a.sm2, Timestamps: a.timestampTrust()}
}

// checkSESFile checks the seal signature in file (if named) over pdf; its
// verdict replaces the one of the signature the registry recorded.
func checkSESFile(ctx context.Context, svc *verify.Service, file string, pdf []byte, verdict *verify.UploadAnswer) error {
	if file == "" {
		return nil
	}
	der, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	v, err := svc.CheckSES(ctx, der, pdf)
	if err != nil {
		return err
	}
	verdict.SES = &v
	return nil
}

// printSES prints the 国密 verdict line, if there is one.
func printSES(w io.Writer, v *verify.SESVerdict) {
	if v == nil {
		return
	}
	fmt.Fprintf(w, "国密签章: %s", v.Status)
	if v.Reason != "" {
		fmt.Fprintf(w, " (%s)", v.Reason)
	}
	if !v.Timestamp.IsZero() {
		fmt.Fprintf(w, ", time-stamped %s", v.Timestamp.Format(time.RFC3339))
	}
	fmt.Fprintf(w, ", seal %s (%s)\n", v.SealName, v.ESID)
}

// checkSM2Keys is checkKeys for the active seals' 国密 twins.
func (a *app) checkSM2Keys(ctx context.Context, seals []registry.Seal) error {
	var errs []error
	err := a.store.View(ctx, func(tx registry.Tx) error {
		for _, s := range seals {
			if s.State != registry.SealActive {
				continue
			}
			twin, err := tx.SM2Seal(ctx, s.ID)
			if errors.Is(err, registry.ErrNotFound) {
				continue // approved before certseal made twins
			}
			if err != nil {
				return err
			}
			if err := keys.CheckSM2Key(ctx, a.keys, s, twin); err != nil {
				errs = append(errs, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("SM2 seal keys do not match their certificates (wrong --kek-file?): %w", err)
	}
	return nil
}
