package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/audit"
	"github.com/certseal/certseal/verify"
)

// TransparencyLog serves the log over the audit trail (verify.Log does).
type TransparencyLog interface {
	Checkpoint(ctx context.Context) ([]byte, audit.Checkpoint, error)
	Leaves(ctx context.Context, start, end int64) ([]verify.Leaf, error)
	Inclusion(ctx context.Context, index, size int64) (verify.Proof, error)
	Consistency(ctx context.Context, old, size int64) (verify.Proof, error)
	CertificateEntry(ctx context.Context, number, token string) (verify.CertificateEntry, error)
}

// logRoutes are the log's public routes; LogKey is its verifier key in
// note form, for auditors who check checkpoints.
func (s *server) logRoutes(r chi.Router) {
	r.Get("/log/checkpoint", s.logCheckpoint)
	r.Get("/log/key", func(w http.ResponseWriter, r *http.Request) { writeText(w, []byte(s.LogKey+"\n")) })
	r.Get("/log/leaves", s.logLeaves)
	r.Get("/log/proof/inclusion", s.logInclusion)
	r.Get("/log/proof/consistency", s.logConsistency)
	r.Get("/log/certificates/{number}", s.logCertificate)
}

func writeText(w http.ResponseWriter, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.Write(body)
}

func (s *server) logCheckpoint(w http.ResponseWriter, r *http.Request) {
	signed, _, err := s.TLog.Checkpoint(r.Context())
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	writeText(w, signed)
}

// sizeParam reads a non-negative integer query parameter; absent is 0.
func sizeParam(r *http.Request, name string) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, registry.FieldErr(name, "must be a whole number, 0 or more")
	}
	return n, nil
}

func (s *server) logLeaves(w http.ResponseWriter, r *http.Request) {
	start, err := sizeParam(r, "start")
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	end, err := sizeParam(r, "end")
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	if r.URL.Query().Get("end") == "" {
		end = start + 1000
	}
	leaves, err := s.TLog.Leaves(r.Context(), start, end)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, struct {
		Leaves []verify.Leaf `json:"leaves"`
	}{append([]verify.Leaf{}, leaves...)})
}

func (s *server) logInclusion(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("index") == "" {
		WriteProblem(w, r, registry.FieldErr("index", "give the leaf index"))
		return
	}
	s.logProof(w, r, "index", s.TLog.Inclusion)
}

func (s *server) logConsistency(w http.ResponseWriter, r *http.Request) {
	s.logProof(w, r, "old", s.TLog.Consistency)
}

// logProof answers a proof about the parameter named first in the tree of
// ?size= leaves.
func (s *server) logProof(w http.ResponseWriter, r *http.Request, first string, prove func(ctx context.Context, x, size int64) (verify.Proof, error)) {
	x, err := sizeParam(r, first)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	size, err := sizeParam(r, "size")
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	p, err := prove(r.Context(), x, size)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, p)
}

// logCertificate is a certificate version's log entry and its inclusion
// proof, found by the QR token as the verification page is.
func (s *server) logCertificate(w http.ResponseWriter, r *http.Request) {
	e, err := s.TLog.CertificateEntry(r.Context(), chi.URLParam(r, "number"), r.URL.Query().Get("k"))
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, e)
}

// withLogEntry adds the version's log entry to a JSON answer that found it.
func (s *server) withLogEntry(r *http.Request, resp verify.Response, number string) (verify.Response, error) {
	e, err := s.TLog.CertificateEntry(r.Context(), number, r.URL.Query().Get("k"))
	if errors.Is(err, verify.ErrNoSigningEvent) {
		// The status is still the answer: give it, and say what is amiss.
		s.Log.ErrorContext(r.Context(), "verification answer without its log entry", "number", number, "err", err)
		return resp, nil
	}
	if err != nil {
		return resp, err
	}
	return resp.WithMember("log", e)
}
