package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/signer"
)

type handlerJSON struct {
	Name     string `json:"name"`
	IDNumber string `json:"id_number"`
	Mobile   string `json:"mobile"`
	Landline string `json:"landline"`
}

type sealApplicationRequest struct {
	Kind         registry.SealApplicationKind `json:"kind"`
	Handler      handlerJSON                  `json:"handler"`
	Address      string                       `json:"address"`
	ImprintPNG   []byte                       `json:"imprint_png"` // base64 in JSON
	Declaration  bool                         `json:"declaration"`
	RevokeReason registry.RevocationReason    `json:"revoke_reason"`
}

var (
	mobilePattern   = regexp.MustCompile(`^1[3-9][0-9]{9}$`)
	landlinePattern = regexp.MustCompile(`^(0[0-9]{2,3}-?)?[0-9]{7,8}(-[0-9]{1,6})?$`)
)

func (req sealApplicationRequest) application(unitID int64, today registry.Date) (registry.SealApplication, error) {
	a := registry.SealApplication{UnitID: unitID, Kind: req.Kind, Declaration: req.Declaration, RevokeReason: req.RevokeReason,
		ImprintPNG: req.ImprintPNG, State: registry.ApplicationSubmitted}
	var err error
	if a.Handler.Name, err = text("handler.name", req.Handler.Name, true, 50); err != nil {
		return a, err
	}
	if a.Handler.IDNumber, _, err = registry.CheckIDNumber(req.Handler.IDNumber, "", today); err != nil {
		if re, ok := errors.AsType[*registry.Error](err); ok {
			re.Field = "handler.id_number"
		}
		return a, err
	}
	if !mobilePattern.MatchString(req.Handler.Mobile) {
		return a, registry.FieldErr("handler.mobile", "must be an 11-digit mainland mobile number")
	}
	if req.Handler.Landline != "" && !landlinePattern.MatchString(req.Handler.Landline) {
		return a, registry.FieldErr("handler.landline", "must look like 0631-5190962")
	}
	a.Handler.Mobile, a.Handler.Landline = req.Handler.Mobile, req.Handler.Landline
	if a.Address, err = text("address", req.Address, true, 200); err != nil {
		return a, err
	}
	if len(a.ImprintPNG) > 0 {
		// The imprint becomes the signature's appearance: refuse now what
		// could not be drawn later.
		if _, err := signer.PrepareAppearance(a.ImprintPNG); err != nil {
			return a, err
		}
	}
	return a, nil
}

func (s *server) createSealApplication(w http.ResponseWriter, r *http.Request) {
	unitID, err := pathID(r, "unit_id")
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	var req sealApplicationRequest
	if err := DecodeJSON(r, &req); err != nil {
		WriteProblem(w, r, err)
		return
	}
	a, err := req.application(unitID, registry.Today(s.Now()))
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	a.SubmittedAt = s.Now()
	err = s.Store.InTx(r.Context(), func(tx registry.Tx) error {
		if _, err := visibleUnit(r.Context(), tx, principal(r), unitID); err != nil {
			return err
		}
		seals, err := tx.ListSeals(r.Context(), unitID)
		if err != nil {
			return err
		}
		if active := registry.ActiveSeal(seals); active != nil && a.Kind != registry.KindNew {
			a.TargetSealID = active.ID // what the unit asks about is this seal, whatever is approved first
		}
		if err := registry.CheckSealApplication(a, seals); err != nil {
			return err
		}
		if err := tx.CreateSealApplication(r.Context(), &a); err != nil {
			return err
		}
		return s.event(r.Context(), tx, r, "seal_application.submit", "seal_application", a.ID, a)
	})
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	w.Header().Set("Location", fmt.Sprintf("/api/v1/seal-applications/%d", a.ID))
	WriteJSON(w, http.StatusCreated, applicationView(a))
}

// applicationJSON never shows the handler's full ID number.
type applicationJSON struct {
	registry.SealApplication
	Handler handlerJSON `json:"handler"`
}

