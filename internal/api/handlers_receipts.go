package api

import (
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/signer"
	"github.com/certseal/certseal/verify"
)

// VerificationRecorder notes public verifications for the holder's view
// (verify.Recorder does). Record must not block: it runs on the public
// verification page.
type VerificationRecorder interface {
	Record(kind registry.VerificationKind, number string, outcome registry.CertState, client string, at time.Time)
}

// record notes a verification; with no recorder configured, nothing.
func (s *server) record(r *http.Request, kind registry.VerificationKind, number string, outcome registry.CertState) {
	if s.Recorder != nil {
		s.Recorder.Record(kind, number, outcome, s.clientAddr(r), requestTime(r.Context(), s.Now))
	}
}

// recordUpload notes an upload of a registered certificate version, or of
// a receipt (which the holder sees as a receipt check).
func (s *server) recordUpload(r *http.Request, ans verify.UploadAnswer) {
	switch {
	case ans.Certificate != nil:
		s.record(r, registry.VerifiedByUpload, ans.Certificate.Number, ans.Certificate.Status)
	case ans.Receipt != nil && ans.Receipt.Receipt != nil:
		s.record(r, registry.VerifiedByReceipt, ans.Receipt.Receipt.Number, ans.Receipt.Certificate.Status)
	}
}

// clientAddr is the client's address as the rate limit sees it, without
// parsing (no allocation): the recorder only hashes it.
func (s *server) clientAddr(r *http.Request) string {
	if s.TrustProxy {
		if last, ok := lastForwardedFor(r); ok {
			return last
		}
	}
	a := r.RemoteAddr
	if i := strings.LastIndexByte(a, ':'); i > 0 && !strings.HasSuffix(a, "]") {
		a = a[:i] // the port changes with every connection
	}
	return a
}

// receiptJSON is a receipt's JSON form: the receipt, and the JWS that
// signs it (POST it to /v/receipt, or check it offline: x5c chains to the
// platform root).
type receiptJSON struct {
	Receipt registry.Receipt `json:"receipt"`
	URL     string           `json:"url"`
	PDFURL  string           `json:"pdf_url"`
	JWS     string           `json:"jws"`
}

// issueReceipt gives whoever verified a certificate (QR token k, or the
// holder's name) a signed receipt of the answer: the PDF, or for Accept:
// application/json the JWS form. Nothing found answers as an unknown
// certificate does.
func (s *server) issueReceipt(w http.ResponseWriter, r *http.Request) {
	s.receiptFor(w, r, chi.URLParam(r, "number"), r.PostFormValue("k"), r.PostFormValue("name"))
}

// receiptFor issues the receipt of a lookup by token, or by name.
func (s *server) receiptFor(w http.ResponseWriter, r *http.Request, number, token, name string) {
	if s.Receipts == nil {
		WriteProblem(w, r, registry.Errf(registry.CodeNotFound, "this installation gives no receipts"))
		return
	}
	format := answerFormat(w, r, verify.HTML) // HTML: the PDF, and problems on the page
	facts, statusText, err := s.Verifier.ReceiptFacts(r.Context(), number, token, name)
	if err != nil {
		s.problemAs(w, r, format, err, lookupView{Number: number})
		return
	}
	issued, err := s.Receipts.Issue(r.Context(), facts, statusText, RequestIDFrom(r.Context()))
	if err != nil {
		s.problemAs(w, r, format, err, lookupView{Number: number})
		return
	}
	if format == verify.JSON {
		WriteJSON(w, http.StatusCreated, receiptJSON{Receipt: issued.Receipt, URL: issued.URL, PDFURL: issued.URL + "/pdf", JWS: issued.JWS})
		return
	}
	writePDF(w, "receipt-"+issued.Receipt.Serial, issued.PDF)
}

// checkReceipt is a receipt's public address: is it genuine, what did it
// record, and what is the certificate's status now.
func (s *server) checkReceipt(w http.ResponseWriter, r *http.Request) {
	format := answerFormat(w, r, verify.HTML)
	ans, err := s.Verifier.CheckReceipt(r.Context(), chi.URLParam(r, "serial"))
	s.answerReceipt(w, r, format, ans, err)
}

// receiptPDF serves a receipt's signed PDF again, to whoever has its serial.
func (s *server) receiptPDF(w http.ResponseWriter, r *http.Request) {
	serial := chi.URLParam(r, "serial")
	var pdf []byte
	err := s.Store.View(r.Context(), func(tx registry.Tx) (err error) {
		pdf, _, err = tx.ReceiptFiles(r.Context(), serial)
		return err
	})
	if err != nil {
		s.publicProblem(w, r, err, lookupView{})
		return
	}
	writePDF(w, "receipt-"+serial, pdf)
}

