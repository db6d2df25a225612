package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/audit"
)

// --- shared handler helpers -------------------------------------------------

func principal(r *http.Request) Principal {
	p, _ := PrincipalFrom(r.Context())
	return p
}

// pathID reads a numeric path parameter; anything else is "not found", as a
// mistyped id would be.
func pathID(r *http.Request, name string) (int64, error) {
	v, err := strconv.ParseInt(chi.URLParam(r, name), 10, 64)
	if err != nil || v <= 0 {
		return 0, registry.Errf(registry.CodeNotFound, "%s %q not found", name, chi.URLParam(r, name))
	}
	return v, nil
}

// event appends the audit event of a transition made by this request.
func (s *server) event(ctx context.Context, tx registry.Tx, r *http.Request, action, subjectType string, id any, payload any) error {
	return tx.AppendAudit(ctx, &registry.AuditEvent{At: s.Now(), Actor: principal(r).Actor(), Action: action,
		SubjectType: subjectType, SubjectID: fmt.Sprint(id), RequestID: RequestIDFrom(ctx), PayloadDigest: audit.Digest(payload)})
}

// notFoundFor hides another unit's objects: a unit or a reviewer outside
// the jurisdiction learns nothing, not even that the object exists.
func notFoundFor(what string, id any) error {
	return registry.Errf(registry.CodeNotFound, "%s %v not found", what, id)
}

// visibleUnit loads a unit and checks that the caller may see it.
func visibleUnit(ctx context.Context, tx registry.Tx, p Principal, unitID int64) (registry.Unit, error) {
	u, err := tx.Unit(ctx, unitID)
	if err != nil {
		return u, err
	}
	if !p.CanUnit(unitID) && !(p.Role == registry.RoleReviewer && p.CanJurisdiction(u.Jurisdiction)) {
		return u, notFoundFor("unit", unitID)
	}
	return u, nil
}

// text checks a free-text field: trimmed, bounded, no control characters.
// HTML and SQL are stored verbatim and escaped on output.
func text(field, v string, required bool, max int) (string, error) {
	v = strings.TrimSpace(v)
	switch {
	case v == "" && required:
		return v, registry.FieldErr(field, "is required")
	case !utf8.ValidString(v) || utf8.RuneCountInString(v) > max:
		return v, registry.FieldErr(field, "must be text of at most %d characters", max)
	case strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return v, registry.FieldErr(field, "must not contain control characters")
	}
	return v, nil
}

// --- units ------------------------------------------------------------------

type unitRequest struct {
	Name           string `json:"name"`
	USCC           string `json:"uscc"`
	Representative string `json:"representative"`
	Jurisdiction   string `json:"jurisdiction"`
	Address        string `json:"address"`
	Contact        string `json:"contact"`
}

func (s *server) createUnit(w http.ResponseWriter, r *http.Request) {
	var req unitRequest
	if err := DecodeJSON(r, &req); err != nil {
		WriteProblem(w, r, err)
		return
	}
	u, err := req.unit()
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	u.CreatedAt = s.Now()
	err = s.Store.InTx(r.Context(), func(tx registry.Tx) error {
		if err := tx.CreateUnit(r.Context(), &u); err != nil {
			if errors.Is(err, registry.ErrDuplicate) {
				return &registry.Error{Code: registry.CodeDuplicate, Field: "uscc", Msg: "a unit with this USCC is already registered"}
			}
			return err
		}
		return s.event(r.Context(), tx, r, "unit.register", "unit", u.ID, u)
	})
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	w.Header().Set("Location", fmt.Sprintf("/api/v1/units/%d", u.ID))
	WriteJSON(w, http.StatusCreated, u)
}

func (req unitRequest) unit() (registry.Unit, error) {
	var u registry.Unit
	var err error
	fields := []struct {
		name string
		in   string
		out  *string
		max  int
	}{
		{"name", req.Name, &u.Name, 100},
		{"representative", req.Representative, &u.Representative, 50},
		{"jurisdiction", req.Jurisdiction, &u.Jurisdiction, 50},
		{"address", req.Address, &u.Address, 200},
		{"contact", req.Contact, &u.Contact, 100},
	}
	for _, f := range fields {
		if *f.out, err = text(f.name, f.in, true, f.max); err != nil {
			return u, err
		}
	}
	code, err := registry.ParseUSCC(req.USCC)
	if err != nil {
		return u, err
	}
	u.USCC, u.USCCLegacy = code.Code, code.Legacy
	return u, nil
}

func (s *server) getUnit(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "unit_id")
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	var u registry.Unit
	err = s.Store.View(r.Context(), func(tx registry.Tx) error {
		u, err = visibleUnit(r.Context(), tx, principal(r), id)
		return err
	})
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, u)
}

// --- filings ----------------------------------------------------------------

type filingRequest struct {
	Series              string `json:"series"`
	Specialty           string `json:"specialty"`
	Office              string `json:"office"`
	Contact             string `json:"contact"`
	TalentCount         int    `json:"talent_count"`
	AppointedLast3Years []int  `json:"appointed_last_3_years"`
}

