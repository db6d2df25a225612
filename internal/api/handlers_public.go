package api

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/verify"
)

func (s *server) verifyByToken(w http.ResponseWriter, r *http.Request) {
	resp, err := s.Verifier.ByToken(r.Context(), chi.URLParam(r, "number"), r.URL.Query().Get("k"), verify.FormatFor(r))
	s.answer(w, r, resp, err)
}

func (s *server) verifyByName(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("no") == "" || q.Get("name") == "" {
		WriteProblem(w, r, registry.FieldErr("no", "give the certificate number (no) and the holder's name (name)"))
		return
	}
	resp, err := s.Verifier.ByName(r.Context(), q.Get("no"), q.Get("name"), verify.FormatFor(r))
	s.answer(w, r, resp, err)
}

func (s *server) answer(w http.ResponseWriter, r *http.Request, resp verify.Response, err error) {
	if err != nil {
		// A database that cannot answer is 503, never "unknown".
		s.Metrics.Verification("error")
		WriteProblem(w, r, err)
		return
	}
	s.Metrics.Verification(string(resp.Outcome))
	resp.WriteTo(w)
}

// verifyUpload takes a PDF as the raw body or as the multipart field "file".
func (s *server) verifyUpload(w http.ResponseWriter, r *http.Request) {
	pdf, err := uploadedPDF(r)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	ans, err := s.Verifier.CheckUpload(r.Context(), pdf)
	if err != nil {
		s.Metrics.Verification("error")
		WriteProblem(w, r, err)
		return
	}
	s.Metrics.Verification("upload_" + ans.Indication)
	if claimed := r.URL.Query().Get("no"); claimed != "" {
		number, err := registry.ParseCertNumber(claimed)
		if err != nil {
			WriteProblem(w, r, err)
			return
		}
		if suspicious(ans, number) {
			s.noteSuspectedForgery(r, number, ans)
		}
	}
	WriteJSON(w, http.StatusOK, ans)
}

const (
	// suspectedForgeriesPerDay bounds what public uploads add to one
	// number's integrity record in a day: the route needs no key, and a
	// flood of made-up files must not bury what reviewers look for.
	suspectedForgeriesPerDay = 3
	// suspectedForgeryWriters bounds the notes written at once; beyond
	// that a note is dropped with a warning.
	suspectedForgeryWriters = 4
)

// suspicious is whether a file presented as certificate number is evidence
// of a forgery: a PDF certseal could read that is not a registered version
// of that number. What it could not read (not a PDF, too large, too slow)
// or could not judge (indeterminate) is evidence of nothing.
func suspicious(ans verify.UploadAnswer, number string) bool {
	if ans.Certificate != nil {
		return ans.Certificate.Number != number
	}
	switch ans.SubIndication {
	case verify.SubFormatFailure, verify.SubTooLarge, verify.SubTimeout:
		return false
	}
	return ans.Indication == verify.Failed
}

// noteSuspectedForgery writes the note after the answer has gone, so the
// answer takes the same time whether the number exists or not, and a
// store that cannot take the note does not fail the verification.
func (s *server) noteSuspectedForgery(r *http.Request, number string, ans verify.UploadAnswer) {
	log := LoggerFrom(r.Context())
	select {
	case s.noting <- struct{}{}:
	default:
		log.Warn("suspected forgery not recorded: too many being written", "number", number, "sha256", ans.SHA256)
		return
	}
	ctx, cancel := detached(r.Context())
	r = r.WithContext(ctx) // a copy the server leaves alone once the answer went
	go func() {
		defer func() { cancel(); <-s.noting }()
		if err := s.recordSuspectedForgery(r, number, ans); err != nil {
			log.Error("suspected forgery not recorded", "number", number, "sha256", ans.SHA256, "err", err)
		}
	}()
}

