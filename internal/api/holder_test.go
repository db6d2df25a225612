package api

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/certseal/certseal/registry"
)

type holderItem struct {
	Number            string             `json:"number"`
	Version           int                `json:"version"`
	Status            registry.CertState `json:"status"`
	DownloadURL       string             `json:"download_url"`
	DownloadExpiresAt *time.Time         `json:"download_expires_at"`
}

// holderCerts asks the holder route as the platform.
func holderCerts(t *testing.T, w *e2eWorld, idNumber string) []holderItem {
	t.Helper()
	var l cursorList[holderItem]
	rec := w.must(call{method: "GET", path: "/api/v1/holder-certificates", key: w.platform, header: map[string]string{HolderIDHeader: idNumber}}, http.StatusOK, &l)
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("holder links may be cached: Cache-Control %q", rec.Header().Get("Cache-Control"))
	}
	return l.Items
}

// pathOf is the link without the base, as the test's handler takes it.
func pathOf(t *testing.T, link string) string {
	t.Helper()
	if !strings.HasPrefix(link, e2eBaseURL+"/download/") {
		t.Fatalf("download link %q is not under the public address", link)
	}
	return strings.TrimPrefix(link, e2eBaseURL)
}

func TestHolderDownloadLink(t *testing.T) {
	w := newWorld(t)
	// The holder of A's certificate also has one from B.
	fromB := w.issue(w.b.key, withField(w.appointment(w.b.ID), "id_number", w.a.holder))
	revoked := w.issue(w.b.key, withField(withField(w.appointment(w.b.ID), "id_number", w.a.holder), "level", "中级"))
	w.must(call{method: "POST", path: "/api/v1/certificates/" + revoked.Number + "/revoke", key: w.b.key, body: map[string]any{"reason": "误发"}}, http.StatusOK, nil)

	items := holderCerts(t, w, strings.ToLower(w.a.holder))
	byNumber := map[string]holderItem{}
	for _, it := range items {
		byNumber[it.Number] = it
	}
	if len(items) != 3 || byNumber[w.a.cert].DownloadURL == "" || byNumber[fromB.Number].DownloadURL == "" {
		t.Fatalf("the holder's certificates: %+v", items)
	}
	if it := byNumber[revoked.Number]; it.Status != registry.CertRevoked || it.DownloadURL != "" {
		t.Errorf("a revoked certificate is handed out: %+v", it)
	}
	if len(holderCerts(t, w, w.b.holder)) != 1 {
		t.Errorf("another holder sees more than theirs")
	}
	own := byNumber[w.a.cert]
	if want := w.clock.Now().Add(15 * time.Minute); own.DownloadExpiresAt == nil || own.DownloadExpiresAt.After(want) || own.DownloadExpiresAt.Before(want.Add(-time.Minute)) {
		t.Errorf("link expires at %v, want about %v", own.DownloadExpiresAt, want)
	}
	link := pathOf(t, own.DownloadURL)
	if strings.Contains(link, w.a.holder) || strings.Contains(strings.ToLower(link), strings.ToLower(w.a.holder)) {
		t.Fatalf("the link carries the ID number: %s", link)
	}

	// While valid: the PDF, without an API key, the very one registered.
	want := w.must(call{method: "GET", path: "/api/v1/certificates/" + w.a.cert + "/pdf", key: w.platform}, http.StatusOK, nil).Body.Bytes()
	rec := w.must(call{method: "GET", path: link}, http.StatusOK, nil)
	if !bytes.Equal(rec.Body.Bytes(), want) || rec.Header().Get("Content-Type") != "application/pdf" {
		t.Errorf("download: %s, %d bytes", rec.Header().Get("Content-Type"), rec.Body.Len())
	}

	// t is VERSION.EXPIRES.SIGNATURE.
	parts := func(link string) []string {
		u, _ := url.Parse(link)
		return strings.Split(u.Query().Get("t"), ".")
	}
	withT := func(link string, p []string) string {
		base, _, _ := strings.Cut(link, "?")
		return base + "?t=" + strings.Join(p, ".")
	}
	mine := parts(link)
	tamper := func(i int, v string) string {
		p := slices.Clone(mine)
		p[i] = v
		return withT(link, p)
	}
	otherLink := pathOf(t, byNumber[fromB.Number].DownloadURL)
	for _, tc := range []struct{ name, path string }{
		{"later expiry", tamper(1, "4102444800")},
		{"another version", tamper(0, "2")},
		{"another certificate", strings.Replace(link, w.a.cert, fromB.Number, 1)},
		{"another link's signature", withT(otherLink, append(parts(otherLink)[:2:2], mine[2]))},
		{"no signature", tamper(2, "")},
		{"not three parts", withT(link, mine[:2])},
		{"a number that is no number", strings.Replace(link, w.a.cert, "37202600000001X", 1)},
	} {
		rec := w.do(call{method: "GET", path: tc.path})
		if p := wantProblem(t, rec, http.StatusForbidden, CodeLinkInvalid, ""); !strings.Contains(p.Detail, "下载链接") {
			t.Errorf("%s: %q does not say what to do", tc.name, p.Detail)
		}
	}
	// A browser is told in words, on the lookup page.
	rec = w.do(call{method: "GET", path: tamper(1, "4102444800"), header: map[string]string{"Accept": "text/html"}})
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "重新获取") || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Errorf("a browser with an altered link: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}

	// Revoked after the link was made: no download.
	w.must(call{method: "POST", path: "/api/v1/certificates/" + fromB.Number + "/revoke", key: w.b.key, body: map[string]any{"reason": "误发"}}, http.StatusOK, nil)
	wantProblem(t, w.do(call{method: "GET", path: otherLink}), http.StatusConflict, registry.CodeIllegalTransition, "")

	// Expired: refused, saying so.
	w.clock.Set(own.DownloadExpiresAt.Add(-time.Second))
	w.must(call{method: "GET", path: link}, http.StatusOK, nil) // the last moment
	w.clock.Set(own.DownloadExpiresAt.Add(time.Second))
	if p := wantProblem(t, w.do(call{method: "GET", path: link}), http.StatusGone, CodeLinkExpired, ""); !strings.Contains(p.Detail, "过期") {
		t.Errorf("expired link: %q", p.Detail)
	}

	// The holder route needs the ID number, in the header.
	wantProblem(t, w.do(call{method: "GET", path: "/api/v1/holder-certificates", key: w.platform}), 422, registry.CodeInvalid, HolderIDHeader)

	// A link made by another installation (another KEK) is not one of ours.
	other := newE2E(t)
	d := other.deps
	d.Store = w.store
	foreign := New(d)
	var l cursorList[holderItem]
	req := call{method: "GET", path: "/api/v1/holder-certificates", key: other.platformKeyOn(w.store), header: map[string]string{HolderIDHeader: w.b.holder}}
	other.h = foreign
	other.must(req, http.StatusOK, &l)
	if len(l.Items) != 1 {
		t.Fatalf("B's holder through the other installation: %+v", l.Items)
	}
	wantProblem(t, w.do(call{method: "GET", path: pathOf(t, l.Items[0].DownloadURL)}), http.StatusForbidden, CodeLinkInvalid, "")
}