func (req filingRequest) filing(unitID int64) (registry.Filing, error) {
	f := registry.Filing{UnitID: unitID, TalentCount: req.TalentCount, AppointedLast3Years: req.AppointedLast3Years, State: registry.FilingSubmitted}
	var err error
	if f.Series, err = text("series", req.Series, true, 50); err != nil {
		return f, err
	}
	if f.Specialty, err = text("specialty", req.Specialty, false, 100); err != nil {
		return f, err
	}
	if f.Office, err = text("office", req.Office, true, 100); err != nil {
		return f, err
	}
	if f.Contact, err = text("contact", req.Contact, true, 200); err != nil {
		return f, err
	}
	if f.TalentCount < 0 || f.TalentCount > 1_000_000 {
		return f, registry.FieldErr("talent_count", "must be between 0 and 1000000")
	}
	if len(f.AppointedLast3Years) != 3 {
		return f, registry.FieldErr("appointed_last_3_years", "must list the appointments of each of the last 3 years")
	}
	for _, n := range f.AppointedLast3Years {
		if n < 0 || n > f.TalentCount {
			return f, registry.FieldErr("appointed_last_3_years", "each year must be between 0 and talent_count")
		}
	}
	return f, nil
}

func (s *server) createFiling(w http.ResponseWriter, r *http.Request) {
	unitID, err := pathID(r, "unit_id")
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	var req filingRequest
	if err := DecodeJSON(r, &req); err != nil {
		WriteProblem(w, r, err)
		return
	}
	f, err := req.filing(unitID)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	f.SubmittedAt = s.Now()
	err = s.Store.InTx(r.Context(), func(tx registry.Tx) error {
		if _, err := visibleUnit(r.Context(), tx, principal(r), unitID); err != nil {
			return err
		}
		if err := tx.CreateFiling(r.Context(), &f); err != nil {
			return err
		}
		return s.event(r.Context(), tx, r, "filing.submit", "filing", f.ID, f)
	})
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	w.Header().Set("Location", fmt.Sprintf("/api/v1/filings/%d", f.ID))
	WriteJSON(w, http.StatusCreated, filingView(f, s.Now()))
}

// filingJSON shows the derived state (expired) next to the stored one.
type filingJSON struct {
	registry.Filing
	State registry.FilingState `json:"state"`
}

func filingView(f registry.Filing, now time.Time) filingJSON {
	return filingJSON{Filing: f, State: registry.FilingStateOn(f, registry.Today(now))}
}

func (s *server) getFiling(w http.ResponseWriter, r *http.Request) {
	f, err := filings.get(r, s.Store)
	answer(w, r, filingView(f, s.Now()), err)
}

func (s *server) listFilings(w http.ResponseWriter, r *http.Request) {
	unitID, err := pathID(r, "unit_id")
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	page, err := pageOf(r)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	var list []registry.Filing
	err = s.Store.View(r.Context(), func(tx registry.Tx) error {
		if _, err := visibleUnit(r.Context(), tx, principal(r), unitID); err != nil {
			return err
		}
		list, err = tx.ListFilings(r.Context(), registry.FilingFilter{UnitID: unitID, Page: page})
		return err
	})
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	out := make([]filingJSON, len(list))
	for i, f := range list {
		out[i] = filingView(f, s.Now())
	}
	writeList(w, out, page, func(i int) int64 { return list[i].ID })
}

type reviewRequest struct {
	Decision      registry.Decision `json:"decision"`
	Opinion       string            `json:"opinion"`
	USCCConfirmed bool              `json:"uscc_confirmed"`
}

func (s *server) review(r *http.Request) (registry.Review, error) {
	var req reviewRequest
	if err := DecodeJSON(r, &req); err != nil {
		return registry.Review{}, err
	}
	opinion, err := text("opinion", req.Opinion, req.Decision == registry.Reject, 500)
	if err != nil {
		return registry.Review{}, err
	}
	return registry.Review{Reviewer: principal(r).Actor(), Decision: req.Decision, Opinion: opinion, At: s.Now(), USCCConfirmed: req.USCCConfirmed}, nil
}

func (s *server) reviewFiling(w http.ResponseWriter, r *http.Request) {
	rv, err := s.review(r)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	f, err := filings.change(s, r, "review", func(_ registry.Tx, f *registry.Filing, _ registry.Unit) (any, error) {
		return rv, registry.ReviewFiling(f, rv)
	})
	answer(w, r, filingView(f, s.Now()), err)
}

func (s *server) withdrawFiling(w http.ResponseWriter, r *http.Request) {
	f, err := filings.change(s, r, "withdraw", func(_ registry.Tx, f *registry.Filing, _ registry.Unit) (any, error) {
		err := registry.WithdrawFiling(f)
		return f.State, err // the new state
	})
	answer(w, r, filingView(f, s.Now()), err)
}

// --- lists ------------------------------------------------------------------

// pageOf reads ?after=ID&limit=N.
func pageOf(r *http.Request) (registry.Page, error) {
	p, err := limitOf(r)
	if err != nil {
		return p, err
	}
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return p, registry.FieldErr("after", "must be the last id of the previous page")
		}
		p.AfterID = n
	}
	return p, nil
}

// limitOf reads ?limit=N: 100 unless given, at most 1000.
func limitOf(r *http.Request) (registry.Page, error) {
	p := registry.Page{Limit: 100}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return p, registry.FieldErr("limit", "must be between 1 and 1000")
		}
		p.Limit = n
	}
	return p, nil
}

type listJSON[T any] struct {
	Items []T    `json:"items"`
	Next  *int64 `json:"next_after,omitempty"` // pass as ?after= for the next page
}

func writeList[T any](w http.ResponseWriter, items []T, p registry.Page, id func(int) int64) {
	out := listJSON[T]{Items: items}
	if out.Items == nil {
		out.Items = []T{}
	}
	if len(items) == p.Limit && len(items) > 0 {
		next := id(len(items) - 1)
		out.Next = &next
	}
	WriteJSON(w, http.StatusOK, out)
}
