package api

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/smx509"

	"github.com/certseal/certseal/keys/ses"
	"github.com/certseal/certseal/verify"
)

// A certificate's 国密 twin through the routes: the seal signature by QR
// token and to the platform, the electronic seal and the SM2 anchors in
// public, and the upload verdict and page saying 国密签章: 有效.
func TestSESRoutes(t *testing.T) {
	w := newWorld(t)
	u := w.a
	pdf := w.must(call{method: "GET", path: "/api/v1/certificates/" + u.cert + "/pdf", key: w.platform}, http.StatusOK, nil).Body.Bytes()

	byToken := w.must(call{method: "GET", path: "/v/" + u.cert + "/ses?k=" + u.token}, http.StatusOK, nil)
	if ct := byToken.Header().Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	sig, err := ses.ParseSignature(byToken.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if sum := sm3.Sum(pdf); !bytes.Equal(sig.ToSign.DataHash.Bytes, sum[:]) {
		t.Error("dataHash is not the SM3 of the served PDF")
	}
	if len(sig.TimeStamp.Bytes) == 0 {
		t.Error("the seal signature carries no time-stamp though the issuer has a TSA")
	}
	platform := w.must(call{method: "GET", path: "/api/v1/certificates/" + u.cert + "/ses", key: w.platform}, http.StatusOK, nil)
	if !bytes.Equal(platform.Body.Bytes(), byToken.Body.Bytes()) {
		t.Error("the platform gets another seal signature than the QR token")
	}
	for _, path := range []string{"/v/" + u.cert + "/ses?k=wrong", "/v/" + u.cert + "/ses", "/v/" + w.b.cert + "/ses?k=" + u.token} {
		if rec := w.do(call{method: "GET", path: path}); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, rec.Code)
		}
	}

	var seals struct {
		Items []struct {
			ID int64 `json:"id"`
		} `json:"items"`
	}
	w.must(call{method: "GET", path: fmt.Sprintf("/api/v1/units/%d/seals", u.ID), key: w.platform}, http.StatusOK, &seals)
	sealDER := w.must(call{method: "GET", path: fmt.Sprintf("/pki/seals/%d/ses", seals.Items[0].ID)}, http.StatusOK, nil).Body.Bytes()
	if !bytes.Equal(sealDER, sig.ToSign.ESeal.Raw) {
		t.Error("the published electronic seal is not the one in the signature")
	}
	root, err := smx509.ParseCertificate(w.must(call{method: "GET", path: "/pki/sm2-root.crt"}, http.StatusOK, nil).Body.Bytes())
	if err != nil || root.CheckSignatureFrom(root) != nil {
		t.Errorf("SM2 root: %v", err)
	}
	if rec := w.do(call{method: "GET", path: "/pki/seals/999999/ses"}); rec.Code != http.StatusNotFound {
		t.Errorf("unknown seal: %d", rec.Code)
	}

	upload := call{method: "POST", path: "/v/pdf", body: pdf, header: map[string]string{"Content-Type": "application/pdf"}}
	var ans verify.UploadAnswer
	w.must(upload, http.StatusOK, &ans)
	if ans.SES == nil || !ans.SES.Valid || ans.SES.Status != verify.SESValid || ans.SES.Timestamp.IsZero() {
		t.Errorf("upload's 国密 verdict %+v", ans.SES)
	}
	upload.header = map[string]string{"Content-Type": "application/pdf", "Accept": "text/html"}
	if page := w.must(upload, http.StatusOK, nil).Body.String(); !strings.Contains(page, "国密签章：<strong>有效</strong>") {
		t.Errorf("the page does not show 国密签章：有效:\n%s", page)
	}
}
