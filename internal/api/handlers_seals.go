package api

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/certseal/certseal/keys"
	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/units"
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
	if a, err = s.seals.Apply(r.Context(), caller(r), a); err != nil {
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
	id, err := pathID(r, "id")
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	a, err := keys.Applications.Get(r.Context(), s.Store, caller(r), id)
	answer(w, r, applicationView(a), err)
}

func (s *server) withdrawSealApplication(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	a, err := s.seals.Withdraw(r.Context(), caller(r), id)
	answer(w, r, applicationView(a), err)
}

// reviewSealApplication decides an application (keys.Seals.Review).
func (s *server) reviewSealApplication(w http.ResponseWriter, r *http.Request) {
	rv, err := s.review(r)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	id, err := pathID(r, "id")
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	a, err := s.seals.Review(r.Context(), caller(r), id, rv)
	answer(w, r, applicationView(a), err)
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
		if _, err := units.Visible(r.Context(), tx, caller(r), unitID); err != nil {
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
	seal, err := s.seals.Revoke(r.Context(), caller(r), id, req.Reason, req.InvalidityDate)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, sealView(seal))
}
