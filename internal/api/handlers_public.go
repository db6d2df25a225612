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
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/verify"
)

func (s *server) verifyByToken(w http.ResponseWriter, r *http.Request) {
	number, format := chi.URLParam(r, "number"), answerFormat(w, r, verify.HTML)
	resp, err := s.Verifier.ByToken(r.Context(), number, queryValue(r.URL.RawQuery, "k"), format)
	if err == nil && resp.Outcome == registry.CertUnknown && format == verify.HTML {
		// A number typed from paper, or a token lost on the way: the typed
		// lookup can still answer, so ask for the holder's name. A genuine
		// number and an unknown one get this same page after the same
		// lookup, which keeps numbers from being enumerated.
		s.Metrics.Verification(string(resp.Outcome))
		s.writeLookupPage(w, r, http.StatusOK, lookupView{Number: number, AskName: true})
		return
	}
	if err == nil && format == verify.JSON && resp.Status == http.StatusOK && s.TLog != nil {
		// The proof changes with every event: computed for JSON only,
		// after the cache, never into the cached page.
		resp, err = s.withLogEntry(r, resp, number)
	}
	s.answer(w, r, format, resp, err, lookupView{Number: number})
	s.record(r, registry.VerifiedByScan, number, resp.Outcome)
}

// verifyByName is the typed lookup; asked without a number and a name it
// is the page to type them into, for every client but one asking for JSON
// (browsers send many Accept headers, some without text/html).
func (s *server) verifyByName(w http.ResponseWriter, r *http.Request) {
	q, format := r.URL.Query(), answerFormat(w, r, verify.HTML)
	typed := lookupView{Number: q.Get("no"), Name: q.Get("name")}
	switch {
	case typed.Number == "" && typed.Name == "" && format == verify.HTML:
		s.writeLookupPage(w, r, http.StatusOK, typed)
		return
	case typed.Number == "" || typed.Name == "":
		s.problemAs(w, r, format, registry.FieldErr("no", "give the certificate number (no) and the holder's name (name)"), typed)
		return
	}
	resp, err := s.Verifier.ByName(r.Context(), typed.Number, typed.Name, format)
	s.answer(w, r, format, resp, err, typed)
	s.record(r, registry.VerifiedByTyped, typed.Number, resp.Outcome)
}

func (s *server) answer(w http.ResponseWriter, r *http.Request, format verify.Format, resp verify.Response, err error, typed lookupView) {
	if err != nil {
		// A database that cannot answer is 503, never "unknown".
		s.Metrics.Verification("error")
		s.problemAs(w, r, format, err, typed)
		return
	}
	s.Metrics.Verification(string(resp.Outcome))
	resp.WriteTo(w)
}

//go:embed lookup.html
var lookupHTML string

var lookupTemplate = template.Must(template.New("lookup").Parse(lookupHTML))

// lookupView is the page where an employer types a number and a name or
// uploads a PDF, with what came of the last try.
type lookupView struct {
	Number, Name string
	Problem      string // what was wrong, in words
	AskName      bool   // a number came without its token: ask for the name
	Upload       *uploadView
	Platform     string
}

// uploadView is an upload's verdict in words.
type uploadView struct {
	Word, Class, Message string
	Certificate          *verify.Answer
	SES                  *verify.SESVerdict // 国密签章, beside the PDF verdict
}