// platformKeyOn makes a platform key in another store.
func (e *e2eEnv) platformKeyOn(s registry.Store) string {
	e.t.Helper()
	key, _, err := CreateAPIKey(context.Background(), s, registry.APIKey{Role: registry.RolePlatform}, "test", "", time.Now())
	must(e.t, err)
	return key
}

// The verification page of a valid certificate offers its PDF only when
// the platform allows it; the button posts back to the page's address.
func TestVerifyPageOffersPDF(t *testing.T) {
	for _, offer := range []bool{false, true} {
		w := newWorld(t)
		w.verifier.OfferPDF = offer
		page := "/v/" + w.a.cert + "?k=" + url.QueryEscape(w.a.token)
		html := map[string]string{"Accept": "text/html"}
		body := w.must(call{method: "GET", path: page, header: html}, http.StatusOK, nil).Body.String()
		if got := strings.Contains(body, `<form method="post"`) && strings.Contains(body, "下载证书 PDF"); got != offer {
			t.Errorf("offer %v: the page offers the PDF: %v", offer, got)
		}
		if strings.Contains(body, w.a.token) {
			t.Errorf("the page holds its token")
		}
		rec := w.do(call{method: "POST", path: page, header: html})
		if !offer {
			if rec.Code != http.StatusNotFound {
				t.Errorf("download not offered: %d", rec.Code)
			}
			continue
		}
		want := w.must(call{method: "GET", path: "/api/v1/certificates/" + w.a.cert + "/pdf", key: w.platform}, http.StatusOK, nil).Body.Bytes()
		if rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), want) || !strings.Contains(rec.Header().Get("Content-Disposition"), w.a.cert+".pdf") {
			t.Errorf("download from the page: %d, %d bytes", rec.Code, rec.Body.Len())
		}
		// A wrong token, or a certificate no longer valid: the same 404.
		wantProblem(t, w.do(call{method: "POST", path: "/v/" + w.a.cert + "?k=wrong"}), http.StatusNotFound, registry.CodeNotFound, "")
		w.must(call{method: "POST", path: "/api/v1/certificates/" + w.a.cert + "/revoke", key: w.a.key, body: map[string]any{"reason": "误发"}}, http.StatusOK, nil)
		revokedPage := w.must(call{method: "GET", path: page, header: html}, http.StatusOK, nil).Body.String()
		if strings.Contains(revokedPage, "下载证书 PDF") {
			t.Errorf("a revoked certificate's page offers the PDF")
		}
		rec = w.do(call{method: "POST", path: page})
		if p := wantProblem(t, rec, http.StatusNotFound, registry.CodeNotFound, ""); p.Detail != "no certificate PDF to download here: scan the QR code of a valid certificate" {
			t.Errorf("revoked: %q", p.Detail)
		}
	}
}

// The holder's ID number reaches the service in a header only, and the
// service writes it nowhere: not in its log, at any level, whether the
// lookup works or is refused.
func TestHolderIDNumberIsNotLogged(t *testing.T) {
	w := newWorld(t)
	var logs bytes.Buffer
	d := w.deps
	d.Log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w.h = New(d)
	for _, c := range []call{
		{method: "GET", path: "/api/v1/holder-certificates", key: w.platform, header: map[string]string{HolderIDHeader: w.a.holder}},
		{method: "GET", path: "/api/v1/certificates?status=valid", key: w.a.key, header: map[string]string{HolderIDHeader: w.a.holder}},
		{method: "GET", path: "/api/v1/certificates?status=nonsense", key: w.a.key, header: map[string]string{HolderIDHeader: w.a.holder}},
		{method: "GET", path: "/api/v1/holder-certificates", key: w.reviewer[weihai], header: map[string]string{HolderIDHeader: w.a.holder}},
		{method: "GET", path: "/api/v1/certificates", key: w.a.key, header: map[string]string{HolderIDHeader: w.a.holder[:17]}},
	} {
		w.do(c)
	}
	if !strings.Contains(logs.String(), "/api/v1/holder-certificates") {
		t.Fatalf("nothing was logged:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), w.a.holder) || strings.Contains(logs.String(), w.a.holder[:17]) {
		t.Errorf("the log holds the ID number:\n%s", logs.String())
	}
}
