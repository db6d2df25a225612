package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/certseal/certseal/internal/testenv"
	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/postgres"
	"github.com/certseal/certseal/verify"
)

// onEachStore runs fn on a populated world over SQLite and over
// PostgreSQL (CERTSEAL_TEST_DATABASE_URL; skipped without it, failed
// under CI=true).
func onEachStore(t *testing.T, fn func(t *testing.T, w *e2eWorld)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, oneUnitWorld(newE2E(t))) })
	t.Run("postgresql", func(t *testing.T) {
		url := testenv.PostgresURL(t)
		fn(t, oneUnitWorld(newE2EOn(t, nil, func(pii *registry.PII) registry.Store {
			s, err := postgres.Open(context.Background(), url, pii)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		})))
	})
}

// form is a POSTed form body.
func form(v url.Values) (string, map[string]string) {
	return v.Encode(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
}

func (w *e2eWorld) certPDF(number string, key string) []byte {
	w.t.Helper()
	return w.must(call{method: "GET", path: "/api/v1/certificates/" + number + "/pdf", key: key}, http.StatusOK, nil).Body.Bytes()
}

func (w *e2eWorld) upload(pdf []byte) verify.UploadAnswer {
	w.t.Helper()
	var ans verify.UploadAnswer
	w.must(call{method: "POST", path: "/v/pdf", body: pdf, header: map[string]string{"Content-Type": "application/pdf"}}, http.StatusOK, &ans)
	return ans
}

// oneUnitWorld is a world with unit A only: these tests need no other,
// and each unit costs signatures.
func oneUnitWorld(e *e2eEnv) *e2eWorld {
	w := &e2eWorld{e2eEnv: e}
	w.platform = w.platformKey()
	w.reviewer = map[string]string{weihai: w.reviewerKey(weihai)}
	w.a = w.newUnit("威海示范大学", weihai)
	return w
}

// withoutTime drops the answer's server time (the test clock moves).
func withoutTime(body string) string {
	return serverTime.ReplaceAllString(body, "TIME")
}

var serverTime = regexp.MustCompile(`"server_time":"[^"]*"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d`)

// receipt asks for a receipt of u's certificate by its QR token.
func (w *e2eWorld) receipt(u *e2eUnit, accept string) *http.Response {
	w.t.Helper()
	body, h := form(url.Values{"k": {u.token}})
	h["Accept"] = accept
	return w.must(call{method: "POST", path: "/v/" + u.cert + "/receipt", body: body, header: h}, map[bool]int{true: 201, false: 200}[accept == "application/json"], nil).Result()
}

func TestReceipt(t *testing.T) { onEachStore(t, testReceipt) }

func testReceipt(t *testing.T, w *e2eWorld) {
	u := w.a

	// The PDF form: a signed PDF that an upload recognises as a receipt.
	resp := w.receipt(u, "")
	var pdf bytes.Buffer
	pdf.ReadFrom(resp.Body)
	if ct := resp.Header.Get("Content-Type"); ct != "application/pdf" || !bytes.HasPrefix(pdf.Bytes(), []byte("%PDF-")) {
		t.Fatalf("receipt: %s, %q", ct, pdf.Bytes()[:min(pdf.Len(), 20)])
	}
	ans := w.upload(pdf.Bytes())
	if ans.Indication != verify.Passed || ans.Receipt == nil || ans.Receipt.Receipt == nil || ans.Certificate != nil {
		t.Fatalf("upload of a receipt: %+v", ans)
	}
	rc := ans.Receipt.Receipt
	if rc.Number != u.cert || rc.Status != registry.CertValid || rc.HolderName != "王晓明" || rc.Kind != registry.VerifiedByScan ||
		ans.Receipt.Certificate.Status != registry.CertValid || ans.TimestampStatus != verify.TimestampValid {
		t.Fatalf("receipt as uploaded: %+v %+v (timestamp %s)", rc, ans.Receipt.Certificate, ans.TimestampStatus)
	}

	// The JSON form: a JWS the platform checks, and its public address.
	var js receiptJSON
	resp = w.receipt(u, "application/json")
	if err := json.NewDecoder(resp.Body).Decode(&js); err != nil {
		t.Fatal(err)
	}
	if js.URL != e2eBaseURL+"/r/"+js.Receipt.Serial || js.Receipt.Serial == rc.Serial || len(js.Receipt.Serial) != 19 {
		t.Fatalf("receipt JSON: %+v (first serial %s)", js, rc.Serial)
	}
	var byJWS, byURL verify.ReceiptAnswer
	w.must(call{method: "POST", path: "/v/receipt", body: js}, http.StatusOK, &byJWS)
	w.must(call{method: "GET", path: "/r/" + js.Receipt.Serial, header: map[string]string{"Accept": "application/json"}}, http.StatusOK, &byURL)
	for name, a := range map[string]verify.ReceiptAnswer{"jws": byJWS, "url": byURL} {
		if a.Indication != verify.Passed || a.Receipt.Serial != js.Receipt.Serial || a.Certificate.Status != registry.CertValid {
			t.Errorf("receipt by %s: %+v", name, a)
		}
	}
	again := w.must(call{method: "GET", path: "/r/" + js.Receipt.Serial + "/pdf"}, http.StatusOK, nil).Body.Bytes()
	if a := w.upload(again); a.Receipt == nil || a.Receipt.Receipt.Serial != js.Receipt.Serial {
		t.Fatalf("the receipt's PDF fetched again: %+v", a)
	}

	// A receipt whose JWS was altered, or one never issued, is not genuine.
	parts := strings.Split(js.JWS, ".")
	var forged verify.ReceiptAnswer
	payload := strings.Replace(js.JWS, parts[1], parts[1][:len(parts[1])-2]+"AA", 1)
	w.must(call{method: "POST", path: "/v/receipt", body: map[string]any{"jws": payload}}, http.StatusNotFound, &forged)
	if forged.Indication != verify.Failed || forged.SubIndication != verify.SubNotAReceipt {
		t.Errorf("an altered JWS: %+v", forged)
	}
	rec := w.do(call{method: "GET", path: "/r/AAAA-BBBB-CCCC-DDDD", header: map[string]string{"Accept": "application/json"}})
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), verify.SubNoSuchReceipt) {
		t.Errorf("an unknown serial: %d %s", rec.Code, rec.Body)
	}

	// A wrong token gets no receipt, the same answer as an unknown number.
	// A browser (the page's form) gets that said on the lookup page.
	body, h := form(url.Values{"k": {"wrong-token"}})
	h["Accept"] = "application/json"
	wrong := w.do(call{method: "POST", path: "/v/" + u.cert + "/receipt", body: body, header: h})
	body, h = form(url.Values{"k": {u.token}})
	h["Accept"] = "application/json"
	unknown := w.do(call{method: "POST", path: "/v/" + ghostOf(u).cert + "/receipt", body: body, header: h})
	if pw, pu := problemOf(t, wrong), problemOf(t, unknown); wrong.Code != http.StatusNotFound || pw.Code != pu.Code || pw.Detail != pu.Detail {
		t.Errorf("wrong token %d %s; unknown number %d %s", wrong.Code, wrong.Body, unknown.Code, unknown.Body)
	}
	body, h = form(url.Values{"k": {"wrong-token"}})
	h["Accept"] = "text/html"
	if page := w.do(call{method: "POST", path: "/v/" + u.cert + "/receipt", body: body, header: h}); page.Code != http.StatusNotFound ||
		!strings.HasPrefix(page.Header().Get("Content-Type"), "text/html") {
		t.Errorf("a wrong token from a browser: %d %s", page.Code, page.Header().Get("Content-Type"))
	}
	// The pages offer it: the QR code's page posts back to its own address
	// (the token is never written into it), the typed answer to the route.
	html := map[string]string{"Accept": "text/html"}
	page := w.must(call{method: "GET", path: "/v/" + u.cert + "?k=" + u.token, header: html}, http.StatusOK, nil).Body.String()
	if !strings.Contains(page, `<input type="hidden" name="receipt" value="1"><button type="submit">下载验证回执</button>`) || strings.Contains(page, u.token) {
		t.Errorf("the QR code's page offers no receipt, or holds its token:\n%s", page)
	}
	body, h = form(url.Values{"receipt": {"1"}})
	h["Accept"] = "text/html"
	fromPage := w.must(call{method: "POST", path: "/v/" + u.cert + "?k=" + u.token, body: body, header: h}, http.StatusOK, nil)
	if a := w.upload(fromPage.Body.Bytes()); a.Receipt == nil || a.Receipt.Indication != verify.Passed {
		t.Errorf("the page's receipt button gave %s: %+v", fromPage.Header().Get("Content-Type"), a)
	}
	typedPage := w.must(call{method: "GET", path: "/v?no=" + u.cert + "&name=" + url.QueryEscape("王晓明"), header: html}, http.StatusOK, nil).Body.String()
	if !strings.Contains(typedPage, `action="/v/`+u.cert+`/receipt"`) || !strings.Contains(typedPage, `name="name" value="王晓明"`) {
		t.Errorf("the typed answer offers no receipt:\n%s", typedPage)
	}
	// The holder's name gets one too (a typed lookup).
	body, h = form(url.Values{"name": {"王晓明"}})
	h["Accept"] = "application/json"
	var typed receiptJSON
	w.must(call{method: "POST", path: "/v/" + u.cert + "/receipt", body: body, header: h}, http.StatusCreated, &typed)
	if typed.Receipt.Kind != registry.VerifiedByTyped {
		t.Errorf("typed receipt: %+v", typed.Receipt)
	}

	// Revoked later: the receipt still says what it said, and now this.
	w.must(call{method: "POST", path: "/api/v1/certificates/" + u.cert + "/revoke", key: u.key, body: map[string]any{"reason": "聘任文号有误"}}, http.StatusOK, nil)
	w.must(call{method: "GET", path: "/r/" + js.Receipt.Serial, header: map[string]string{"Accept": "application/json"}}, http.StatusOK, &byURL)
	if byURL.Receipt.Status != registry.CertValid || byURL.Certificate.Status != registry.CertRevoked || !strings.Contains(byURL.Message, "已撤销") {
		t.Errorf("receipt after the revocation: %+v", byURL)
	}
	if a := w.upload(pdf.Bytes()); a.Receipt.Certificate.Status != registry.CertRevoked {
		t.Errorf("uploaded receipt after the revocation: %+v", a.Receipt)
	}
	rpage := w.must(call{method: "GET", path: "/r/" + js.Receipt.Serial, header: html}, http.StatusOK, nil)
	if !strings.Contains(rpage.Body.String(), "回执真实") {
		t.Errorf("receipt page: %s", rpage.Body)
	}
}

