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
		if err := s.recordSuspectedForgery(r, claimed, ans); err != nil {
			WriteProblem(w, r, err)
			return
		}
	}
	WriteJSON(w, http.StatusOK, ans)
}

// recordSuspectedForgery: a PDF presented as certificate `claimed` that is
// not a registered version of it goes into the integrity record of the
// certificate's unit. Nothing about the uploader is kept.
func (s *server) recordSuspectedForgery(r *http.Request, claimed string, ans verify.UploadAnswer) error {
	number, err := registry.ParseCertNumber(claimed)
	if err != nil {
		return err
	}
	if ans.Certificate != nil && ans.Certificate.Number == number {
		return nil // a registered version of the number it claims
	}
	ctx := r.Context()
	return s.Store.InTx(ctx, func(tx registry.Tx) error {
		c, err := tx.Certificate(ctx, number)
		if errors.Is(err, registry.ErrNotFound) {
			return nil // no such certificate: nothing to attach the record to
		}
		if err != nil {
			return err
		}
		rec := registry.IntegrityRecord{UnitID: c.Appointment.UnitID, Number: number, HolderName: c.Appointment.Name,
			Category: registry.RevokeForgery, Source: registry.FromUpload, Actor: "public upload", RequestID: RequestIDFrom(ctx), At: s.Now(),
			Evidence: fmt.Sprintf("uploaded PDF sha256 %s is not a registered version of %s (verdict %s %s)", ans.SHA256, number, ans.Indication, ans.SubIndication)}
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
