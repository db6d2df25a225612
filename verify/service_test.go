package verify

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/sqlite"
	"github.com/certseal/certseal/registry/storetest"
)

// countingStore counts the views a lookup opens: the database work.
type countingStore struct {
	registry.Store
	views atomic.Int64
}

func (c *countingStore) View(ctx context.Context, fn func(registry.Tx) error) error {
	c.views.Add(1)
	return c.Store.View(ctx, fn)
}

// mapCache is the smallest Cache for these tests (verify/memcache imports
// this package, so the tests here cannot use it).
type mapCache struct {
	mu  sync.Mutex
	m   map[string][]byte
	gen uint64
}

func (c *mapCache) Get(_ context.Context, key string) ([]byte, Gen, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[key]
	return v, Gen{Local: c.gen}, ok, nil
}

func (c *mapCache) SetIf(_ context.Context, key string, val []byte, gen Gen, _ time.Duration) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen.Local != c.gen {
		return false, nil
	}
	c.m[key] = val
	return true, nil
}

func (c *mapCache) Invalidate(_ context.Context, keys ...string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, k := range keys {
		delete(c.m, k)
	}
	return nil
}

func (c *mapCache) Close() error { return nil }

type svcFixture struct {
	svc    *Service
	store  *countingStore
	raw    *sqlite.Store
	cert   registry.Certificate
	token  string
	seal   registry.Seal
	pdf    []byte
	now    time.Time
	ca     *pdfTestCA
	sealKy crypto.Signer
}

const number = "372026000000152" // FormatCertNumber(2026, 15)