func TestVerificationsRecorded(t *testing.T) { onEachStore(t, testVerificationsRecorded) }

func testVerificationsRecorded(t *testing.T, w *e2eWorld) {
	u := w.a
	rec := verify.NewRecorder(w.store, []byte("test key"), verify.RecorderOptions{})
	w.deps.Recorder = rec
	w.h = New(w.deps)

	get := func(path string) {
		r := httptest.NewRequest("GET", path, nil)
		w.h.ServeHTTP(httptest.NewRecorder(), r)
	}
	get("/v/" + u.cert + "?k=" + u.token)
	get("/v/" + u.cert + "?k=wrong") // unknown: belongs to no one, not recorded
	get("/v?no=" + u.cert + "&name=" + url.QueryEscape("王晓明"))
	w.upload(w.certPDF(u.cert, u.key))
	body, h := form(url.Values{"k": {u.token}})
	h["Accept"] = "application/json"
	var js receiptJSON
	w.must(call{method: "POST", path: "/v/" + u.cert + "/receipt", body: body, header: h}, http.StatusCreated, &js)
	get("/r/" + js.Receipt.Serial)
	rec.Close() // drains: nothing is lost on shutdown

	var l listJSON[registry.Verification]
	resp := w.must(call{method: "GET", path: "/api/v1/certificates/" + u.cert + "/verifications", key: w.platform}, http.StatusOK, &l)
	var kinds []string
	for _, v := range l.Items {
		kinds = append(kinds, string(v.Kind)+":"+string(v.Outcome))
	}
	if got := strings.Join(kinds, " "); got != "scan:valid typed:valid upload:valid receipt:valid" {
		t.Errorf("verifications: %s", got)
	}
	if strings.Contains(resp.Body.String(), "192.0.2") || strings.Contains(resp.Body.String(), "client") {
		t.Errorf("the list shows who looked: %s", resp.Body)
	}
	for _, v := range l.Items {
		if len(v.ClientHash) != 0 {
			t.Errorf("the list carries the client hash: %+v", v)
		}
	}
	var stored []registry.Verification
	must(t, w.store.View(context.Background(), func(tx registry.Tx) (err error) {
		stored, err = tx.ListVerifications(context.Background(), u.cert, registry.Page{})
		return err
	}))
	for _, v := range stored {
		if len(v.ClientHash) != 16 || bytes.Contains(v.ClientHash, []byte("192.0.2")) || !bytes.Equal(v.ClientHash, stored[0].ClientHash) {
			t.Errorf("stored client hash %x (one client, one keyed hash; never the address)", v.ClientHash)
		}
	}
	// Only the platform sees it; a unit gets 403, another number 404.
	w.must(call{method: "GET", path: "/api/v1/certificates/" + u.cert + "/verifications", key: u.key}, http.StatusForbidden, nil)
	w.must(call{method: "GET", path: "/api/v1/certificates/" + ghostOf(u).cert + "/verifications", key: w.platform}, http.StatusNotFound, nil)
	if st := rec.Stats(); st.Written != 4 || st.Dropped != 0 {
		t.Errorf("recorder stats %+v", st)
	}
}

