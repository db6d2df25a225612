package api

import (
	"encoding/base64"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/certseal/certseal/registry"
)

// HolderIDHeader carries a holder's ID number to the routes that look a
// holder up: a header, so the number is never in a URL, a proxy's log or
// a browser's history (the access log records no header).
const HolderIDHeader = "X-Holder-ID-Number"

// cursorPrefix versions the cursor, so its form can change without old
// cursors being read as something else.
const cursorPrefix = "c1."

// cursorPage reads ?cursor=NEXT&limit=N. The cursor is opaque to clients:
// it names the last row of the previous page, so pages stay stable while
// rows are added.
func cursorPage(r *http.Request) (registry.Page, error) {
	p, err := limitOf(r)
	if err != nil {
		return p, err
	}
	v := r.URL.Query().Get("cursor")
	if v == "" {
		return p, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(v)
	if s, ok := strings.CutPrefix(string(raw), cursorPrefix); err == nil && ok {
		if p.AfterID, err = strconv.ParseInt(s, 10, 64); err == nil && p.AfterID >= 0 {
			return p, nil
		}
	}
	return p, registry.FieldErr("cursor", "must be the next of the previous page, as it was")
}

func cursorOf(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(id, 10)))
}

type cursorListJSON[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"` // pass as ?cursor= for the next page
}

func writeCursorList[T any](w http.ResponseWriter, items []T, p registry.Page, id func(int) int64) {
	out := cursorListJSON[T]{Items: items}
	if out.Items == nil {
		out.Items = []T{}
	}
	if len(items) == p.Limit && len(items) > 0 {
		out.Next = cursorOf(id(len(items) - 1))
	}
	WriteJSON(w, http.StatusOK, out)
}

// listUnits lists the units the caller may see: every unit for the
// platform (or those of ?jurisdiction=), a reviewer's jurisdiction, a
// unit itself.
func (s *server) listUnits(w http.ResponseWriter, r *http.Request) {
	page, err := cursorPage(r)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	p := principal(r)
	jurisdiction := r.URL.Query().Get("jurisdiction")
	if p.Role == registry.RoleReviewer {
		if jurisdiction != "" && jurisdiction != p.Jurisdiction {
			writeCursorList(w, []registry.Unit{}, page, nil)
			return
		}
		jurisdiction = p.Jurisdiction
	}
	var list []registry.Unit
	err = s.Store.View(r.Context(), func(tx registry.Tx) error {
		if p.Role == registry.RoleUnit {
			u, err := tx.Unit(r.Context(), p.UnitID)
			if err == nil && page.AfterID < u.ID && (jurisdiction == "" || jurisdiction == u.Jurisdiction) {
				list = []registry.Unit{u}
			}
			return err
		}
		list, err = tx.ListUnits(r.Context(), jurisdiction, page)
		return err
	})
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	writeCursorList(w, list, page, func(i int) int64 { return list[i].ID })
}

// listCertificates lists the newest versions of certificates (all
// versions with status=superseded), filtered; a unit sees its own only.
func (s *server) listCertificates(w http.ResponseWriter, r *http.Request) {
	q, err := s.certFilter(r)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	var list []registry.Certificate
	err = s.Store.View(r.Context(), func(tx registry.Tx) (err error) {
		list, err = tx.ListCertificates(r.Context(), q)
		return err
	})
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	out := make([]certificateJSON, len(list))
	for i, c := range list {
		out[i] = certificateView(c, s.Now())
	}
	writeCursorList(w, out, q.Page, func(i int) int64 { return list[i].RowID })
}

// certFilter reads the listing's filters from the query, and the holder
// from HolderIDHeader.
func (s *server) certFilter(r *http.Request) (registry.CertFilter, error) {
	page, err := cursorPage(r)
	if err != nil {
		return registry.CertFilter{}, err
	}
	query := r.URL.Query()
	q := registry.CertFilter{Page: page, LatestOnly: true, On: registry.Today(s.Now()), Series: query.Get("series"),
		Level: registry.Level(query.Get("level")), WithoutPhoto: true}
	p := principal(r)
	ids := []struct {
		name string
		out  *int64
	}{{"unit_id", &q.UnitID}, {"batch_id", &q.BatchID}}
	for _, f := range ids {
		if v := query.Get(f.name); v != "" {
			if *f.out, err = strconv.ParseInt(v, 10, 64); err != nil || *f.out <= 0 {
				return q, registry.FieldErr(f.name, "must be a positive id")
			}
		}
	}
	if p.Role == registry.RoleUnit {
		if q.UnitID != 0 && q.UnitID != p.UnitID {
			return q, registry.NotFound("unit", q.UnitID)
		}
		q.UnitID = p.UnitID
	}
	if q.Level != "" && !slices.Contains(registry.Levels, q.Level) {
		return q, registry.FieldErr("level", "must be one of %v", registry.Levels)
	}
	switch q.Status = registry.CertState(query.Get("status")); q.Status {
	case "", registry.CertValid, registry.CertExpired, registry.CertRevoked:
	case registry.CertSuperseded:
		q.LatestOnly = false // a superseded version is never the newest
	default:
		return q, registry.FieldErr("status", "must be valid, expired, revoked or superseded")
	}
	days := []struct {
		name string
		set  func(registry.Date)
	}{
		{"issued_from", func(d registry.Date) { q.IssuedSince = d.Time() }},
		{"issued_to", func(d registry.Date) { q.IssuedUntil = d.AddDate(0, 0, 1).Time() }}, // the whole day, in China time
	}
	for _, f := range days {
		if v := query.Get(f.name); v != "" {
			d, err := registry.ParseDate(v)
			if err != nil {
				return q, registry.FieldErr(f.name, "must be a day YYYY-MM-DD")
			}
			f.set(d)
		}
	}
	if q.HolderIDNumber, err = holderIDNumber(r); err != nil {
		return q, err
	}
	return q, nil
}

// holderIDNumber reads HolderIDHeader. The number is checked for its form
// only, and never repeated in an answer.
func holderIDNumber(r *http.Request) (string, error) {
	v := strings.TrimSpace(r.Header.Get(HolderIDHeader))
	if v == "" {
		return "", nil
	}
	if n := utf8.RuneCountInString(v); n != 15 && n != 18 {
		return "", &registry.Error{Code: registry.CodeInvalid, Field: HolderIDHeader, Msg: "must be an ID number of 18 (or 15) characters"}
	}
	return v, nil
}
