package e2e

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/certseal/certseal/internal/testenv"
)

// TestLifecycle is the whole life of a certificate over HTTP against the
// real binary, as the platform, a reviewer, a unit and an employer meet it:
// keys, unit, filing, seal, certificate, PDF checked by independent
// validators, QR code, verification, revocation of the certificate and of
// the seal, and the audit chain. It runs on the embedded default and, where
// the test variables are set, on PostgreSQL + Redis.
func TestLifecycle(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { lifecycle(t) })
	t.Run("postgres+redis", func(t *testing.T) {
		db := testenv.PostgresURL(t)
		redis := testenv.Env(t, "CERTSEAL_TEST_REDIS_URL")
		lifecycle(t, "CERTSEAL_DATABASE_URL="+db, "CERTSEAL_REDIS_URL="+redis)
	})
}

func lifecycle(t *testing.T, env ...string) {
	s := StartServer(t, t.TempDir(), env...)
	c := &client{t: t, base: s.URL}
	dir := t.TempDir()

	platform := apiKey(t, s, "--role", "platform")
	reviewer := apiKey(t, s, "--role", "reviewer", "--jurisdiction", "威海市")

	var unit struct {
		ID int64 `json:"id"`
	}
	c.json(platform, "POST", "/api/v1/units", map[string]any{"name": "威海滨海学院", "uscc": "12371000MB12345673",
		"representative": "刘强", "jurisdiction": "威海市", "address": "山东省威海市环海路9号", "contact": "0631-5201234"}, 201, &unit)
	unitKey := apiKey(t, s, "--role", "unit", "--unit", fmt.Sprint(unit.ID))

	var filing struct {
		ID    int64  `json:"id"`
		State string `json:"state"`
	}
	c.json(unitKey, "POST", fmt.Sprintf("/api/v1/units/%d/filings", unit.ID), map[string]any{"series": "高校教师", "specialty": "",
		"office": "人事处", "contact": "王敏 0631-5201235", "talent_count": 80, "appointed_last_3_years": []int{6, 8, 7}}, 201, &filing)
	c.json(reviewer, "POST", fmt.Sprintf("/api/v1/filings/%d/review", filing.ID), map[string]any{"decision": "approve", "opinion": "同意备案"}, 200, &filing)
	if filing.State != "approved" {
		t.Fatalf("filing after approval is %q", filing.State)
	}

	var application struct {
		ID     int64  `json:"id"`
		State  string `json:"state"`
		SealID int64  `json:"seal_id"`
	}
	c.json(unitKey, "POST", fmt.Sprintf("/api/v1/units/%d/seal-applications", unit.ID), map[string]any{"kind": "new",
		"handler":     map[string]string{"name": "王敏", "id_number": "371002199006120029", "mobile": "13906310000", "landline": "0631-5201235"},
		"address":     "山东省威海市环海路9号",
		"imprint_png": readRepoFile(t, "cmd/certseal/demodata/seal.png"), "declaration": true}, 201, &application)
	c.json(reviewer, "POST", fmt.Sprintf("/api/v1/seal-applications/%d/review", application.ID), map[string]any{"decision": "approve", "opinion": "同意"}, 200, &application)
	if application.State != "approved" || application.SealID == 0 {
		t.Fatalf("seal application after approval: %+v", application)
	}

	year := time.Now().Year()
	var cert struct {
		Number    string `json:"number"`
		Status    string `json:"status"`
		VerifyURL string `json:"verify_url"`
		PDFSHA256 string `json:"pdf_sha256"`
	}
	c.json(unitKey, "POST", "/api/v1/certificates", map[string]any{"unit_id": unit.ID, "name": "李华", "gender": "男",
		"id_number": "371002198803151237", "series": "高校教师", "specialty": "海洋科学", "level": "中级", "post": "讲师",
		"term_from": fmt.Sprintf("%d-01-01", year), "term_to": fmt.Sprintf("%d-12-31", year+2), "appointed_on": fmt.Sprintf("%d-01-01", year),
		"committee": "威海滨海学院职称评审委员会", "publication_number": fmt.Sprintf("威滨院字〔%d〕3号", year),
		"photo": readRepoFile(t, "cmd/certseal/demodata/photo.jpg")}, 201, &cert)
	if want := s.URL + "/v/" + cert.Number + "?k="; cert.Status != "valid" || !strings.HasPrefix(cert.VerifyURL, want) || len(cert.VerifyURL) == len(want) {
		t.Fatalf("issued certificate %+v; want status valid and a verify_url %s<token>", cert, want)
	}

	status, pdf, h := c.do(unitKey, "GET", "/api/v1/certificates/"+cert.Number+"/pdf", "", nil, nil)
	if status != 200 || h.Get("Content-Type") != "application/pdf" {
		t.Fatalf("GET pdf: %d %s", status, h.Get("Content-Type"))
	}
	if sum := sha256.Sum256(pdf); hex.EncodeToString(sum[:]) != cert.PDFSHA256 {
		t.Fatalf("the PDF served is not the one recorded: sha256 %x, recorded %s", sum, cert.PDFSHA256)
	}
	pdfPath := writeFile(t, dir, cert.Number+".pdf", pdf)

	// Trust material: the platform's root and issuing CA, the seal's certificate.
	rootPEM := writeFile(t, dir, "root.pem", derToPEM(t, c.get("/pki/root.crt")))
	issuingPEM := writeFile(t, dir, "issuing.pem", derToPEM(t, c.get("/pki/issuing.crt")))
	var seals struct {
		Items []struct {
			ID             int64  `json:"id"`
			State          string `json:"state"`
			CertificatePEM string `json:"certificate_pem"`
		} `json:"items"`
	}
	c.json(unitKey, "GET", fmt.Sprintf("/api/v1/units/%d/seals", unit.ID), nil, 200, &seals)
	if len(seals.Items) != 1 || seals.Items[0].ID != application.SealID || seals.Items[0].CertificatePEM == "" {
		t.Fatalf("seals of the unit: %+v", seals)
	}
	sealPEM := writeFile(t, dir, "seal.pem", []byte(seals.Items[0].CertificatePEM))

	t.Run("OCSP answer acceptable to NSS", func(t *testing.T) {
		// NSS, and so pdfsig, refuses an OCSP answer produced before its
		// thisUpdate (SEC_ERROR_OCSP_FUTURE_RESPONSE); checking it here
		// names the cause when pdfsig says "Unknown issue".
		r := ocspAsk(t, c, sealPEM, issuingPEM)
		if r.Status != ocsp.Good {
			t.Errorf("OCSP status %d, want good", r.Status)
		}
		if r.ProducedAt.Before(r.ThisUpdate) {
			t.Errorf("OCSP response producedAt %s is before its thisUpdate %s: NSS (pdfsig) rejects it as a response from the future",
				r.ProducedAt.Format(time.RFC3339), r.ThisUpdate.Format(time.RFC3339))
		}
	})
	t.Run("pdfsig", func(t *testing.T) {
		pdfsig := testenv.Tool(t, "pdfsig")
		certutil := testenv.Tool(t, "certutil")
		nss := t.TempDir()
		run(t, certutil, "-N", "--empty-password", "-d", "sql:"+nss)
		run(t, certutil, "-A", "-n", "root", "-t", "CT,C,C", "-i", rootPEM, "-d", "sql:"+nss)
		// Default mode: pdfsig asks the seal certificate's OCSP address,
		// which is this server.
		out := run(t, pdfsig, "-nssdir", "sql:"+nss, pdfPath)
		for _, want := range []string{"Signature is Valid.", "Certificate is Trusted.", "Total document signed"} {
			if !strings.Contains(out, want) {
				t.Errorf("pdfsig does not say %q:\n%s", want, out)
			}
		}
	})
	t.Run("mutool", func(t *testing.T) {
		out := run(t, testenv.Tool(t, "mutool"), "sign", "-v", pdfPath)
		if !strings.Contains(out, "The document is unchanged since signing.") {
			t.Errorf("mutool sign -v:\n%s", out)
		}
	})
	t.Run("qpdf", func(t *testing.T) {
		out := run(t, testenv.Tool(t, "qpdf"), "--check", pdfPath)
		if !strings.Contains(out, "No syntax or stream encoding errors found") {
			t.Errorf("qpdf --check:\n%s", out)
		}
	})
	address := cert.VerifyURL // what the QR code says, once decoded
	t.Run("QR code", func(t *testing.T) {
		pdftoppm := testenv.Tool(t, "pdftoppm")
		zbarimg := testenv.Tool(t, "zbarimg")
		prefix := filepath.Join(t.TempDir(), "page")
		run(t, pdftoppm, "-r", "150", "-png", "-f", "1", "-l", "1", pdfPath, prefix)
		pages, _ := filepath.Glob(prefix + "*.png")
		if len(pages) != 1 {
			t.Fatalf("pdftoppm wrote %v", pages)
		}
		got := strings.TrimSpace(stdout(t, zbarimg, "-q", "--raw", pages[0]))
		if got != cert.VerifyURL {
			t.Fatalf("the QR code says %q, want the verification address %q", got, cert.VerifyURL)
		}
		address = got
	})

	page := c.page(address, "text/html")
	if !strings.Contains(page, "<h1>有效</h1>") || !strings.Contains(page, "李华") {
		t.Fatalf("verification page of a valid certificate:\n%s", page)
	}
	// A checkpoint an auditor keeps; the revocations below extend the log.
	kept := writeFile(t, t.TempDir(), "checkpoint.txt", c.get("/log/checkpoint"))
	answer := c.page(address, "application/json")
	var st verifyAnswer
	if err := json.Unmarshal([]byte(answer), &st); err != nil || st.Status != "valid" || st.StatusText != "有效" || st.Name != "李华" {
		t.Fatalf("verification JSON of a valid certificate: %+v (%v)", st, err)
	}
	// Its log entry's proof leads to the root of the checkpoint it names.
	var entry struct {
		Log struct {
			LeafIndex int64       `json:"leaf_index"`
			TreeSize  int64       `json:"tree_size"`
			Root      tlog.Hash   `json:"root_hash"`
			Proof     []tlog.Hash `json:"inclusion_proof"`
			Signed    string      `json:"checkpoint"`
			Event     struct {
				Hash []byte `json:"hash"`
			} `json:"event"`
		} `json:"log"`
	}
	if err := json.Unmarshal([]byte(answer), &entry); err != nil {
		t.Fatal(err)
	}
	e := entry.Log
	if err := tlog.CheckRecord(e.Proof, e.TreeSize, e.Root, e.LeafIndex, tlog.RecordHash(e.Event.Hash)); err != nil ||
		!strings.Contains(e.Signed, fmt.Sprintf("\n%d\n%s\n", e.TreeSize, e.Root)) {
		t.Fatalf("the certificate's log entry %+v does not check against its checkpoint: %v", e, err)
	}
	// The second look comes from the cache, and /metrics says so.
	c.page(address, "text/html")
	metrics := string(c.get("/metrics"))
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^certseal_verify_cache_hits_total [1-9]`),
		regexp.MustCompile(`(?m)^certseal_verify_cache_misses_total [1-9]`),
		regexp.MustCompile(`(?m)^certseal_certificates_issued_total 1$`),
		regexp.MustCompile(`(?m)^certseal_verifications_total\{outcome="valid"\} 3$`),
		regexp.MustCompile(`(?m)^certseal_http_request_duration_seconds_count\{method="GET",route="/v/\{number\}",status="2xx"\} [1-9]`),
	} {
		if !want.MatchString(metrics) {
			t.Errorf("/metrics does not match %s", want)
		}
	}
	var upload struct {
		Indication      string `json:"indication"`
		TimestampStatus string `json:"timestamp_status"`
		Certificate     struct {
			Number string `json:"number"`
			Status string `json:"status"`
		} `json:"certificate"`
	}
	if status, body, _ := c.do("", "POST", "/v/pdf", "application/pdf", bytes.NewReader(pdf), nil); status != 200 || json.Unmarshal(body, &upload) != nil ||
		upload.Indication != "passed" || upload.Certificate.Number != cert.Number || upload.Certificate.Status != "valid" || upload.TimestampStatus != "valid" {
		t.Fatalf("POST /v/pdf: %d %s", status, body)
	}
	t.Run("openssl ocsp good", func(t *testing.T) {
		out := opensslOCSP(t, s.URL, issuingPEM, sealPEM, rootPEM)
		if !strings.Contains(out, sealPEM+": good") {
			t.Errorf("openssl ocsp before revocation:\n%s", out)
		}
	})

	// The unit revokes the certificate: the very next request says so.
	var revoked struct {
		Status string `json:"status"`
	}
	c.json(unitKey, "POST", "/api/v1/certificates/"+cert.Number+"/revoke", map[string]any{"reason": "聘任文件有误", "category": "error"}, 200, &revoked)
	if revoked.Status != "revoked" {
		t.Fatalf("certificate after revocation: %+v", revoked)
	}
	if page := c.page(address, "text/html"); !strings.Contains(page, "<h1>已撤销</h1>") {
		t.Fatalf("verification page right after revocation:\n%s", page)
	}
	if st := c.verifyJSON(address); st.Status != "revoked" || st.StatusText != "已撤销" {
		t.Fatalf("verification JSON right after revocation: %+v", st)
	}

	// The unit reports its seal key compromised: standard validators see it.
	var sealAfter struct {
		State  string `json:"state"`
		Reason string `json:"reason"`
	}
	c.json(unitKey, "POST", fmt.Sprintf("/api/v1/seals/%d/revoke", application.SealID), map[string]any{"reason": "keyCompromise",
		"invalidity_date": time.Now().UTC().Format(time.RFC3339)}, 200, &sealAfter)
	if sealAfter.State != "revoked" || sealAfter.Reason != "keyCompromise" {
		t.Fatalf("seal after revocation: %+v", sealAfter)
	}
	t.Run("openssl ocsp revoked", func(t *testing.T) {
		out := opensslOCSP(t, s.URL, issuingPEM, sealPEM, rootPEM)
		for _, want := range []string{"Response verify OK", sealPEM + ": revoked", "Reason: keyCompromise"} {
			if !strings.Contains(out, want) {
				t.Errorf("openssl ocsp after the seal's revocation does not say %q:\n%s", want, out)
			}
		}
	})
	t.Run("openssl crl", func(t *testing.T) {
		openssl := testenv.Tool(t, "openssl")
		crl := writeFile(t, t.TempDir(), "crl.der", c.get("/pki/crl"))
		chain := writeFile(t, t.TempDir(), "chain.pem", append(readFile(t, issuingPEM), readFile(t, rootPEM)...))
		out := run(t, openssl, "crl", "-inform", "DER", "-in", crl, "-CAfile", chain, "-noout", "-text")
		serial := strings.ToUpper(sealSerial(t, sealPEM))
		if !strings.Contains(out, "verify OK") || !strings.Contains(out, "Serial Number: "+serial) || !strings.Contains(out, "Key Compromise") {
			t.Errorf("the CRL does not list seal %s as compromised:\n%s", serial, out)
		}
	})

	if out := CLI(t, s.Env, "audit", "verify"); !strings.Contains(out, "audit chain intact") {
		t.Fatalf("certseal audit verify: %s", out)
	}
	if out := CLI(t, s.Env, "log", "verify", "--checkpoint", kept); !strings.Contains(out, "the log holds the checkpoint of") {
		t.Fatalf("certseal log verify: %s", out)
	}
	// An auditor without the database checks the same over HTTP.
	vkey := strings.TrimSpace(string(c.get("/log/key")))
	if out := CLI(t, s.Env, "log", "monitor", "--server", s.URL, "--verifier-key", vkey, "--checkpoint", kept); !strings.Contains(out, "the log holds the checkpoint of") {
		t.Fatalf("certseal log monitor: %s", out)
	}
}

// client speaks to one server's API and public pages.
type client struct {
	t    *testing.T
	base string
}

// do sends one request; path may be absolute (a URL) or start with "/".
func (c *client) do(key, method, path, ctype string, body io.Reader, header http.Header) (int, []byte, http.Header) {
	c.t.Helper()
	url := path
	if strings.HasPrefix(path, "/") {
		url = c.base + path
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, b, resp.Header
}

// json sends body as JSON, wants the status and decodes the answer into out.
func (c *client) json(key, method, path string, body any, want int, out any) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	status, b, _ := c.do(key, method, path, "application/json", r, nil)
	if status != want {
		c.t.Fatalf("%s %s: %d, want %d: %s", method, path, status, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

// get fetches a public resource that must exist.
func (c *client) get(path string) []byte {
	c.t.Helper()
	status, b, _ := c.do("", "GET", path, "", nil, nil)
	if status != 200 {
		c.t.Fatalf("GET %s: %d %s", path, status, b)
	}
	return b
}

// page fetches a verification address as a browser (or a JSON client) would.
func (c *client) page(url, accept string) string {
	c.t.Helper()
	status, b, _ := c.do("", "GET", url, "", nil, http.Header{"Accept": {accept}})
	if status != 200 {
		c.t.Fatalf("GET %s: %d %s", url, status, b)
	}
	return string(b)
}

type verifyAnswer struct {
	Status     string `json:"status"`
	StatusText string `json:"status_text"`
	Name       string `json:"name"`
}

func (c *client) verifyJSON(url string) verifyAnswer {
	c.t.Helper()
	var a verifyAnswer
	if err := json.Unmarshal([]byte(c.page(url, "application/json")), &a); err != nil {
		c.t.Fatalf("GET %s as JSON: %v", url, err)
	}
	return a
}

// apiKey creates a key with the operator's command line.
func apiKey(t *testing.T, s *Server, args ...string) string {
	t.Helper()
	key := strings.TrimSpace(CLI(t, s.Env, append([]string{"apikey", "create"}, args...)...))
	if key == "" || strings.ContainsAny(key, " \n") {
		t.Fatalf("certseal apikey create %v printed %q, want the key alone", args, key)
	}
	return key
}

// ocspAsk asks the server's responder about a certificate, as NSS would.
func ocspAsk(t *testing.T, c *client, certPEM, issuerPEM string) *ocsp.Response {
	t.Helper()
	cert, issuer := parsePEMCert(t, certPEM), parsePEMCert(t, issuerPEM)
	req, err := ocsp.CreateRequest(cert, issuer, nil)
	if err != nil {
		t.Fatal(err)
	}
	status, body, _ := c.do("", "POST", "/pki/ocsp", "application/ocsp-request", bytes.NewReader(req), nil)
	if status != 200 {
		t.Fatalf("POST /pki/ocsp: %d", status)
	}
	r, err := ocsp.ParseResponseForCert(body, cert, issuer)
	if err != nil {
		t.Fatalf("OCSP response: %v", err)
	}
	return r
}

func opensslOCSP(t *testing.T, base, issuer, cert, root string) string {
	t.Helper()
	return run(t, testenv.Tool(t, "openssl"), "ocsp", "-issuer", issuer, "-cert", cert, "-url", base+"/pki/ocsp", "-CAfile", root, "-no_nonce")
}

func parsePEMCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(readFile(t, path))
	if b == nil {
		t.Fatalf("%s holds no PEM", path)
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func sealSerial(t *testing.T, path string) string {
	return fmt.Sprintf("%X", parsePEMCert(t, path).SerialNumber)
}

func derToPEM(t *testing.T, der []byte) []byte {
	t.Helper()
	if _, err := x509.ParseCertificate(der); err != nil {
		t.Fatalf("not a DER certificate: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// readRepoFile reads a file shipped in the repository (the demo's photo
// and seal imprint).
func readRepoFile(t *testing.T, rel string) []byte {
	return readFile(t, filepath.Join("..", "..", rel))
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// run runs an outside tool and returns stdout and stderr together; these
// tools exit 0 on a failed check too, so callers read the words.
func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// stdout runs an outside tool and returns its standard output alone.
func stdout(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, errb.String())
	}
	return string(out)
}
