package api

import (
	"context"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/signer"
	"github.com/certseal/certseal/signer/batchfile"
)

// certificateJSON is the record as its owners see it: the certificate's
// members, and the appointment's, derived from registry.AppointmentFields
// (appointmentAnswer). The ID number is masked there too: the API answer is
// logged and cached by clients.
type certificateJSON struct {
	Number         string             `json:"number"`
	Version        int                `json:"version"`
	Status         registry.CertState `json:"status"`
	UnitID         int64              `json:"unit_id"`
	SealVersion    int                `json:"seal_version"`
	IssuedAt       time.Time          `json:"issued_at"`
	PDFSHA256      string             `json:"pdf_sha256"`
	RevokedAt      *time.Time         `json:"revoked_at,omitempty"`
	RevokeReason   string             `json:"revoke_reason,omitempty"`
	RevokeCategory string             `json:"revoke_category,omitempty"`
	// The notice's deadlines, counted when the information came in.
	Backfill           bool          `json:"backfill"`
	SubmittedOn        registry.Date `json:"submitted_on,omitzero"`
	InfoLateWorkdays   int           `json:"info_late_workdays"`
	ResultLateWorkdays int           `json:"result_late_workdays"`
	LatenessUnchecked  string        `json:"lateness_unchecked,omitempty"`
	// VerifyURL is only in the answer that created the version: the token
	// is not stored, only its hash.
	VerifyURL string `json:"verify_url,omitempty"`
	// The link that downloads the PDF, for the platform to hand to the
	// logged-in holder (GET /api/v1/holder-certificates only).
	DownloadURL       string     `json:"download_url,omitempty"`
	DownloadExpiresAt *time.Time `json:"download_expires_at,omitempty"`

	appointment registry.Appointment
}

func certificateView(c registry.Certificate, now time.Time) certificateJSON {
	a := c.Appointment
	return certificateJSON{Number: c.Number, Version: c.Version, Status: registry.CertStatusOn(c, registry.Today(now)), UnitID: a.UnitID,
		SealVersion: c.SealVersion, IssuedAt: c.IssuedAt, PDFSHA256: hex.EncodeToString(c.PDFSHA256), RevokedAt: c.RevokedAt,
		RevokeReason: c.RevokeReason, RevokeCategory: string(c.Category), Backfill: a.Backfill, SubmittedOn: a.SubmittedOn,
		InfoLateWorkdays: a.InfoLateWorkdays, ResultLateWorkdays: a.ResultLateWorkdays, LatenessUnchecked: a.LatenessUnchecked,
		appointment: a}
}

func (s *server) issueCertificate(w http.ResponseWriter, r *http.Request) {
	req, err := decodeAppointment(r)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	if !principal(r).CanUnit(req.UnitID) {
		WriteProblem(w, r, registry.NotFound("unit", req.UnitID))
		return
	}
	issued, err := s.certs.Issue(r.Context(), caller(r), req)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	out := certificateView(issued.Certificate, s.Now())
	out.VerifyURL = issued.VerifyURL
	w.Header().Set("Location", "/api/v1/certificates/"+issued.Certificate.Number)
	WriteJSON(w, http.StatusCreated, out)
}

// detached is the context for work a request must finish whether or not
// its client stays: a note written after the answer went.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}

func (s *server) getCertificate(w http.ResponseWriter, r *http.Request) {
	var c registry.Certificate
	err := s.Store.View(r.Context(), func(tx registry.Tx) (err error) {
		c, err = signer.VisibleCertificate(r.Context(), tx, caller(r), chi.URLParam(r, "number"))
		return err
	})
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, certificateView(c, s.Now()))
}

// getCertificatePDF serves the newest version's PDF, or ?version=N.
func (s *server) getCertificatePDF(w http.ResponseWriter, r *http.Request) {
	var pdf []byte
	var c registry.Certificate
	err := s.Store.View(r.Context(), func(tx registry.Tx) (err error) {
		if c, err = signer.VisibleCertificate(r.Context(), tx, caller(r), chi.URLParam(r, "number")); err != nil {
			return err
		}
		version, err := versionParam(r, c)
		if err != nil {
			return err
		}
		pdf, err = tx.CertificatePDF(r.Context(), c.Number, version)
		return err
	})
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.pdf"`, c.Number))
	w.Header().Set("Content-Length", strconv.Itoa(len(pdf)))
	w.Write(pdf)
}

// versionParam is the ?version= of a certificate's download, by default
// its newest.
func versionParam(r *http.Request, c registry.Certificate) (int, error) {
	v := r.URL.Query().Get("version")
	if v == "" {
		return c.Version, nil
	}
	version, err := strconv.Atoi(v)
	if err != nil || version < 1 || version > c.Version {
		return 0, registry.Errf(registry.CodeNotFound, "certificate %s has no version %q", c.Number, v)
	}
	return version, nil
}