// checkReceiptJWS checks a receipt's JSON form, as issueReceipt gave it
// (or only its "jws").
func (s *server) checkReceiptJWS(w http.ResponseWriter, r *http.Request) {
	format := answerFormat(w, r, verify.JSON)
	var body receiptJSON
	if err := DecodeJSON(r, &body); err != nil {
		s.problemAs(w, r, format, err, lookupView{})
		return
	}
	if body.JWS == "" {
		s.problemAs(w, r, format, registry.FieldErr("jws", "send the receipt's JSON form, with its \"jws\""), lookupView{})
		return
	}
	ans, err := s.Verifier.CheckReceiptJWS(r.Context(), body.JWS)
	s.answerReceipt(w, r, format, ans, err)
}

func (s *server) answerReceipt(w http.ResponseWriter, r *http.Request, format verify.Format, ans verify.ReceiptAnswer, err error) {
	if err != nil {
		s.Metrics.Verification("error")
		s.problemAs(w, r, format, err, lookupView{})
		return
	}
	s.Metrics.Verification("receipt_" + ans.Indication)
	status := http.StatusOK
	if ans.Receipt == nil {
		status = http.StatusNotFound
	} else {
		s.record(r, registry.VerifiedByReceipt, ans.Receipt.Number, ans.Certificate.Status)
	}
	if format == verify.HTML {
		s.writeLookupPage(w, r, status, lookupView{Upload: receiptInWords(ans)})
		return
	}
	WriteJSON(w, status, ans)
}

// receiptInWords is a receipt's verdict for the page.
func receiptInWords(ans verify.ReceiptAnswer) *uploadView {
	v := &uploadView{Message: ans.Message, Certificate: ans.Certificate, Word: "回执无效", Class: "bad"}
	if ans.Indication == verify.Passed {
		v.Word, v.Class = "回执真实", "good"
	}
	return v
}

// --- the holder's view (platform) -------------------------------------------

// listVerifications lists the public verifications of a certificate: when
// and how (scan, typed, upload, receipt) and what the answer said; never
// who looked.
func (s *server) listVerifications(w http.ResponseWriter, r *http.Request) {
	page, err := pageOf(r)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	var out []registry.Verification
	err = s.Store.View(r.Context(), func(tx registry.Tx) error {
		c, err := signer.VisibleCertificate(r.Context(), tx, caller(r), chi.URLParam(r, "number"))
		if err != nil {
			return err
		}
		out, err = tx.ListVerifications(r.Context(), c.Number, page)
		return err
	})
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	writeList(w, out, page, func(i int) int64 { return out[i].ID })
}

// rotateToken invalidates a leaked QR token: the certificate is issued
// again with the same data, the same number and a new token. The
// commands' after-commit hook drops the old token's cached answer.
func (s *server) rotateToken(w http.ResponseWriter, r *http.Request) {
	issued, err := s.certs.RotateToken(r.Context(), caller(r), chi.URLParam(r, "number"))
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	out := certificateView(issued.Certificate, s.Now())
	out.VerifyURL = issued.VerifyURL
	WriteJSON(w, http.StatusCreated, out)
}

// WatchRecorder exports the verification recorder's counters: records
// written, repeats written as one, dropped (the buffer was full: the store
// is slow or down) and lost with a batch the store refused.
func (m *Metrics) WatchRecorder(stats func() verify.RecorderStats) {
	if m == nil {
		return
	}
	for _, c := range []struct {
		name, help string
		v          func(verify.RecorderStats) uint64
	}{
		{"certseal_verification_records_written_total", "Public verifications recorded for the holder's view.", func(s verify.RecorderStats) uint64 { return s.Written }},
		{"certseal_verification_records_coalesced_total", "Repeated verifications (one client, one certificate, one second) recorded as one.", func(s verify.RecorderStats) uint64 { return s.Coalesced }},
		{"certseal_verification_records_dropped_total", "Verification records dropped because the buffer was full (the store is slow or down).", func(s verify.RecorderStats) uint64 { return s.Dropped }},
		{"certseal_verification_records_failed_total", "Verification records lost with a batch the store refused.", func(s verify.RecorderStats) uint64 { return s.Failed }},
	} {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: c.name, Help: c.help},
			func() float64 { return float64(c.v(stats())) }))
	}
}
