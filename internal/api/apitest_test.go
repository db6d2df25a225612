package api

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certseal/certseal/keys"
	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/sqlite"
	"github.com/certseal/certseal/registry/workday"
	"github.com/certseal/certseal/signer"
	"github.com/certseal/certseal/verify"
	"github.com/certseal/certseal/verify/memcache"
)

// Shared helpers of the end-to-end API tests (router_test.go, authz_test.go,
// input_test.go): the real service of cmd/certseal's buildService, over a
// SQLite store in a temporary directory, driven through HTTP as the
// platform, reviewers and units would drive it.

// The repository's shared fixtures (testdata/ at the top).
var (
	e2ePhoto = mustReadFile("../../testdata/photo.jpg")
	e2eSeal  = mustReadFile("../../testdata/seal.png")
)

func mustReadFile(name string) []byte {
	b, err := os.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return b
}

const (
	e2eBaseURL   = "https://certseal.test"
	weihai       = "威海市"
	jinan        = "济南市"
	seriesHE     = "高校教师" // the series every test unit has in force
	seriesHealth = "卫生"   // filed but still pending
)

// e2eStart is the test clock's first reading: a fixed day, so dates in
// requests (terms, appointment days) are stable.
var e2eStart = time.Date(2026, time.June, 1, 10, 0, 0, 0, registry.ChinaTZ)

// e2eClock is Deps.Now and every other component's clock, set by tests.
// Every reading is a millisecond after the last, as on a real clock: two
// steps never share an instant (a signature made "at" a revocation counts
// as made after it).
type e2eClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *e2eClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