func TestTokenRotation(t *testing.T) { onEachStore(t, testTokenRotation) }

func testTokenRotation(t *testing.T, w *e2eWorld) {
	u := w.a
	oldPDF := w.certPDF(u.cert, u.key)
	json := map[string]string{"Accept": "application/json"}
	// The old token's answer is cached before the rotation.
	w.must(call{method: "GET", path: "/v/" + u.cert + "?k=" + u.token, header: json}, http.StatusOK, nil)

	w.must(call{method: "POST", path: "/api/v1/certificates/" + u.cert + "/rotate-token", key: u.key}, http.StatusForbidden, nil)
	var c certAnswer
	w.must(call{method: "POST", path: "/api/v1/certificates/" + u.cert + "/rotate-token", key: w.platform}, http.StatusCreated, &c)
	if c.Number != u.cert || c.Version != 2 || c.Status != registry.CertValid || tokenOf(t, c.VerifyURL) == u.token {
		t.Fatalf("rotation: %+v", c)
	}
	// The old token answers exactly as a token that never existed.
	old := w.do(call{method: "GET", path: "/v/" + u.cert + "?k=" + u.token, header: json})
	never := w.do(call{method: "GET", path: "/v/" + u.cert + "?k=never-issued-token", header: json})
	if old.Code != http.StatusNotFound || old.Code != never.Code || withoutTime(old.Body.String()) != withoutTime(never.Body.String()) {
		t.Errorf("old token: %d %s\nnever-issued token: %d %s", old.Code, old.Body, never.Code, never.Body)
	}
	html := w.do(call{method: "GET", path: "/v/" + u.cert + "?k=" + u.token, header: map[string]string{"Accept": "text/html"}})
	htmlNever := w.do(call{method: "GET", path: "/v/" + u.cert + "?k=never-issued-token", header: map[string]string{"Accept": "text/html"}})
	if withoutTime(html.Body.String()) != withoutTime(htmlNever.Body.String()) {
		t.Error("the old token's page differs from a never-issued token's")
	}
	body, h := form(url.Values{"k": {u.token}})
	if rec := w.do(call{method: "POST", path: "/v/" + u.cert + "/receipt", body: body, header: h}); rec.Code != http.StatusNotFound {
		t.Errorf("a receipt by the old token: %d", rec.Code)
	}
	var now verify.Answer
	w.must(call{method: "GET", path: "/v/" + u.cert + "?k=" + tokenOf(t, c.VerifyURL), header: json}, http.StatusOK, &now)
	if now.Status != registry.CertValid || now.Version != 2 || now.Name != "王晓明" {
		t.Errorf("new token: %+v", now)
	}
	// The old PDF is 已更正; the new one is the same data, valid.
	if a := w.upload(oldPDF); a.Certificate == nil || a.Certificate.Status != registry.CertSuperseded || a.Certificate.StatusText != "已更正" {
		t.Errorf("old PDF: %+v", a)
	}
	if a := w.upload(w.certPDF(u.cert, u.key)); a.Indication != verify.Passed || a.Certificate.Version != 2 || a.Certificate.Post != now.Post {
		t.Errorf("new PDF: %+v", a)
	}
	// A revoked certificate's token is not rotated.
	w.must(call{method: "POST", path: "/api/v1/certificates/" + u.cert + "/revoke", key: u.key, body: map[string]any{"reason": "误发"}}, http.StatusOK, nil)
	wantProblem(t, w.do(call{method: "POST", path: "/api/v1/certificates/" + u.cert + "/rotate-token", key: w.platform}), http.StatusConflict, registry.CodeIllegalTransition, "")
}

