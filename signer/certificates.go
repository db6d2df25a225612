package signer

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/audit"
)

// Certificates runs the commands on certificates: issue, reissue, revoke
// (with its integrity record), and note a suspected forgery. Each is one
// transaction with its audit events that notes the numbers it changed
// (registry.Changes), so their verification answers are refreshed once it
// commits.
type Certificates struct {
	is  *Issuer
	w   *registry.Writer
	now func() time.Time
}

// NewCertificates returns the certificate commands over store (see
// registry.Writing), issuing with is.
func NewCertificates(store registry.Store, is *Issuer) *Certificates {
	return &Certificates{is: is, w: registry.Writing(store), now: is.now}
}

func request(c registry.Caller, a registry.Appointment) Request {
	return Request{Appointment: a, Actor: c.Actor, RequestID: c.RequestID}
}

// Issue signs and records a new certificate for appointment a.
func (cs *Certificates) Issue(ctx context.Context, c registry.Caller, a registry.Appointment) (Issued, error) {
	return cs.is.issue(ctx, cs.w, request(c, a))
}

// Reissue corrects certificate number, which the caller must see; a
// correction that names no unit stays with the certificate's.
func (cs *Certificates) Reissue(ctx context.Context, c registry.Caller, number string, corrected registry.Appointment) (Issued, error) {
	var old registry.Certificate
	err := cs.w.View(ctx, func(tx registry.Tx) (err error) {
		old, err = VisibleCertificate(ctx, tx, c, number)
		return err
	})
	if err != nil {
		return Issued{}, err
	}
	if corrected.UnitID == 0 {
		corrected.UnitID = old.Appointment.UnitID
	}
	return cs.is.reissue(ctx, cs.w, old.Number, corrected, request(c, corrected), nil)
}

// Revoke revokes certificate number for reason. A category that makes an
// integrity record (forgery, tamper, abuse) records evidence in the unit's
// integrity record (诚信档案) in the same transaction.
func (cs *Certificates) Revoke(ctx context.Context, c registry.Caller, number string, category registry.RevokeCategory, reason, evidence string) (registry.Certificate, error) {
	var cert registry.Certificate
	err := cs.w.Write(ctx, func(tx registry.Tx, changed *registry.Changes) (err error) {
		if cert, err = VisibleCertificate(ctx, tx, c, number); err != nil {
			return err
		}
		now := cs.now()
		if err := registry.RevokeCertificate(&cert, category, reason, c.Actor, now); err != nil {
			return err
		}
		if err := tx.UpdateCertificate(ctx, &cert); err != nil {
			return err
		}
		if cert.Category.MakesIntegrityRecord() {
			rec := registry.IntegrityRecord{UnitID: cert.Appointment.UnitID, Number: cert.Number, HolderName: cert.Appointment.Name,
				Category: cert.Category, Source: registry.FromRevocation, Evidence: evidence, Actor: c.Actor,
				RequestID: c.RequestID, At: now}
			if err := tx.CreateIntegrityRecord(ctx, &rec); err != nil {
				return err
			}
			if err := tx.AppendAudit(ctx, audit.Event(c, now, "integrity.record", "certificate", cert.Number, rec)); err != nil {
				return err
			}
		}
		changed.Certificate(cert.Number)
		return tx.AppendAudit(ctx, audit.Event(c, now, "certificate.revoke", "certificate", cert.Number,
			map[string]any{"version": cert.Version, "category": cert.Category, "reason": reason}))
	})
	return cert, err
}

// NoteSuspectedForgery puts a file presented as certificate number that is
// not a registered version of it into the integrity record of the
// certificate's unit, as a suspicion for a reviewer to verify: once per
// file (by its SHA-256, named in evidence) and at most perDay times a day.
// A number nobody was issued has no record to note it in.
func (cs *Certificates) NoteSuspectedForgery(ctx context.Context, c registry.Caller, number, fileSHA256, evidence string, perDay int) error {
	now := cs.now()
	return cs.w.Write(ctx, func(tx registry.Tx, _ *registry.Changes) error {
		cert, err := tx.Certificate(ctx, number)
		if errors.Is(err, registry.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		earlier, err := tx.IntegrityRecordsOf(ctx, number)
		if err != nil {
			return err
		}
		today := 0
		for _, e := range earlier {
			if e.Source != registry.FromUpload {
				continue
			}
			if strings.Contains(e.Evidence, fileSHA256) {
				return nil // this file is on record already
			}
			if registry.Today(e.At) == registry.Today(now) {
				today++
			}
		}
		if today >= perDay {
			return nil
		}
		rec := registry.IntegrityRecord{UnitID: cert.Appointment.UnitID, Number: number, HolderName: cert.Appointment.Name,
			Category: registry.RevokeForgery, Source: registry.FromUpload, Actor: c.Actor, RequestID: c.RequestID, At: now,
			Evidence: evidence}
		if err := tx.CreateIntegrityRecord(ctx, &rec); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, audit.Event(c, now, "integrity.suspected_forgery", "certificate", number, rec))
	})
}

// VisibleCertificate reads the newest version of number if the caller may
// see its unit; otherwise it does not exist, for this caller.
func VisibleCertificate(ctx context.Context, tx registry.Tx, c registry.Caller, number string) (registry.Certificate, error) {
	n, err := registry.ParseCertNumber(number)
	if err != nil {
		return registry.Certificate{}, err
	}
	cert, err := tx.Certificate(ctx, n)
	if err != nil || c.Sees == nil {
		return cert, err
	}
	u, err := tx.Unit(ctx, cert.Appointment.UnitID)
	if err != nil {
		return cert, err
	}
	if !c.CanSee(u) {
		return cert, registry.NotFound("certificate", n)
	}
	return cert, nil
}