func (c *e2eClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// failingKeys makes seal key generation fail on demand, to show that an
// approval that cannot finish leaves nothing behind.
type failingKeys struct {
	keys.KeyManager
	fail atomic.Bool
}

func (k *failingKeys) GenerateSealKey(ctx context.Context, alg keys.Alg, unitID int64, version int) (crypto.PublicKey, []byte, error) {
	if k.fail.Load() {
		return nil, nil, fmt.Errorf("test: key generation switched off")
	}
	return k.KeyManager.GenerateSealKey(ctx, alg, unitID, version)
}

// e2eEnv is one running service.
type e2eEnv struct {
	t        testing.TB
	h        http.Handler
	deps     Deps // what h was built of, for another replica
	dbPath   string
	verifier *verify.Service
	store    registry.Store
	raw      *sql.Conn // one read-only connection to the same file: data_version is per connection
	tables   []string
	clock    *e2eClock
	ca       *keys.CA
	batches  *signer.Batches
	keys     *failingKeys
	seq      *atomic.Int64 // makes USCCs and ID numbers unique
}

// newE2E builds the service the way cmd/certseal/serve.go's buildService
// does: dev CA, KEK, software seal keys, responder, renderer, issuer,
// batches and the verification service over the in-process cache.
func newE2E(t testing.TB) *e2eEnv { return newE2EWith(t, nil) }

// newE2EWith is newE2E whose handler sees the store through wrap.
func newE2EWith(t testing.TB, wrap func(registry.Store) registry.Store) *e2eEnv {
	t.Helper()
	return newE2EOn(t, wrap, nil)
}

// newE2EOn is newE2EWith on the store open makes (nil: the SQLite file;
// state and count keep reading that file).
func newE2EOn(t testing.TB, wrap func(registry.Store) registry.Store, open func(*registry.PII) registry.Store) *e2eEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	clock := &e2eClock{t: e2eStart}
	kek, err := keys.LoadOrCreateKEK(filepath.Join(dir, "kek"), log)
	if err != nil {
		t.Fatal(err)
	}
	pii, err := registry.NewPII(kek.PersonalDataKey())
	if err != nil {
		t.Fatal(err)
	}
	soft := keys.NewSoftwareKeys(kek)
	ca, err := keys.LoadOrCreateDevCA(filepath.Join(dir, "pki"), log, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(dir, "certseal.db")
	file, err := sqlite.Open(ctx, dbPath, pii)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { file.Close() })
	var store registry.Store = file
	if open != nil {
		store = open(pii)
	}
	db, err := sql.Open("sqlite", "file:"+dbPath+"?_pragma=query_only(1)&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	raw, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	var tables []string
	rows, err := raw.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	if err := rows.Close(); err != nil || len(tables) < 10 {
		t.Fatalf("tables of the store: %v (%v)", tables, err)
	}

	cache := memcache.New(memcache.Options{})
	t.Cleanup(func() { cache.Close() })
	cached := verify.NewCached(cache, verify.CachedOptions{Logger: log})
	docSigner, err := keys.OpenDocSigner(filepath.Join(dir, "pki", "docsign.crt"), filepath.Join(dir, "pki", "docsign.key"), ca, e2eBaseURL, true, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	trust := verify.PDFTrust{Root: ca.Root(), Issuing: []*x509.Certificate{ca.Issuing()}, ReceiptSigner: docSigner.Certificate()}
	verifier, err := verify.NewService(store, cached, e2eBaseURL, trust, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	pki, err := keys.NewResponder(ca, keys.StoreSeals(store), log, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	renderer, err := signer.NewRenderer(signer.DefaultTemplate(), signer.DefaultFont())
	if err != nil {
		t.Fatal(err)
	}
	metrics := NewMetrics()
	calendar, err := workday.Default()
	if err != nil {
		t.Fatal(err)
	}
	// The TSA keeps the real clock, as the CMS signingTime does (pdfsign
	// stamps it): a token must not be older than the time it stamps.
	tsa, err := keys.OpenTSA(filepath.Join(dir, "pki", "tsa.crt"), filepath.Join(dir, "pki", "tsa.key"), ca, e2eBaseURL, true, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	pki.Vouch(tsa.Certificate(), docSigner.Certificate())
	sm2CA, err := keys.LoadOrCreateDevSM2CA(filepath.Join(dir, "pki"), log, clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	verifier.SES = verify.SESTrust{CA: sm2CA, Timestamps: keys.TimestampTrust{Roots: []*x509.Certificate{ca.Root()}}}
	issuer := signer.NewIssuer(signer.IssuerDeps{Store: store, PII: pii, Keys: soft, SM2: soft, Chains: ca, Renderer: renderer,
		TSA: tsa, TSATrust: keys.TimestampTrust{Roots: []*x509.Certificate{ca.Root()}}, TSACerts: []*x509.Certificate{tsa.Certificate()},
		Revocation: pki, BaseURL: e2eBaseURL, Calendar: calendar, Now: clock.Now, Log: log})
	receiptRenderer, err := signer.NewReceiptRenderer(signer.DefaultFont())
	if err != nil {
		t.Fatal(err)
	}
	receipts := signer.NewReceipts(signer.ReceiptsDeps{Store: store, Renderer: receiptRenderer, Key: docSigner, TSA: tsa,
		TSATrust: keys.TimestampTrust{Roots: []*x509.Certificate{ca.Root()}}, TSACerts: []*x509.Certificate{tsa.Certificate()},
		Revocation: pki, BaseURL: e2eBaseURL, Now: clock.Now})
	var handlerStore registry.Store = store
	if wrap != nil {
		handlerStore = wrap(store)
	}
	// One Writer for the handler's commands and the batches, as in
	// cmd/certseal: the handler's after-commit hook sees both.
	writer := registry.NewWriter(handlerStore)
	batches := signer.NewBatches(issuer, writer, log)
	batches.SetSubmitterCheck(BatchSubmitterAllowed)
	t.Cleanup(batches.Close) // runs before the store closes (cleanups are LIFO)
	fk := &failingKeys{KeyManager: soft}
	logKey, err := keys.OpenDevLogKey(filepath.Join(dir, "pki", "log.key"), kek, "certseal.test/log", true, log)
	if err != nil {
		t.Fatal(err)
	}
	deps := Deps{
		Store: writer, Keys: fk, CA: ca, SM2: &keys.SM2Twin{CA: sm2CA, Keys: soft, WidthMM: 42, HeightMM: 42}, PKI: pki, TSA: tsa.Handle(), Issuer: issuer, Batches: batches, Verifier: verifier, Receipts: receipts,
		Metrics: metrics, Log: log, BaseURL: e2eBaseURL, KeyAlg: keys.DefaultAlg, Now: clock.Now,
		Ready:      map[string]func(context.Context) error{"store": store.Ping, "cache": func(context.Context) error { return nil }},
		PublicRate: 1e6, PublicBurst: 1e6, LinkKey: kek.DownloadLinkKey(), LinkTTL: 15 * time.Minute,
		TLog: verify.NewLog(store, logKey.Signer()), LogKey: logKey.VerifierKey(),
	}
	return &e2eEnv{t: t, h: New(deps), deps: deps, dbPath: dbPath, verifier: verifier, store: store, raw: raw, tables: tables, seq: new(atomic.Int64),
		clock: clock, ca: ca, batches: batches, keys: fk}
}

// newKey stores an API key with k's scope and returns the key.
func (e *e2eEnv) newKey(k registry.APIKey) string {
	e.t.Helper()
	key, hash := NewAPIKey()
	k.Hash, k.CreatedAt, k.Name = hash, time.Now(), string(k.Role)
	ctx := context.Background()
	if err := e.store.InTx(ctx, func(tx registry.Tx) error { return tx.CreateAPIKey(ctx, &k) }); err != nil {
		e.t.Fatal(err)
	}
	return key
}

// lastKeyID is the id of the newest API key.
func (e *e2eEnv) lastKeyID() int64 {
	e.t.Helper()
	var id int64
	if err := e.raw.QueryRowContext(context.Background(), `SELECT MAX(id) FROM api_keys`).Scan(&id); err != nil {
		e.t.Fatal(err)
	}
	return id
}

func (e *e2eEnv) platformKey() string { return e.newKey(registry.APIKey{Role: registry.RolePlatform}) }
func (e *e2eEnv) reviewerKey(j string) string {
	return e.newKey(registry.APIKey{Role: registry.RoleReviewer, Jurisdiction: j})
}
func (e *e2eEnv) unitKey(id int64) string {
	return e.newKey(registry.APIKey{Role: registry.RoleUnit, UnitID: id})
}

// call is one HTTP request. body is sent as is when it is a string or
// []byte, as JSON otherwise; a JSON body gets Content-Type
// application/json unless header says another.
type call struct {
	method, path, key string
	body              any
	header            map[string]string
	// chunked sends body as a stream of unknown length (no
	// Content-Length), as a chunked upload arrives.
	chunked bool
}

func (e *e2eEnv) do(c call) *httptest.ResponseRecorder {
	e.t.Helper()
	var body []byte
	switch b := c.body.(type) {
	case nil:
	case string:
		body = []byte(b)
	case []byte:
		body = b
	default:
		var err error
		if body, err = json.Marshal(b); err != nil {
			e.t.Fatal(err)
		}
	}
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
		if c.chunked {
			r = io.MultiReader(r) // hides the length from httptest
		}
	}
	req := httptest.NewRequest(c.method, c.path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.key != "" {
		req.Header.Set("Authorization", "Bearer "+c.key)
	}
	for k, v := range c.header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

// must sends c and fails the test unless the answer has status want; it
// decodes a JSON answer into out (when not nil).
func (e *e2eEnv) must(c call, want int, out any) *httptest.ResponseRecorder {
	e.t.Helper()
	rec := e.do(c)
	if rec.Code != want {
		e.t.Fatalf("%s %s: status %d, want %d: %s", c.method, c.path, rec.Code, want, rec.Body.String())
	}
	if out != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			e.t.Fatalf("%s %s: answer is not JSON: %v: %s", c.method, c.path, err, rec.Body.String())
		}
	}
	return rec
}

// problemOf checks that rec is an RFC 9457 problem and returns it.
func problemOf(t testing.TB, rec *httptest.ResponseRecorder) Problem {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("status %d: Content-Type %q, want application/problem+json: %s", rec.Code, ct, rec.Body.String())
	}
	var p Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("status %d: problem is not JSON: %v: %s", rec.Code, err, rec.Body.String())
	}
	if p.Status != rec.Code || p.Code == "" || p.Type != ProblemTypePrefix+p.Code || p.Title == "" {
		t.Errorf("incomplete problem for status %d: %+v", rec.Code, p)
	}
	return p
}

// wantProblem checks status, code and field of a problem answer.
func wantProblem(t testing.TB, rec *httptest.ResponseRecorder, status int, code registry.Code, field string) Problem {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status %d, want %d: %s", rec.Code, status, rec.Body.String())
	}
	p := problemOf(t, rec)
	if p.Code != string(code) {
		t.Errorf("code %q, want %q (detail %q)", p.Code, code, p.Detail)
	}
	if p.Field != field {
		t.Errorf("field %q, want %q (detail %q)", p.Field, field, p.Detail)
	}
	return p
}

// --- the database as a whole ------------------------------------------------

// dbState is what tells whether anything was stored: SQLite's
// data_version, which moves with every commit made by another connection
// (every write of the store), and the row count of every table, to say
// where a change landed.
type dbState struct {
	version int64
	rows    map[string]int
}

func (e *e2eEnv) state() dbState {
	e.t.Helper()
	e.batches.Wait() // a batch issues in the background
	ctx := context.Background()
	st := dbState{rows: map[string]int{}}
	if err := e.raw.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&st.version); err != nil {
		e.t.Fatal(err)
	}
	for _, table := range e.tables {
		var n int
		if err := e.raw.QueryRowContext(ctx, `SELECT count(*) FROM "`+table+`"`).Scan(&n); err != nil {
			e.t.Fatal(err)
		}
		st.rows[table] = n
	}
	return st
}

// changed describes what changed between two states, or nil.
func changed(before, after dbState) []string {
	if before.version == after.version {
		return nil
	}
	var out []string
	for _, table := range slices.Sorted(maps.Keys(after.rows)) {
		if before.rows[table] != after.rows[table] {
			out = append(out, fmt.Sprintf("%s: %d -> %d rows", table, before.rows[table], after.rows[table]))
		}
	}
	if out == nil {
		out = []string{fmt.Sprintf("rows changed in place (data_version %d -> %d)", before.version, after.version)}
	}
	return out
}

// unchanged fails the test when anything was committed since before.
func (e *e2eEnv) unchanged(t testing.TB, before dbState, what string) {
	t.Helper()
	if diff := changed(before, e.state()); len(diff) > 0 {
		t.Errorf("%s changed the database:\n%s", what, strings.Join(diff, "\n"))
	}
}

// count is the number of rows of a table.
func (e *e2eEnv) count(table string) int {
	e.t.Helper()
	n, ok := e.state().rows[table]
	if !ok {
		e.t.Fatalf("no table %q", table)
	}
	return n
}

// on is w reporting to t: a subtest's helpers must fail the subtest, not
// its parent.
func (w *e2eWorld) on(t testing.TB) *e2eWorld {
	env := *w.e2eEnv
	env.t = t
	cp := *w
	cp.e2eEnv = &env
	return &cp
}

// --- valid data ---------------------------------------------------------

// uscc makes a well-formed USCC (category 12: 事业单位) unique in the test.
func (e *e2eEnv) uscc() string {
	first := fmt.Sprintf("12371000%09d", e.seq.Add(1))
	c, err := registry.USCCCheckChar(first)
	if err != nil {
		e.t.Fatal(err)
	}
	return first + string(c)
}

// idNumber makes a valid ID number of gender g, unique in the test.
func (e *e2eEnv) idNumber(g registry.Gender) string {
	e.t.Helper()
	seq := 2 * e.seq.Add(1) % 1000
	if g == registry.Male {
		seq++
	}
	base := fmt.Sprintf("37010219800101%03d", seq)
	for _, c := range "0123456789X" {
		if _, _, err := registry.CheckIDNumber(base+string(c), g, registry.Today(e.clock.Now())); err == nil {
			return base + string(c)
		}
	}
	e.t.Fatal("no check character fits")
	return ""
}

func (e *e2eEnv) unitBody(name, jurisdiction string) map[string]any {
	return map[string]any{"name": name, "uscc": e.uscc(), "representative": "张三", "jurisdiction": jurisdiction,
		"address": "山东省威海市文化西路1号", "contact": "0631-5190962"}
}

func filingBody(series string) map[string]any {
	return map[string]any{"series": series, "specialty": "", "office": "人事处", "contact": "李四 0631-5190828",
		"talent_count": 120, "appointed_last_3_years": []int{10, 12, 9}}
}

func sealAppBody(kind registry.SealApplicationKind) map[string]any {
	b := map[string]any{"kind": kind, "address": "山东省威海市文化西路1号", "declaration": true,
		"handler": map[string]string{"name": "赵六", "id_number": "370102198505050029", "mobile": "13512345678", "landline": "0631-5190962"}}
	if kind == registry.KindRevoke {
		b["revoke_reason"] = registry.ReasonCessationOfOperation
	} else {
		b["imprint_png"] = e2eSeal
	}
	return b
}

// appointment is a valid certificate request for unitID with a new holder.
func (e *e2eEnv) appointment(unitID int64) map[string]any {
	return map[string]any{"unit_id": unitID, "name": "王晓明", "gender": "男", "id_number": e.idNumber(registry.Male),
		"series": seriesHE, "specialty": "计算机科学与技术", "level": "副高级", "post": "副教授",
		"term_from": "2026-01-01", "term_to": "2028-12-31", "committee": "威海示范大学高级职称评审委员会",
		"publication_number": "威示大字〔2026〕8号", "appointed_on": "2026-01-01", "photo": e2ePhoto}
}

// withField returns a copy of m with key set to v (or removed for nil).
func withField(m map[string]any, key string, v any) map[string]any {
	out := maps.Clone(m)
	if v == nil {
		delete(out, key)
	} else {
		out[key] = v
	}
	return out
}

// --- a populated world ----------------------------------------------------------

// e2eUnit is a unit with everything a unit has: a filing in force, an
// active seal, a certificate, a finished batch, and a pending seal
// application and filing.
type e2eUnit struct {
	registry.Unit
	key           string
	filing        int64 // approved
	pendingFiling int64
	pendingApp    int64 // a change, submitted
	cert          string
	token         string
	holder        string // the ID number on cert
	batch         int64
	// ghost stands for objects that do not exist: ids nobody has.
	ghost bool
}

type e2eWorld struct {
	*e2eEnv
	platform string
	reviewer map[string]string // by jurisdiction
	a, b     *e2eUnit          // A in 威海市, B in 济南市
}

type certAnswer struct {
	Number    string             `json:"number"`
	Version   int                `json:"version"`
	Status    registry.CertState `json:"status"`
	UnitID    int64              `json:"unit_id"`
	VerifyURL string             `json:"verify_url"`
	PDFSHA256 string             `json:"pdf_sha256"`
}

type idAnswer struct {
	ID    int64  `json:"id"`
	State string `json:"state"`
}

func newWorld(t testing.TB) *e2eWorld { return newWorldWith(t, nil) }

// newWorldWith is newWorld whose handler sees the store through wrap.
func newWorldWith(t testing.TB, wrap func(registry.Store) registry.Store) *e2eWorld {
	t.Helper()
	return worldOf(newE2EWith(t, wrap))
}

// worldOf populates a service.
func worldOf(e *e2eEnv) *e2eWorld {
	t := e.t
	t.Helper()
	w := &e2eWorld{e2eEnv: e}
	w.platform = w.platformKey()
	w.reviewer = map[string]string{weihai: w.reviewerKey(weihai), jinan: w.reviewerKey(jinan)}
	w.a = w.newUnit("威海示范大学", weihai)
	w.b = w.newUnit("济南示范学院", jinan)
	return w
}

// newUnit registers a unit and gives it everything through the API.
func (w *e2eWorld) newUnit(name, jurisdiction string) *e2eUnit {
	w.t.Helper()
	u := &e2eUnit{}
	w.must(call{method: "POST", path: "/api/v1/units", key: w.platform, body: w.unitBody(name, jurisdiction)}, http.StatusCreated, &u.Unit)
	u.key = w.unitKey(u.ID)
	u.filing = w.fileApproved(u, seriesHE)
	w.sealApproved(u, registry.KindNew)
	appt := w.appointment(u.ID)
	c := w.issue(u.key, appt)
	u.cert, u.token, u.holder = c.Number, tokenOf(w.t, c.VerifyURL), appt["id_number"].(string)
	u.batch = w.batch(u.key, u.ID, w.appointment(u.ID))
	u.pendingFiling = w.file(u, seriesHealth)
	u.pendingApp = w.apply(u, registry.KindChange)
	return u
}

func (w *e2eWorld) file(u *e2eUnit, series string) int64 {
	w.t.Helper()
	var f idAnswer
	w.must(call{method: "POST", path: fmt.Sprintf("/api/v1/units/%d/filings", u.ID), key: u.key, body: filingBody(series)}, http.StatusCreated, &f)
	return f.ID
}

func (w *e2eWorld) fileApproved(u *e2eUnit, series string) int64 {
	w.t.Helper()
	id := w.file(u, series)
	w.must(call{method: "POST", path: fmt.Sprintf("/api/v1/filings/%d/review", id), key: w.reviewer[u.Jurisdiction],
		body: map[string]any{"decision": "approve", "opinion": "同意备案"}}, http.StatusOK, nil)
	return id
}

// rejectAndWithdraw leaves u a rejected filing of 工程 and a withdrawn one
// of 图书资料: neither is in force.
func (w *e2eWorld) rejectAndWithdraw(u *e2eUnit) {
	rejected := w.file(u, "工程")
	w.must(call{method: "POST", path: fmt.Sprintf("/api/v1/filings/%d/review", rejected), key: w.reviewer[u.Jurisdiction],
		body: map[string]any{"decision": "reject", "opinion": "材料不全"}}, http.StatusOK, nil)
	withdrawn := w.fileApproved(u, "图书资料")
	w.must(call{method: "POST", path: fmt.Sprintf("/api/v1/filings/%d/withdraw", withdrawn), key: u.key}, http.StatusOK, nil)
}

func (w *e2eWorld) apply(u *e2eUnit, kind registry.SealApplicationKind) int64 {
	w.t.Helper()
	var a idAnswer
	w.must(call{method: "POST", path: fmt.Sprintf("/api/v1/units/%d/seal-applications", u.ID), key: u.key, body: sealAppBody(kind)}, http.StatusCreated, &a)
	return a.ID
}

func (w *e2eWorld) sealApproved(u *e2eUnit, kind registry.SealApplicationKind) {
	w.t.Helper()
	id := w.apply(u, kind)
	w.must(call{method: "POST", path: fmt.Sprintf("/api/v1/seal-applications/%d/review", id), key: w.reviewer[u.Jurisdiction],
		body: map[string]any{"decision": "approve", "opinion": "同意"}}, http.StatusOK, nil)
}

func (w *e2eWorld) issue(key string, appt map[string]any) certAnswer {
	w.t.Helper()
	var c certAnswer
	w.must(call{method: "POST", path: "/api/v1/certificates", key: key, body: appt}, http.StatusCreated, &c)
	return c
}

func (w *e2eWorld) batch(key string, unitID int64, rows ...map[string]any) int64 {
	w.t.Helper()
	var b registry.Batch
	w.must(call{method: "POST", path: fmt.Sprintf("/api/v1/certificate-batches?unit_id=%d", unitID), key: key, body: rows}, http.StatusAccepted, &b)
	w.batches.Wait()
	return b.ID
}

// seals lists a unit's seal versions as the API shows them.
func (w *e2eWorld) seals(unitID int64) []sealJSON {
	w.t.Helper()
	var l listJSON[sealJSON]
	w.must(call{method: "GET", path: fmt.Sprintf("/api/v1/units/%d/seals", unitID), key: w.platform}, http.StatusOK, &l)
	return l.Items
}

// activeSeal is the id of the unit's active seal (a ghost's is nobody's).
func (w *e2eWorld) activeSeal(u *e2eUnit) int64 {
	w.t.Helper()
	if u.ghost {
		return 999_999
	}
	for _, s := range w.seals(u.ID) {
		if s.State == registry.SealActive {
			return s.ID
		}
	}
	w.t.Fatalf("unit %d has no active seal", u.ID)
	return 0
}

// ghostOf is a unit whose objects do not exist.
func ghostOf(u *e2eUnit) *e2eUnit {
	n, err := registry.FormatCertNumber(2026, 99_999_999)
	if err != nil {
		panic(err)
	}
	g := &e2eUnit{Unit: registry.Unit{ID: 999_990, Jurisdiction: u.Jurisdiction}, key: u.key, filing: 999_991,
		pendingFiling: 999_992, pendingApp: 999_993, cert: n, batch: 999_994, ghost: true}
	return g
}

// parsePEMCert reads one PEM certificate.
func parsePEMCert(t testing.TB, s string) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		t.Fatalf("no PEM certificate in %q", s)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tokenOf reads the QR token from a verification address.
func tokenOf(t testing.TB, verifyURL string) string {
	t.Helper()
	u, err := url.Parse(verifyURL)
	if err != nil || u.Query().Get("k") == "" || !strings.HasPrefix(verifyURL, e2eBaseURL+"/v/") {
		t.Fatalf("verify_url %q has no token", verifyURL)
	}
	return u.Query().Get("k")
}