type revokeCertificateRequest struct {
	Reason   string                  `json:"reason"`
	Category registry.RevokeCategory `json:"category"` // error (default), forgery, tamper, abuse, other
	// Evidence is required for forgery, tamper and abuse: the revocation
	// then also goes into the integrity record (诚信档案).
	Evidence string `json:"evidence"`
}

func (s *server) revokeCertificate(w http.ResponseWriter, r *http.Request) {
	var req revokeCertificateRequest
	if err := DecodeJSON(r, &req); err != nil {
		WriteProblem(w, r, err)
		return
	}
	reason, err := text("reason", req.Reason, true, 500)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	if req.Category == "" {
		req.Category = registry.RevokeError
	}
	evidence, err := text("evidence", req.Evidence, req.Category.MakesIntegrityRecord(), 2000)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	c, err := s.certs.Revoke(r.Context(), caller(r), chi.URLParam(r, "number"), req.Category, reason, evidence)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, certificateView(c, s.Now()))
}

func (s *server) reissueCertificate(w http.ResponseWriter, r *http.Request) {
	req, err := decodeAppointment(r)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	issued, err := s.certs.Reissue(r.Context(), caller(r), chi.URLParam(r, "number"), req)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	out := certificateView(issued.Certificate, s.Now())
	out.VerifyURL = issued.VerifyURL
	WriteJSON(w, http.StatusCreated, out)
}

// --- batches ----------------------------------------------------------------

func (s *server) createBatch(w http.ResponseWriter, r *http.Request) {
	unitID, err := strconv.ParseInt(r.URL.Query().Get("unit_id"), 10, 64)
	p := principal(r)
	if p.Role == registry.RoleUnit && (err != nil || unitID == 0) {
		unitID, err = p.UnitID, nil
	}
	if err != nil || unitID <= 0 {
		WriteProblem(w, r, registry.FieldErr("unit_id", "pass ?unit_id= for the unit the batch is for"))
		return
	}
	if !p.CanUnit(unitID) {
		WriteProblem(w, r, registry.NotFound("unit", unitID))
		return
	}
	switch mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt {
	case batchfile.ContentTypeJSON, batchfile.ContentTypeCSV, batchfile.ContentTypeXLSX:
	default:
		WriteProblem(w, r, registry.Errf(CodeUnsupportedMediaType, "a batch must be application/json (JSON array), text/csv or %s (XLSX)", batchfile.ContentTypeXLSX))
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	b, rowErrs, err := s.Batches.Submit(r.Context(), signer.BatchSubmission{UnitID: unitID, ContentType: r.Header.Get("Content-Type"), Body: body,
		Actor: p.Actor(), RequestID: RequestIDFrom(r.Context()), IdempotencyKey: r.Header.Get("Idempotency-Key")})
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	if len(rowErrs) > 0 {
		// A row may have several problems: count the rows apart.
		rows := map[int]bool{}
		for _, e := range rowErrs {
			rows[e.Row] = true
		}
		WriteProblemWith(w, r, registry.Errf(registry.CodeInvalid, "invalid rows: %d (problems: %d); nothing was issued", len(rows), len(rowErrs)),
			map[string]any{"errors": rowErrs})
		return
	}
	w.Header().Set("Location", fmt.Sprintf("/api/v1/certificate-batches/%d", b.ID))
	WriteJSON(w, http.StatusAccepted, b)
}

func (s *server) loadBatch(ctx context.Context, tx registry.Tx, p Principal, r *http.Request) (registry.Batch, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return registry.Batch{}, err
	}
	b, err := tx.Batch(ctx, id)
	if err == nil && !p.CanUnit(b.UnitID) {
		err = registry.NotFound("batch", id)
	}
	return b, err
}

func (s *server) getBatch(w http.ResponseWriter, r *http.Request) {
	var b registry.Batch
	err := s.Store.View(r.Context(), func(tx registry.Tx) (err error) {
		b, err = s.loadBatch(r.Context(), tx, principal(r), r)
		return err
	})
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, b)
}

func (s *server) getBatchRows(w http.ResponseWriter, r *http.Request) {
	state := registry.BatchRowState(r.URL.Query().Get("state"))
	switch state {
	case "", registry.RowPending, registry.RowIssued, registry.RowFailed:
	default:
		WriteProblem(w, r, registry.FieldErr("state", "must be pending, issued or failed"))
		return
	}
	var rows []registry.BatchRow
	err := s.Store.View(r.Context(), func(tx registry.Tx) error {
		b, err := s.loadBatch(r.Context(), tx, principal(r), r)
		if err != nil {
			return err
		}
		rows, err = tx.BatchRows(r.Context(), b.ID, state)
		return err
	})
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, listJSON[registry.BatchRow]{Items: rows})
}

func pemCert(der []byte) string {
	if len(der) == 0 {
		return ""
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