// BenchmarkVerifyPage is the QR code's page from the cache, bare and with
// its verification recorded, in one run so the two compare on the same
// machine load (go test -bench VerifyPage -benchmem ./internal/api).
func BenchmarkVerifyPage(b *testing.B) {
	w := oneUnitWorld(newE2E(b))
	path := "/v/" + w.a.cert + "?k=" + w.a.token
	bare := w.h
	// Its store never answers, so the buffer is full at once: the
	// request path alone (a send that finds no room), no writer.
	stuck := &stuckStore{Store: w.store, release: make(chan struct{})}
	stuckRec := verify.NewRecorder(stuck, []byte("k"), verify.RecorderOptions{Buffer: 1, Every: time.Millisecond})
	d := w.deps
	d.Recorder = stuckRec
	requestPathOnly := New(d)
	w.deps.Recorder = verify.NewRecorder(w.store, []byte("k"), verify.RecorderOptions{})
	recorded := New(w.deps)
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{{"bare", bare}, {"request-path-only", requestPathOnly}, {"recorded", recorded}} {
		b.Run(tc.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", path, nil)
			req.Header.Set("Accept", "application/json")
			tc.h.ServeHTTP(httptest.NewRecorder(), req) // fills the cache
			rec := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(rec.h)
				tc.h.ServeHTTP(rec, req)
			}
		})
	}
	r := w.deps.Recorder.(*verify.Recorder)
	r.Close()
	close(stuck.release)
	stuckRec.Close()
	b.Logf("recorder: %+v; with the stuck store: %+v", r.Stats(), stuckRec.Stats())
}

// stuckStore holds every write until released: a database that hangs.
type stuckStore struct {
	registry.Store
	release chan struct{}
}

func (s *stuckStore) InTx(ctx context.Context, fn func(registry.Tx) error) error {
	<-s.release
	return s.Store.InTx(ctx, fn)
}

// discardWriter is the cheapest ResponseWriter: what the handler costs,
// not the recorder of the test.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}