// recordSuspectedForgery puts an upload presented as certificate number
// into the integrity record of the certificate's unit, once per file and
// at most suspectedForgeriesPerDay times a day, as a suspicion for a
// reviewer to verify (经查证属实的 cases are the unit's revocations).
// Nothing about the uploader is kept.
func (s *server) recordSuspectedForgery(r *http.Request, number string, ans verify.UploadAnswer) error {
	ctx, now := r.Context(), s.Now()
	return s.Store.InTx(ctx, func(tx registry.Tx) error {
		c, err := tx.Certificate(ctx, number)
		if errors.Is(err, registry.ErrNotFound) {
			return nil // no such certificate: nothing to attach the record to
		}
		if err != nil {
			return err
		}
		earlier, err := tx.IntegrityRecordsOf(ctx, number)
		if err != nil {
			return err
		}
		today, evidence := 0, fmt.Sprintf("suspected forgery, not verified: uploaded PDF sha256 %s is not a registered version of %s (verdict %s %s)",
			ans.SHA256, number, ans.Indication, ans.SubIndication)
		for _, e := range earlier {
			if e.Source != registry.FromUpload {
				continue
			}
			if strings.Contains(e.Evidence, ans.SHA256) {
				return nil // this file is on record already
			}
			if registry.Today(e.At) == registry.Today(now) {
				today++
			}
		}
		if today >= suspectedForgeriesPerDay {
			return nil
		}
		rec := registry.IntegrityRecord{UnitID: c.Appointment.UnitID, Number: number, HolderName: c.Appointment.Name,
			Category: registry.RevokeForgery, Source: registry.FromUpload, Actor: "public upload", RequestID: RequestIDFrom(ctx), At: now,
			Evidence: evidence}
		if err := tx.CreateIntegrityRecord(ctx, &rec); err != nil {
			return err
		}
		return s.event(ctx, tx, r, "integrity.suspected_forgery", "certificate", number, rec)
	})
}

func uploadedPDF(r *http.Request) ([]byte, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/pdf", "application/octet-stream":
		return io.ReadAll(r.Body)
	case "multipart/form-data":
		f, _, err := r.FormFile("file")
		if tooLarge := (*http.MaxBytesError)(nil); errors.As(err, &tooLarge) {
			return nil, err // 413, as for a raw upload
		}
		if err != nil {
			return nil, registry.FieldErr("file", "multipart upload needs the PDF in the field \"file\"")
		}
		defer f.Close()
		return io.ReadAll(f)
	}
	return nil, &registry.Error{Code: CodeUnsupportedMediaType, Msg: `send the PDF as application/pdf or multipart/form-data with the field "file"`}
}

// --- catalog ----------------------------------------------------------------

type catalogEntry struct {
	Unit         string        `json:"unit"`
	UnitID       int64         `json:"unit_id"`
	Jurisdiction string        `json:"jurisdiction"`
	Series       string        `json:"series"`
	Specialty    string        `json:"specialty"`
	Office       string        `json:"office"`
	Contact      string        `json:"contact"`
	ValidFrom    registry.Date `json:"valid_from"`
	ValidUntil   registry.Date `json:"valid_until"`
}

// catalog lists the filings in force today; expired ones drop off by date.
func (s *server) catalog(r *http.Request) ([]catalogEntry, registry.Page, error) {
	page, err := pageOf(r)
	if err != nil {
		return nil, page, err
	}
	q := r.URL.Query()
	var out []catalogEntry
	err = s.Store.View(r.Context(), func(tx registry.Tx) error {
		filings, err := tx.ListFilings(r.Context(), registry.FilingFilter{Jurisdiction: q.Get("jurisdiction"), Series: q.Get("series"),
			InForceOn: registry.Today(s.Now()), Page: page})
		if err != nil {
			return err
		}
		units := map[int64]registry.Unit{}
		for _, f := range filings {
			u, ok := units[f.UnitID]
			if !ok {
				if u, err = tx.Unit(r.Context(), f.UnitID); err != nil {
					return err
				}
				units[f.UnitID] = u
			}
			out = append(out, catalogEntry{Unit: u.Name, UnitID: u.ID, Jurisdiction: u.Jurisdiction, Series: f.Series, Specialty: f.Specialty,
				Office: f.Office, Contact: f.Contact, ValidFrom: f.ValidFrom, ValidUntil: f.ValidUntil})
		}
		// Paging follows filing ids.
		if len(filings) == page.Limit {
			page.AfterID = filings[len(filings)-1].ID
		} else {
			page.AfterID = 0
		}
		return nil
	})
	return out, page, err
}

func (s *server) catalogJSON(w http.ResponseWriter, r *http.Request) {
	out, page, err := s.catalog(r)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	resp := listJSON[catalogEntry]{Items: out}
	if resp.Items == nil {
		resp.Items = []catalogEntry{}
	}
	if page.AfterID != 0 {
		resp.Next = &page.AfterID
	}
	WriteJSON(w, http.StatusOK, resp)
}

//go:embed catalog.html
var catalogPage string

var catalogTemplate = template.Must(template.New("catalog").Parse(catalogPage))

func (s *server) catalogHTML(w http.ResponseWriter, r *http.Request) {
	out, page, err := s.catalog(r)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	var b bytes.Buffer
	err = catalogTemplate.Execute(&b, map[string]any{"Entries": out, "Today": registry.Today(s.Now()), "Query": r.URL.Query(),
		"Next": page.AfterID, "Generated": s.Now().In(registry.ChinaTZ).Format(time.DateTime)})
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b.Bytes())
}