func newSvcFixture(t *testing.T) *svcFixture {
	t.Helper()
	ctx := context.Background()
	raw, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"), storetest.PII())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	f := &svcFixture{raw: raw, store: &countingStore{Store: raw}, token: "tok-123456789", now: time.Date(2026, 6, 1, 12, 0, 0, 0, registry.ChinaTZ)}
	f.ca = newPDFTestCA(t, "Test Root", "Test Issuing")
	f.sealKy = newPDFTestKey(t)
	sealCert := f.ca.seal(t, f.sealKy, nil)
	f.pdf = signPDF(t, minimalPDF(), f.sealKy, sealCert, []*x509.Certificate{f.ca.issuing}, crypto.SHA256)
	sum := sha256.Sum256(f.pdf)
	tok := sha256.Sum256([]byte(f.token))
	err = raw.InTx(ctx, func(tx registry.Tx) error {
		u := registry.Unit{Name: "威海示范大学", USCC: "12371000494360979J", Jurisdiction: "威海市", CreatedAt: f.now}
		if err := tx.CreateUnit(ctx, &u); err != nil {
			return err
		}
		f.seal = registry.Seal{UnitID: u.ID, Version: 1, State: registry.SealActive, ImprintPNG: []byte("p"), KeyBlob: []byte("k"),
			CertDER: sealCert.Raw, Serial: sealCert.SerialNumber.Text(16), CreatedAt: f.now.Add(-time.Hour)}
		if err := tx.CreateSeal(ctx, &f.seal); err != nil {
			return err
		}
		f.cert = registry.Certificate{Number: number, Version: 1, TokenHash: tok[:], State: registry.CertValid, SealID: f.seal.ID,
			SealVersion: 1, IssuedAt: f.now.Add(-time.Minute), PDFSHA256: sum[:], Appointment: registry.Appointment{UnitID: u.ID,
				Name: "王晓明", Gender: registry.Male, IDNumber: "370102198001010015", Series: "高校教师", Specialty: "计算机",
				Level: "副高级", Post: "副教授<script>", TermFrom: registry.Date{Year: 2026, Month: 1, Day: 1},
				TermTo: registry.Date{Year: 2028, Month: 12, Day: 31}, Committee: "评委会", PublicationNumber: "威示大字〔2026〕8号",
				AppointedOn: registry.Date{Year: 2026, Month: 1, Day: 1}, Photo: []byte("\xff\xd8\xff\xe0 jpeg")}}
		return tx.CreateCertificate(ctx, &f.cert, f.pdf)
	})
	if err != nil {
		t.Fatal(err)
	}
	f.svc, err = NewService(f.store, NewCached(&mapCache{m: map[string][]byte{}}, CachedOptions{}), "https://zc.example.cn",
		f.ca.trust(), func() time.Time { return f.now })
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// body writes a lookup's answer: body(t)(svc.ByToken(...)).
func body(t *testing.T) func(Response, error) (int, string) {
	return func(r Response, err error) (int, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		r.WriteTo(w)
		return w.Code, w.Body.String()
	}
}

func TestPageByToken(t *testing.T) {
	f := newSvcFixture(t)
	ctx := context.Background()
	code, page := body(t)(f.svc.ByToken(ctx, number, f.token, HTML))
	for _, want := range []string{"有效", "王晓明", "370102********0015", "副教授&lt;script&gt;", "威海示范大学", "第 1 版", "2026-06-01 12:00:00", "data:image/jpeg;base64,"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if code != 200 || strings.Contains(page, "370102198001010015") || strings.Contains(page, "<script>") {
		t.Fatalf("code %d, or the page shows the full ID number or unescaped HTML", code)
	}
	code, js := body(t)(f.svc.ByToken(ctx, number, f.token, JSON))
	var a Answer
	if err := json.Unmarshal([]byte(js), &a); err != nil || code != 200 || a.Indication != Passed || a.Status != registry.CertValid ||
		a.MaskedIDNumber != "370102********0015" || !a.ServerTime.Equal(f.now) || strings.Contains(js, "photo") || !strings.HasSuffix(js, "}\n") {
		t.Fatalf("JSON %d %s (%v)", code, js, err)
	}
	// A typed lookup shows the same without the photo.
	code, page = body(t)(f.svc.ByName(ctx, number, " 王晓明 ", HTML))
	if code != 200 || !strings.Contains(page, "有效") || strings.Contains(page, "data:image") {
		t.Fatalf("typed lookup: %d", code)
	}
}

// Wrong token, wrong name and unknown number: one answer, one status, the
// same work.
func TestUnknownIsIndistinguishable(t *testing.T) {
	f := newSvcFixture(t)
	ctx := context.Background()
	lookups := map[string]func() (Response, error){
		"wrong token":    func() (Response, error) { return f.svc.ByToken(ctx, number, "guess", HTML) },
		"unknown number": func() (Response, error) { return f.svc.ByToken(ctx, "372026000000232", f.token, HTML) },
		"wrong name":     func() (Response, error) { return f.svc.ByName(ctx, number, "李四", HTML) },
	}
	var bodies []string
	for name, do := range lookups {
		before := f.store.views.Load()
		code, b := body(t)(do())
		if code != 404 || !strings.Contains(b, "不存在") {
			t.Fatalf("%s: %d", name, code)
		}
		if n := f.store.views.Load() - before; n != 1 {
			t.Fatalf("%s: %d database reads on a miss, want 1", name, n)
		}
		bodies = append(bodies, b)
		// Again: served from the cache, no database.
		before = f.store.views.Load()
		body(t)(do())
		if n := f.store.views.Load() - before; n != 0 {
			t.Fatalf("%s: %d database reads on a hit", name, n)
		}
	}
	if bodies[0] != bodies[1] || bodies[1] != bodies[2] {
		t.Fatal("the answers differ")
	}
	// A number typed from paper comes without a token: the same again.
	noToken := func() (Response, error) { return f.svc.ByToken(ctx, number, "", HTML) }
	if code, b := body(t)(noToken()); code != 404 || b != bodies[0] {
		t.Fatalf("no token: %d, or the answer differs", code)
	}
	// Timing: the median of many cached lookups of a wrong token and of an
	// unknown number. The work is the same by construction (above); this
	// catches an early exit creeping in. The bound is loose: the machine
	// is shared.
	median := func(do func() (Response, error)) time.Duration {
		var d []time.Duration
		for range 2001 {
			start := time.Now()
			do()
			d = append(d, time.Since(start))
		}
		slices.Sort(d)
		return d[len(d)/2]
	}
	unknown := median(lookups["unknown number"])
	for kind, do := range map[string]func() (Response, error){"wrong token": lookups["wrong token"], "no token": noToken} {
		wrong := median(do)
		if ratio := float64(max(wrong, unknown)) / float64(min(wrong, unknown)); ratio > 3 {
			t.Fatalf("median %s %v, unknown number %v: distinguishable", kind, wrong, unknown)
		}
	}
}

func TestBadCheckCharacterRefusedBeforeLookup(t *testing.T) {
	f := newSvcFixture(t)
	_, err := f.svc.ByToken(context.Background(), "372026000000153", f.token, HTML)
	if !errors.Is(err, registry.ErrInvalid) || f.store.views.Load() != 0 {
		t.Fatalf("got %v after %d reads", err, f.store.views.Load())
	}
}

func TestStatusChangesShowAtOnce(t *testing.T) {
	f := newSvcFixture(t)
	ctx := context.Background()
	if _, page := body(t)(f.svc.ByToken(ctx, number, f.token, HTML)); !strings.Contains(page, "有效") {
		t.Fatal("not valid at first")
	}
	f.revokeForgery(t)
	_, page := body(t)(f.svc.ByToken(ctx, number, f.token, HTML))
	if !strings.Contains(page, "已撤销") || !strings.Contains(page, "伪造") || !strings.Contains(page, "2026-06-01") {
		t.Fatal("revocation not shown with its date and category")
	}
}

// revokeForgery revokes the fixture's certificate in the store, as a
// forgery, and tells the service.
func (f *svcFixture) revokeForgery(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	err := f.raw.InTx(ctx, func(tx registry.Tx) error {
		c, err := tx.Certificate(ctx, number)
		if err != nil {
			return err
		}
		if err := registry.RevokeCertificate(&c, registry.RevokeForgery, "伪造", "unit:1", f.now); err != nil {
			return err
		}
		return tx.UpdateCertificate(ctx, &c)
	})
	if err != nil {
		t.Fatal(err)
	}
	f.svc.Invalidate(ctx, number)
}

func TestExpiredAfterTerm(t *testing.T) {
	f := newSvcFixture(t)
	f.now = time.Date(2029, 1, 1, 0, 0, 1, 0, registry.ChinaTZ)
	_, page := body(t)(f.svc.ByToken(context.Background(), number, f.token, HTML))
	if !strings.Contains(page, "已过期") {
		t.Fatal("not expired after the term")
	}
}

func TestDatabaseDownIsAnErrorNotUnknown(t *testing.T) {
	f := newSvcFixture(t)
	f.raw.Close()
	_, err := f.svc.ByToken(context.Background(), number, f.token, HTML)
	if !errors.Is(err, registry.ErrUnavailable) {
		t.Fatalf("got %v, want unavailable", err)
	}
}

func TestUpload(t *testing.T) {
	f := newSvcFixture(t)
	ctx := context.Background()
	ans, err := f.svc.CheckUpload(ctx, f.pdf)
	if err != nil || ans.Indication != Passed || ans.Certificate == nil || ans.Certificate.Number != number {
		t.Fatalf("registered file: %+v %v", ans, err)
	}
	// Validly signed with the seal but never registered.
	other := signPDF(t, append(minimalPDF(), "% another\n"...), f.sealKy, f.ca.seal(t, f.sealKy, nil), []*x509.Certificate{f.ca.issuing}, crypto.SHA256)
	if ans, err = f.svc.CheckUpload(ctx, other); err != nil || ans.SubIndication != SubNotRegistered {
		t.Fatalf("unregistered file: %+v %v", ans, err)
	}
	// The seal's key was compromised before the file was signed.
	err = f.raw.InTx(ctx, func(tx registry.Tx) error {
		s, err := tx.Seal(ctx, f.seal.ID, registry.LockUpdate)
		if err != nil {
			return err
		}
		since := time.Now().Add(-24 * time.Hour)
		if err := registry.RevokeSeal(&s, registry.ReasonKeyCompromise, &since, time.Now()); err != nil {
			return err
		}
		return tx.UpdateSeal(ctx, &s)
	})
	if err != nil {
		t.Fatal(err)
	}
	if ans, err = f.svc.CheckUpload(ctx, f.pdf); err != nil || ans.Indication != Failed || ans.SubIndication != SubSealKeyCompromised {
		t.Fatalf("compromised seal: %+v %v", ans, err)
	}
	// Garbage: a verdict, not an error.
	if ans, err = f.svc.CheckUpload(ctx, []byte("%PDF-1.7 nonsense")); err != nil || ans.Indication == Passed {
		t.Fatalf("garbage: %+v %v", ans, err)
	}
}

// ttlCache records the ttl of the last SetIf.
type ttlCache struct {
	mapCache
	ttl time.Duration
}

func (c *ttlCache) SetIf(ctx context.Context, key string, val []byte, gen Gen, ttl time.Duration) (bool, error) {
	c.ttl = ttl
	return c.mapCache.SetIf(ctx, key, val, gen, ttl)
}

// A 有效 decided on the term's last day is never cached into the next
// day, even when the load runs across midnight (the ttl was counted from
// a second reading of the clock).
func TestValidNotCachedPastTheTermsLastDay(t *testing.T) {
	f := newSvcFixture(t)
	lastDay := time.Date(2028, 12, 31, 23, 59, 59, 995e6, registry.ChinaTZ) // the fixture's term ends 2028-12-31
	for _, tc := range []struct {
		name string
		step time.Duration // the clock moves this much at each reading
		max  time.Duration
	}{
		{"the load runs across midnight", 3 * time.Millisecond, 0},
		{"the load ends before midnight", 0, 5 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &ttlCache{mapCache: mapCache{m: map[string][]byte{}}}
			readings := 0
			clock := func() time.Time { readings++; return lastDay.Add(time.Duration(readings) * tc.step) }
			svc, err := NewService(f.store, NewCached(c, CachedOptions{}), "https://x", f.ca.trust(), clock)
			if err != nil {
				t.Fatal(err)
			}
			r, err := svc.ByToken(context.Background(), number, f.token, JSON)
			if err != nil {
				t.Fatal(err)
			}
			if r.Outcome != registry.CertValid || c.ttl > tc.max {
				t.Errorf("%s cached for %v, want at most %v", r.Outcome, c.ttl, tc.max)
			}
		})
	}
}

// The service's one loader finds what to load in the key: every key
// cacheKey makes parses back to its parts, and nothing else parses.
func TestCacheKeyParsesBack(t *testing.T) {
	for _, tc := range []struct {
		kind, number string
		f            Format
	}{{"t", "2026-37-0001-00001X", HTML}, {"n", "2026-37-0001-00002", JSON}} {
		kind, number, f, ok := parseCacheKey(cacheKey(tc.kind, tc.number, tc.f))
		if !ok || kind != tc.kind || number != tc.number || f != tc.f {
			t.Errorf("parseCacheKey(cacheKey(%q, %q, %d)) = %q, %q, %d, %v", tc.kind, tc.number, tc.f, kind, number, f, ok)
		}
	}
	for _, bad := range []string{"", "v1:", "v1:t", "v1:t:N", "v1:t:N:x", "v2:t:N:0"} {
		if _, _, _, ok := parseCacheKey(bad); ok {
			t.Errorf("parseCacheKey(%q) parsed", bad)
		}
	}
}
