package api

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/certseal/certseal/keys"
	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/signer"
)

// The 国密 twin's routes (GB/T 38540): the SM2 trust anchors, each seal
// version's electronic seal, and each certificate version's seal
// signature.

// sesPublicRoutes mounts the public routes (inside the rate limit).
func (s *server) sesPublicRoutes(r chi.Router) {
	r.Get(keys.PathSM2Root, s.sm2Anchor(true))
	r.Get(keys.PathSM2Issuing, s.sm2Anchor(false))
	r.Get("/pki/seals/{id}/ses", s.getSESSeal)
	r.With(MaxBody(0)).Get("/v/{number}/ses", s.sesByToken)
}

// sm2Anchor serves the SM2 root (or issuing) certificate, DER.
func (s *server) sm2Anchor(root bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.SM2 == nil {
			NotFound(w, r)
			return
		}
		rootDER, issuingDER := s.SM2.Anchors()
		der := issuingDER
		if root {
			der = rootDER
		}
		w.Header().Set("Content-Type", "application/pkix-cert")
		w.Write(der)
	}
}

func writeSES(w http.ResponseWriter, name string, der []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.ses"`, name))
	h.Set("Content-Length", strconv.Itoa(len(der)))
	w.Write(der)
}

// getSESSeal serves a seal version's electronic seal (SES_Seal, DER):
// public, like the imprint printed on every certificate it signs.
func (s *server) getSESSeal(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil || id <= 0 {
		WriteProblem(w, r, registry.Errf(registry.CodeNotFound, "no seal %q", chi.URLParam(r, "id")))
		return
	}
	var twin registry.SM2Seal
	err = s.Store.View(r.Context(), func(tx registry.Tx) (err error) {
		twin, err = tx.SM2Seal(r.Context(), id)
		return err
	})
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	writeSES(w, fmt.Sprintf("seal-%d", id), twin.SESSeal)
}

// sesByToken serves the seal signature of the certificate version whose
// QR token is ?k=; anything else is the same 404.
func (s *server) sesByToken(w http.ResponseWriter, r *http.Request) {
	c, der, err := s.Verifier.SESByToken(r.Context(), chi.URLParam(r, "number"), r.URL.Query().Get("k"))
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeSES(w, fmt.Sprintf("%s-v%d", c.Number, c.Version), der)
}

// getCertificateSES serves a certificate version's seal signature to the
// platform (newest version, or ?version=).
func (s *server) getCertificateSES(w http.ResponseWriter, r *http.Request) {
	var der []byte
	var c registry.Certificate
	version := 0
	err := s.Store.View(r.Context(), func(tx registry.Tx) (err error) {
		if c, err = signer.VisibleCertificate(r.Context(), tx, caller(r), chi.URLParam(r, "number")); err != nil {
			return err
		}
		if version, err = versionParam(r, c); err != nil {
			return err
		}
		der, err = tx.CertificateSES(r.Context(), c.Number, version)
		return err
	})
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	writeSES(w, fmt.Sprintf("%s-v%d", c.Number, version), der)
}
