package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/certseal/certseal/registry"
)

// Codes of the holder's download links.
const (
	CodeLinkExpired registry.Code = "link_expired" // 410: ask the platform for a new link
	CodeLinkInvalid registry.Code = "link_invalid" // 403: altered, or made by another installation
)

// downloadLinks signs and checks the links the platform hands a logged-in
// holder: one certificate version (so one holder), until an expiry. The
// signature is checked before anything is looked up, so a forged link
// costs no database read and its answer time says nothing about whether
// the number exists.
type downloadLinks struct {
	key  []byte
	ttl  time.Duration
	base string
}

func (d downloadLinks) mac(number string, version int, expires int64) []byte {
	m := hmac.New(sha256.New, d.key)
	fmt.Fprintf(m, "certseal download v2\x00%s\x00%d\x00%d", number, version, expires)
	return m.Sum(nil)
}

// link is the address that downloads c's PDF until now+ttl, and that
// time. Its one parameter t is VERSION.EXPIRES.SIGNATURE (expiry in Unix
// seconds, signature in base64url): one value, plain in any JSON.
func (d downloadLinks) link(c registry.Certificate, now time.Time) (string, time.Time) {
	expires := now.Add(d.ttl).Truncate(time.Second)
	t := fmt.Sprintf("%d.%d.%s", c.Version, expires.Unix(), base64.RawURLEncoding.EncodeToString(d.mac(c.Number, c.Version, expires.Unix())))
	return d.base + "/download/" + c.Number + "?t=" + t, expires
}

// linkParams reads what a link says, before anything is looked up.
func linkParams(r *http.Request) (version int, expires int64, sig []byte, err error) {
	parts := strings.Split(r.URL.Query().Get("t"), ".")
	if len(parts) == 3 {
		v, err1 := strconv.Atoi(parts[0])
		e, err2 := strconv.ParseInt(parts[1], 10, 64)
		s, err3 := base64.RawURLEncoding.DecodeString(parts[2])
		if err1 == nil && err2 == nil && err3 == nil && v >= 1 && len(s) == sha256.Size {
			return v, e, s, nil
		}
	}
	return 0, 0, nil, registry.Errf(CodeLinkInvalid, "this download link is incomplete or was altered: 下载链接不完整或已被改动，请回到平台重新获取")
}

// downloadByLink serves the PDF a link names, without an API key.
func (s *server) downloadByLink(w http.ResponseWriter, r *http.Request) {
	version, expires, sig, err := linkParams(r)
	if err != nil {
		s.publicProblem(w, r, err, lookupView{})
		return
	}
	number := chi.URLParam(r, "number")
	if !hmac.Equal(sig, s.links.mac(number, version, expires)) {
		s.publicProblem(w, r, registry.Errf(CodeLinkInvalid, "this download link was altered or made by another installation: 下载链接无效，请回到平台重新获取"), lookupView{})
		return
	}
	// Checked after the signature, so the expiry itself is trusted.
	if !s.Now().Before(time.Unix(expires, 0)) {
		s.publicProblem(w, r, registry.Errf(CodeLinkExpired, "this download link expired at %s: 下载链接已过期，请回到平台重新获取",
			time.Unix(expires, 0).In(registry.ChinaTZ).Format("2006-01-02 15:04")), lookupView{})
		return
	}
	var pdf []byte
	var c registry.Certificate
	err = s.Store.View(r.Context(), func(tx registry.Tx) (err error) {
		n, err := registry.ParseCertNumber(number)
		if err == nil {
			c, err = tx.CertificateVersion(r.Context(), n, version)
		}
		if err != nil {
			return err
		}
		switch st := registry.CertStatusOn(c, registry.Today(s.Now())); st {
		case registry.CertValid, registry.CertExpired:
		default:
			return registry.Errf(registry.CodeIllegalTransition, "certificate %s version %d is %s since the link was made: 该证书已撤销或已更正，不再提供下载", c.Number, c.Version, st)
		}
		pdf, err = tx.CertificatePDF(r.Context(), c.Number, c.Version)
		return err
	})
	if err != nil {
		s.publicProblem(w, r, err, lookupView{})
		return
	}
	writePDF(w, c.Number, pdf)
}

// downloadByToken serves the PDF from the verification page's button,
// which posts back to the page's own address (/v/{number}?k=TOKEN).
func (s *server) downloadByToken(w http.ResponseWriter, r *http.Request) {
	number := chi.URLParam(r, "number")
	if r.PostFormValue("receipt") != "" { // the page's receipt button
		s.receiptFor(w, r, number, r.URL.Query().Get("k"), "")
		return
	}
	c, pdf, err := s.Verifier.PDFByToken(r.Context(), number, r.URL.Query().Get("k"))
	if err != nil {
		s.publicProblem(w, r, err, lookupView{Number: number})
		return
	}
	writePDF(w, c.Number, pdf)
}

func writePDF(w http.ResponseWriter, name string, pdf []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/pdf")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.pdf"`, name))
	h.Set("Content-Length", strconv.Itoa(len(pdf)))
	h.Set("Cache-Control", "no-store")
	w.Write(pdf)
}

// holderCertificates lists the certificates of the holder named by
// HolderIDHeader, across units, newest version of each, with a download
// link for those that are valid or whose term ended (a revoked or
// corrected version is not handed out).
func (s *server) holderCertificates(w http.ResponseWriter, r *http.Request) {
	page, err := cursorPage(r)
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	id, err := holderIDNumber(r)
	if err == nil && id == "" {
		err = &registry.Error{Code: registry.CodeInvalid, Field: HolderIDHeader, Msg: "send the holder's ID number in this header"}
	}
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	var list []registry.Certificate
	err = s.Store.View(r.Context(), func(tx registry.Tx) (err error) {
		list, err = tx.ListCertificates(r.Context(), registry.CertFilter{HolderIDNumber: id, LatestOnly: true, WithoutPhoto: true, Page: page})
		return err
	})
	if err != nil {
		WriteProblem(w, r, err)
		return
	}
	now := s.Now()
	out := make([]certificateJSON, len(list))
	for i, c := range list {
		out[i] = certificateView(c, now)
		if st := out[i].Status; st == registry.CertValid || st == registry.CertExpired {
			link, expires := s.links.link(c, now)
			out[i].DownloadURL, out[i].DownloadExpiresAt = link, &expires
		}
	}
	w.Header().Set("Cache-Control", "no-store") // the links are for one holder
	writeCursorList(w, out, page, func(i int) int64 { return list[i].RowID })
}
