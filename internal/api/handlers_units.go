package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/units"
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

// caller is who the request comes from, for the commands: named in audit
// events, and shown another unit's objects (or a unit outside a reviewer's
// jurisdiction) as not found.
func caller(r *http.Request) registry.Caller {
	p := principal(r)
	return registry.Caller{Actor: p.Actor(), RequestID: RequestIDFrom(r.Context()), Sees: p.CanView}
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
	if u, err = s.units.Register(r.Context(), caller(r), u); err != nil {
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
		u, err = units.Visible(r.Context(), tx, caller(r), id)
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
	if f, err = s.units.File(r.Context(), caller(r), f); err != nil {
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
	id, err := pathID(r, "id")
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	f, err := units.Filings.Get(r.Context(), s.Store, caller(r), id)
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
		if _, err := units.Visible(r.Context(), tx, caller(r), unitID); err != nil {
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
	id, err := pathID(r, "id")
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	f, err := s.units.ReviewFiling(r.Context(), caller(r), id, rv)
	answer(w, r, filingView(f, s.Now()), err)
}

func (s *server) withdrawFiling(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	f, err := s.units.WithdrawFiling(r.Context(), caller(r), id)
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

// answer writes v, or the problem err is.
func answer(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, v)
}