func (s *server) writeLookupPage(w http.ResponseWriter, r *http.Request, status int, v lookupView) {
	v.Platform = s.BaseURL
	var buf bytes.Buffer
	if err := lookupTemplate.Execute(&buf, v); err != nil {
		WriteProblem(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Robots-Tag", "noindex")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// publicProblem answers an error of a public route that answers JSON
// unless asked for the page (the downloads): problem+json, or for a
// browser the lookup page saying in words what went wrong.
func (s *server) publicProblem(w http.ResponseWriter, r *http.Request, err error, typed lookupView) {
	s.problemAs(w, r, answerFormat(w, r, verify.JSON), err, typed)
}

// problemAs answers an error in the format answerFormat chose for the
// request: problem+json, or the lookup page saying it in words.
func (s *server) problemAs(w http.ResponseWriter, r *http.Request, format verify.Format, err error, typed lookupView) {
	if format == verify.JSON {
		WriteProblem(w, r, err)
		return
	}
	p := pageProblem(w, r, err)
	typed.Problem = problemInWords(p)
	s.writeLookupPage(w, r, p.Status, typed)
}

// pageProblem is what WriteProblem does for a problem that a page will
// say in words: the log, the code for the access log, Retry-After.
func pageProblem(w http.ResponseWriter, r *http.Request, err error) Problem {
	p := problemFor(r, err)
	logServerError(r, p, err)
	setInfoCode(r.Context(), p.Code)
	if p.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	return p
}

// problemInWords says what went wrong for the employer at the page.
func problemInWords(p Problem) string {
	switch {
	case p.Code == string(registry.CodeUnavailable):
		return "暂时无法查询，请稍后再试。"
	case p.Code == string(CodeTooLarge):
		return "文件太大：请上传不超过 10 MB 的证书 PDF。"
	case p.Code == string(CodeUnsupportedMediaType), p.Field == "file":
		return "请选择要验证的证书 PDF 文件。"
	case p.Field == "number" || (p.Field == "no" && p.Code == string(registry.CodeInvalid) && strings.Contains(p.Detail, "check")):
		return "证书编号有误，请核对后重新输入：最后一位是校验位，常见原因是输错或颠倒了数字。"
	case p.Field == "no":
		return "请填写证书编号和持证人姓名。"
	}
	return "请求有误（" + p.Title + "）：" + p.Detail
}

// uploadInWords is an upload's verdict for the page.
func uploadInWords(ans verify.UploadAnswer) *uploadView {
	v := &uploadView{Message: ans.Message, Certificate: ans.Certificate, SES: ans.SES}
	switch ans.Indication {
	case verify.Passed:
		v.Word, v.Class = "验证通过", "good"
	case verify.Failed:
		v.Word, v.Class = "验证未通过", "bad"
	default:
		v.Word, v.Class = "无法判定", "unsure"
	}
	return v
}

// verifyUpload takes a PDF as the raw body or as the multipart field "file".
func (s *server) verifyUpload(w http.ResponseWriter, r *http.Request) {
	// JSON unless asked for the page: the page's form is a browser's.
	format := answerFormat(w, r, verify.JSON)
	pdf, err := uploadedPDF(r)
	if err != nil {
		s.problemAs(w, r, format, err, lookupView{})
		return
	}
	ans, err := s.Verifier.CheckUpload(r.Context(), pdf)
	if err != nil {
		s.Metrics.Verification("error")
		s.problemAs(w, r, format, err, lookupView{})
		return
	}
	s.Metrics.Verification("upload_" + ans.Indication)
	s.recordUpload(r, ans)
	if claimed := r.URL.Query().Get("no"); claimed != "" {
		number, err := registry.ParseCertNumber(claimed)
		if err != nil {
			s.problemAs(w, r, format, err, lookupView{})
			return
		}
		if suspicious(ans, number) {
			s.noteSuspectedForgery(r, number, ans)
		}
	}
	if format == verify.HTML {
		s.writeLookupPage(w, r, http.StatusOK, lookupView{Upload: uploadInWords(ans)})
		return
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
// into the integrity record of the certificate's unit (经查证属实的 cases
// are the unit's revocations). Nothing about the uploader is kept.
func (s *server) recordSuspectedForgery(r *http.Request, number string, ans verify.UploadAnswer) error {
	evidence := fmt.Sprintf("suspected forgery, not verified: uploaded PDF sha256 %s is not a registered version of %s (verdict %s %s)",
		ans.SHA256, number, ans.Indication, ans.SubIndication)
	c := registry.Caller{Actor: "public upload", RequestID: RequestIDFrom(r.Context())}
	return s.certs.NoteSuspectedForgery(r.Context(), c, number, ans.SHA256, evidence, suspectedForgeriesPerDay)
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
	writeCatalogJSON(w, out, page)
}

func writeCatalogJSON(w http.ResponseWriter, out []catalogEntry, page registry.Page) {
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

// catalogPage is GET /catalog: the page, or for a client asking for JSON
// what GET /api/v1/catalog answers; a problem comes the same way.
func (s *server) catalogPage(w http.ResponseWriter, r *http.Request) {
	format := answerFormat(w, r, verify.HTML)
	out, page, err := s.catalog(r)
	switch {
	case err != nil && format == verify.JSON:
		WriteProblem(w, r, err)
		return
	case format == verify.JSON:
		writeCatalogJSON(w, out, page)
		return
	}
	status, view := http.StatusOK, map[string]any{"Entries": out, "Today": registry.Today(s.Now()), "Query": r.URL.Query(),
		"Next": page.AfterID, "Generated": s.Now().In(registry.ChinaTZ).Format(time.DateTime)}
	if err != nil {
		p := pageProblem(w, r, err)
		status, view["Problem"] = p.Status, problemInWords(p)
	}
	var b bytes.Buffer
	if err := catalogTemplate.Execute(&b, view); err != nil {
		WriteProblem(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}
