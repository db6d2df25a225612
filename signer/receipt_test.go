package signer_test

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/certseal/certseal/internal/testenv"
	"github.com/certseal/certseal/keys"
	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/signer"
)

// receiptPKI is the platform's side of a receipt: dev CA, TSA and document
// signer, with certseal's own OCSP responder serving at base/pki/ocsp, as
// pdfsig asks it.
type receiptPKI struct {
	ca       *keys.CA
	tsa      *keys.TSA
	doc      *keys.DocSigner
	receipts *signer.Receipts
	store    registry.Store
	base     string
}

func newReceiptPKI(t *testing.T, store registry.Store) *receiptPKI {
	t.Helper()
	dir := t.TempDir()
	var handler http.Handler = http.NotFoundHandler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	p := &receiptPKI{store: store, base: srv.URL}
	var err error
	if p.ca, err = keys.LoadOrCreateDevCA(filepath.Join(dir, "pki"), nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	if p.tsa, err = keys.OpenTSA(filepath.Join(dir, "tsa.crt"), filepath.Join(dir, "tsa.key"), p.ca, p.base, true, nil, nil); err != nil {
		t.Fatal(err)
	}
	if p.doc, err = keys.OpenDocSigner(filepath.Join(dir, "docsign.crt"), filepath.Join(dir, "docsign.key"), p.ca, p.base, true, nil, nil); err != nil {
		t.Fatal(err)
	}
	rsp, err := keys.NewResponder(p.ca, keys.StoreSeals(store), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rsp.Vouch(p.tsa.Certificate(), p.doc.Certificate())
	mux := http.NewServeMux()
	mux.Handle("/pki/ocsp", rsp.HandleOCSP())
	mux.Handle("/pki/ocsp/", rsp.HandleOCSP())
	handler = mux
	r, err := signer.NewReceiptRenderer(signer.DefaultFont())
	if err != nil {
		t.Fatal(err)
	}
	p.receipts = signer.NewReceipts(signer.ReceiptsDeps{Store: store, Renderer: r, Key: p.doc, TSA: p.tsa,
		TSATrust: keys.TimestampTrust{Roots: []*x509.Certificate{p.ca.Root()}}, TSACerts: []*x509.Certificate{p.tsa.Certificate()},
		Revocation: rsp, BaseURL: "https://zc.example.cn", Now: time.Now})
	return p
}

var testReceipt = registry.Receipt{Serial: "AAAA-BBBB-CCCC-DDDD", Number: "372026000000013", Version: 1, HolderName: "王晓明", Status: registry.CertValid,
	SealVersion: 1, Unit: "威海示范大学", Kind: registry.VerifiedByScan, VerifiedAt: time.Date(2026, 5, 6, 10, 0, 0, 0, registry.ChinaTZ)}

// A receipt is a PDF the independent validators accept as signed by a
// certificate under the platform root, with its QR code leading to its
// public address; it is recorded with its audit event.
func TestReceiptValidators(t *testing.T) {
	pdfsig := testenv.Tool(t, "pdfsig")
	mutool := testenv.Tool(t, "mutool")
	qpdf := testenv.Tool(t, "qpdf")
	pdftoppm := testenv.Tool(t, "pdftoppm")
	zbarimg := testenv.Tool(t, "zbarimg")
	store := backends[0].open(t)
	t.Cleanup(func() { store.Close() })
	p := newReceiptPKI(t, store)
	issued, err := p.receipts.Issue(context.Background(), testReceipt, "有效", "req-1")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "receipt.pdf")
	if err := os.WriteFile(file, issued.PDF, 0o600); err != nil {
		t.Fatal(err)
	}
	nss := testenv.NSSDB(t, p.ca.Root().Raw)
	for _, args := range [][]string{{"-nssdir", nss, file}, {"-nssdir", nss, "-no-ocsp", file}} {
		out := tool(t, pdfsig, args...)
		for _, want := range []string{"Signature is Valid.", "Certificate is Trusted.", "Total document signed", "certseal platform document signer"} {
			if !strings.Contains(out, want) {
				t.Errorf("pdfsig %v does not say %q:\n%s", args, want, out)
			}
		}
	}
	if out := tool(t, mutool, "sign", "-v", file); !strings.Contains(out, "The document is unchanged since signing.") {
		t.Errorf("mutool:\n%s", out)
	}
	if out := tool(t, qpdf, "--check", file); !strings.Contains(out, "No syntax or stream encoding errors found") {
		t.Errorf("qpdf --check:\n%s", out)
	}
	tool(t, pdftoppm, "-r", "150", "-png", "-singlefile", file, filepath.Join(dir, "page"))
	if out := strings.TrimSpace(tool(t, zbarimg, "-q", "--raw", filepath.Join(dir, "page.png"))); out != issued.URL ||
		!strings.HasPrefix(out, "https://zc.example.cn/r/") {
		t.Errorf("QR code %q, want %q", out, issued.URL)
	}

	err = store.View(context.Background(), func(tx registry.Tx) error {
		got, err := tx.Receipt(context.Background(), issued.Receipt.Serial)
		if err != nil {
			return err
		}
		if got.Number != testReceipt.Number || got.RequestID != "req-1" || got.Status != registry.CertValid {
			return errors.New("stored receipt differs")
		}
		events, err := tx.AuditEvents(context.Background(), 0, 10)
		if err != nil || len(events) != 1 || events[0].Action != "receipt.sign" {
			return errors.New("no receipt.sign audit event")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func tool(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(name), args, err, out)
	}
	return string(out)
}

// Each renderer draws its own kind of page only.
func TestReceiptRendererKinds(t *testing.T) {
	rr, err := signer.NewReceiptRenderer(signer.DefaultFont())
	if err != nil {
		t.Fatal(err)
	}
	cr, err := signer.NewRenderer(signer.DefaultTemplate(), signer.DefaultFont())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rr.Render(signer.Document{}); err == nil {
		t.Error("the receipt renderer drew a certificate")
	}
	if _, err := cr.RenderReceipt(testReceipt, "有效", "https://zc.example.cn/r/X"); err == nil {
		t.Error("the certificate renderer drew a receipt")
	}
	if _, err := rr.RenderReceipt(testReceipt, "有效", "https://zc.example.cn/r/AAAA-BBBB-CCCC-DDDD"); err != nil {
		t.Error(err)
	}
	bad := testReceipt
	bad.HolderName = "王\u4dc0" // a character the font lacks is an error naming the field
	if _, err := rr.RenderReceipt(bad, "有效", "https://zc.example.cn/r/X"); err == nil || !strings.Contains(err.Error(), "name") {
		t.Errorf("a name the font cannot print: %v", err)
	}
}