func applicationView(a registry.SealApplication) applicationJSON {
	return applicationJSON{SealApplication: a, Handler: handlerJSON{Name: a.Handler.Name,
		IDNumber: registry.MaskIDNumber(a.Handler.IDNumber), Mobile: a.Handler.Mobile, Landline: a.Handler.Landline}}
}

func (s *server) getSealApplication(w http.ResponseWriter, r *http.Request) {
	a, err := sealApplications.get(r, s.Store)
	answer(w, r, applicationView(a), err)
}

func (s *server) withdrawSealApplication(w http.ResponseWriter, r *http.Request) {
	a, err := sealApplications.change(s, r, "withdraw", func(_ registry.Tx, a *registry.SealApplication, _ registry.Unit) (any, error) {
		err := registry.WithdrawSealApplication(a)
		return a.State, err // the new state
	})
	answer(w, r, applicationView(a), err)
}

// reviewSealApplication decides an application; approval acts on the
// unit's seals in the same transaction: new makes version 1, change makes
// the next version and supersedes the old one, revoke revokes the seal.
func (s *server) reviewSealApplication(w http.ResponseWriter, r *http.Request) {
	rv, err := s.review(r)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	var retired int64 // a seal whose state changed: its certificates' pages change too
	a, err := sealApplications.change(s, r, "review", func(tx registry.Tx, a *registry.SealApplication, unit registry.Unit) (any, error) {
		if err := registry.ReviewSealApplication(a, unit, rv); err != nil {
			return nil, err
		}
		if a.State == registry.ApplicationApproved {
			var err error
			if a.SealID, retired, err = s.applySealApplication(r.Context(), tx, r, *a, unit); err != nil {
				return nil, err
			}
		}
		return rv, nil
	})
	if err == nil && retired != 0 {
		s.sealChanged(r.Context(), retired)
	}
	answer(w, r, applicationView(a), err)
}

func (s *server) applySealApplication(ctx context.Context, tx registry.Tx, r *http.Request, a registry.SealApplication, unit registry.Unit) (sealID, retired int64, err error) {
	seals, err := tx.ListSeals(ctx, unit.ID)
	if err != nil {
		return 0, 0, err
	}
	if err := registry.CheckSealApplication(a, seals); err != nil {
		return 0, 0, err // the seals changed since the unit applied
	}
	now := s.Now()
	if target := registry.SealApplicationTarget(a, seals); target != nil {
		old := *target
		switch a.Kind {
		case registry.KindChange:
			err = registry.SupersedeSeal(&old, now)
		case registry.KindRevoke:
			// The unit reported the compromise when it applied.
			var since *time.Time
			if a.RevokeReason == registry.ReasonKeyCompromise {
				since = &a.SubmittedAt
			}
			err = registry.RevokeSeal(&old, a.RevokeReason, since, now)
		}
		if err != nil {
			return 0, 0, err
		}
		if err := tx.UpdateSeal(ctx, &old); err != nil {
			return 0, 0, err
		}
		if err := s.event(ctx, tx, r, "seal."+string(old.State), "seal", old.ID, map[string]any{"reason": old.Reason, "application": a.ID}); err != nil {
			return 0, 0, err
		}
		if a.Kind == registry.KindRevoke {
			return old.ID, old.ID, nil
		}
		retired = old.ID
	}
	seal := registry.Seal{UnitID: unit.ID, Version: registry.NextSealVersion(seals), State: registry.SealActive,
		ImprintPNG: a.ImprintPNG, ApplicationID: a.ID, CreatedAt: now}
	pub, blob, err := s.Keys.GenerateSealKey(ctx, s.KeyAlg, unit.ID, seal.Version)
	if err != nil {
		return 0, 0, err
	}
	seal.KeyBlob = blob
	if seal.CertDER, seal.Serial, err = s.CA.IssueSealCert(unit, seal.Version, pub, now, s.BaseURL); err != nil {
		return 0, 0, err
	}
	if err := tx.CreateSeal(ctx, &seal); err != nil {
		return 0, 0, err
	}
	if err := s.addSM2Twin(ctx, tx, unit, seal, now); err != nil {
		return 0, 0, err
	}
	if err := s.event(ctx, tx, r, "seal.create", "seal", seal.ID, map[string]any{"version": seal.Version, "serial": seal.Serial, "application": a.ID}); err != nil {
		return 0, 0, err
	}
	return seal.ID, retired, nil
}

// sealChanged runs after a seal change committed: standard validators
// (CRL, OCSP) and the verification pages of what it signed must show it now.
func (s *server) sealChanged(ctx context.Context, sealID int64) {
	ctx, cancel := detached(ctx)
	defer cancel()
	s.PKI.Invalidate()
	var numbers []string
	err := s.Store.View(ctx, func(tx registry.Tx) (err error) {
		numbers, err = tx.CertificateNumbersBySeal(ctx, sealID)
		return err
	})
	if err != nil {
		// The change is committed; cached pages expire within the day,
		// but say so loudly.
		s.Log.ErrorContext(ctx, "list the pages to invalidate after a seal change", "seal_id", sealID, "err", err)
		return
	}
	s.Verifier.Invalidate(ctx, numbers...)
}

type sealJSON struct {
	ID             int64                     `json:"id"`
	UnitID         int64                     `json:"unit_id"`
	Version        int                       `json:"version"`
	State          registry.SealState        `json:"state"`
	Serial         string                    `json:"serial"`
	CreatedAt      time.Time                 `json:"created_at"`
	RevokedAt      *time.Time                `json:"revoked_at,omitempty"`
	Reason         registry.RevocationReason `json:"reason,omitempty"`
	InvalidityDate *time.Time                `json:"invalidity_date,omitempty"`
	CertificatePEM string                    `json:"certificate_pem"`
}

func sealView(s registry.Seal) sealJSON {
	return sealJSON{ID: s.ID, UnitID: s.UnitID, Version: s.Version, State: s.State, Serial: s.Serial, CreatedAt: s.CreatedAt,
		RevokedAt: s.RevokedAt, Reason: s.Reason, InvalidityDate: s.InvalidityDate, CertificatePEM: pemCert(s.CertDER)}
}

func (s *server) listSeals(w http.ResponseWriter, r *http.Request) {
	unitID, err := pathID(r, "unit_id")
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	var seals []registry.Seal
	err = s.Store.View(r.Context(), func(tx registry.Tx) error {
		if _, err := visibleUnit(r.Context(), tx, principal(r), unitID); err != nil {
			return err
		}
		seals, err = tx.ListSeals(r.Context(), unitID)
		return err
	})
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	out := make([]sealJSON, len(seals))
	for i, seal := range seals {
		out[i] = sealView(seal)
	}
	WriteJSON(w, http.StatusOK, listJSON[sealJSON]{Items: out})
}

type revokeSealRequest struct {
	Reason         registry.RevocationReason `json:"reason"`
	InvalidityDate *time.Time                `json:"invalidity_date"` // RFC 3339
}

// revokeSeal stops a seal at once, without review: a lost or misused seal
// must stop working now.
func (s *server) revokeSeal(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	var req revokeSealRequest
	if err := DecodeJSON(r, &req); err != nil {
		WriteProblem(w, r, err)
		return
	}
	var seal registry.Seal
	err = s.Store.InTx(r.Context(), func(tx registry.Tx) error {
		if seal, err = tx.Seal(r.Context(), id, registry.LockUpdate); err != nil {
			return err
		}
		if !principal(r).CanUnit(seal.UnitID) {
			return notFoundFor("seal", id)
		}
		if err := registry.RevokeSeal(&seal, req.Reason, req.InvalidityDate, s.Now()); err != nil {
			return err
		}
		if err := tx.UpdateSeal(r.Context(), &seal); err != nil {
			return err
		}
		return s.event(r.Context(), tx, r, "seal.revoked", "seal", seal.ID, req)
	})
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	s.sealChanged(r.Context(), seal.ID)
	WriteJSON(w, http.StatusOK, sealView(seal))
}
