package verify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/certseal/certseal/registry"
)

// Service answers the public lookups: by number + QR token, and by number +
// holder's name. Answers are rendered once and cached as bytes; the
// current time is spliced in when served.
type Service struct {
	// OfferPDF puts a download button for the PDF on the page a valid
	// certificate's QR code opens (the platform's choice; set it before
	// serving). The button posts back to the page's own address, so the
	// token is never written into a page or a cache.
	OfferPDF bool
	// SES is the trust of the certificates' 国密 seal signatures (ses.go);
	// set it before serving. Without a CA they are reported invalid.
	SES SESTrust

	store    registry.Store
	cache    *Cached
	platform string
	trust    PDFTrust
	now      func() time.Time
	loader   Loader  // s.loadKey, made once
	unknown  [2]page // per Format
	bufs     sync.Pool
	splice   *splicer
}

// NewService wires the verifier. platform is the public base URL; trust
// is the platform CA that uploaded PDFs must chain to.
func NewService(store registry.Store, cache *Cached, platform string, trust PDFTrust, now func() time.Time) (*Service, error) {
	s := &Service{store: store, cache: cache, platform: platform, trust: trust, now: now, splice: newSplicer(),
		// Pages are about 20 KB.
		bufs: sync.Pool{New: func() any { b := make([]byte, 0, 32<<10); return &b }}}
	for _, f := range []Format{HTML, JSON} {
		p, err := renderPage(unknownAnswer(platform, time.Time{}), f, false, false)
		if err != nil {
			return nil, err
		}
		s.unknown[f] = p
	}
	s.loader = s.loadKey
	return s, nil
}

// How long answers stay cached. Positive answers also never outlive the
// day: expiry is derived from the date, so a cached "valid" must not
// survive the midnight that ends a term.
const (
	negativeTTL = 30 * time.Second
	positiveTTL = 10 * time.Minute
)

// positiveTTL is how long answers whose statuses were decided at decided
// may be cached: never past the midnight after decided, counted from now
// (a load that ran across midnight is not cached at all).
func (s *Service) positiveTTL(decided time.Time) time.Duration {
	midnight := registry.Today(decided.In(registry.ChinaTZ)).AddDate(0, 0, 1).Time()
	return min(positiveTTL, midnight.Sub(s.now()))
}

// Response is a rendered answer ready to write.
type Response struct {
	Status  int
	Outcome registry.CertState // for metrics
	format  Format
	page    page
	now     time.Time
	bufs    *sync.Pool // of *[]byte, where the answer is put together
	splice  *splicer
	extra   []byte // JSON members added after the cache (WithMember)
}

// WriteTo writes the answer with the current server time.
func (r Response) WriteTo(w http.ResponseWriter) {
	h := w.Header()
	setAnswerHeaders(h, r.format)
	if r.format == HTML {
		if sp := r.splice.get(r.page, r.now); sp != nil {
			h["Content-Length"] = sp.length
			w.WriteHeader(r.Status)
			w.Write(sp.body)
			return
		}
	}
	// One Write of the whole answer: each Write of a few kilobytes is a
	// write(2) of its own, and system calls are most of what a cached page
	// costs.
	bp := r.bufs.Get().(*[]byte)
	b := append((*bp)[:0], r.page.body[:r.page.split]...)
	b = appendServerTime(b, r.format, r.now)
	b = r.appendBody(b)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(r.Status)
	w.Write(b)
	*bp = b
	r.bufs.Put(bp)
}

// ByToken answers a QR code scan.
func (s *Service) ByToken(ctx context.Context, number, token string, f Format) (Response, error) {
	secret := sha256Of(token)
	return s.lookup(ctx, "t", number, secret[:], f)
}

// ByName answers a typed lookup: number and the holder's name.
func (s *Service) ByName(ctx context.Context, number, name string, f Format) (Response, error) {
	secret := sha256Of(strings.TrimSpace(name))
	return s.lookup(ctx, "n", number, secret[:], f)
}

// sha256Of is an array, not a slice: it stays on the caller's stack.
func sha256Of(s string) [sha256.Size]byte {
	return sha256.Sum256([]byte(s))
}

// Keys of the cache entries of a number.
func cacheKey(kind, number string, f Format) string {
	return "v1:" + kind + ":" + number + ":" + strconv.Itoa(int(f))
}

// parseCacheKey is cacheKey's inverse.
func parseCacheKey(key string) (kind, number string, f Format, ok bool) {
	rest, ok := strings.CutPrefix(key, "v1:")
	kind, rest, ok2 := strings.Cut(rest, ":")
	number, fs, ok3 := strings.Cut(rest, ":")
	n, err := strconv.Atoi(fs)
	if !ok || !ok2 || !ok3 || err != nil {
		return "", "", 0, false
	}
	return kind, number, Format(n), true
}

// loadKey is the cache's loader: the load of what key names.
func (s *Service) loadKey(ctx context.Context, key string) ([]byte, time.Duration, error) {
	kind, number, f, ok := parseCacheKey(key)
	if !ok {
		return nil, 0, fmt.Errorf("verify: %q is not a key of a verification answer", key)
	}
	return s.load(ctx, kind, number, f)
}

// Invalidate drops the cached answers of numbers; call it after the change
// commits and before the changing request returns. It cannot fail: a cache
// that cannot be told stops being trusted (see Cached).
func (s *Service) Invalidate(ctx context.Context, numbers ...string) {
	var keys []string
	for _, n := range numbers {
		for _, kind := range []string{"t", "n"} {
			for _, f := range []Format{HTML, JSON} {
				keys = append(keys, cacheKey(kind, n, f))
			}
		}
	}
	s.cache.Invalidate(ctx, keys...)
}

func (s *Service) lookup(ctx context.Context, kind, number string, secretHash []byte, f Format) (Response, error) {
	number, err := registry.ParseCertNumber(number)
	if err != nil {
		return Response{}, err // a typo is caught before any lookup
	}
	entry, err := s.cache.Get(ctx, cacheKey(kind, number, f), s.loader)
	if err != nil {
		return Response{}, err
	}
	now := s.now()
	// Walk every candidate whatever matches, so a wrong token costs the
	// same as a right one.
	var found page
	var outcome registry.CertState
	ok := 0
	for rest := entry; ; {
		c, more, next := nextCandidate(rest)
		if !more {
			break
		}
		if subtle.ConstantTimeCompare(c.secret, secretHash) == 1 {
			found, outcome, ok = c.page, c.state, 1
		}
		rest = next
	}
	if ok == 0 {
		return Response{Status: http.StatusNotFound, Outcome: registry.CertUnknown, format: f, page: s.unknown[f], now: now, bufs: &s.bufs, splice: s.splice}, nil
	}
	return Response{Status: http.StatusOK, Outcome: outcome, format: f, page: found, now: now, bufs: &s.bufs, splice: s.splice}, nil
}

// ErrNoDownload answers a PDF download by QR token that is not offered:
// the same for a wrong token, an unknown number, a certificate that is not
// valid and a platform that does not offer downloads, so it reveals
// nothing a lookup would not.
var ErrNoDownload = registry.Errf(registry.CodeNotFound, "no certificate PDF to download here: scan the QR code of a valid certificate")

// PDFByToken is the PDF of the version whose QR token this is, when the
// page that token opens offers it (OfferPDF, and the certificate passes).
func (s *Service) PDFByToken(ctx context.Context, number, token string) (registry.Certificate, []byte, error) {
	if !s.OfferPDF {
		return registry.Certificate{}, nil, ErrNoDownload
	}
	var pdf []byte
	c, err := s.byToken(ctx, number, token, ErrNoDownload, func(tx registry.Tx, versions []registry.Certificate, c registry.Certificate) error {
		seal, err := tx.Seal(ctx, c.SealID, registry.NoLock)
		if err != nil {
			return err
		}
		a := answerFor(c, versions[len(versions)-1].Version, registry.Unit{}, seal, s.platform, s.now())
		if a.Indication != Passed {
			return ErrNoDownload
		}
		pdf, err = tx.CertificatePDF(ctx, c.Number, c.Version)
		return err
	})
	return c, pdf, err
}

// versionByToken finds the version whose token hashes to secret, looking
// at every version whatever matches, so a wrong token costs what a right
// one does.
func versionByToken(versions []registry.Certificate, secret []byte) (c registry.Certificate, found bool) {
	for _, v := range versions {
		if subtle.ConstantTimeCompare(v.TokenHash, secret) == 1 {
			c, found = v, true
		}
	}
	return c, found
}

// load reads a number's versions and renders every answer a lookup of this
// kind can give. An unknown number is an empty entry, cached briefly.
func (s *Service) load(ctx context.Context, kind, number string, f Format) ([]byte, time.Duration, error) {
	var versions []registry.Certificate
	units := map[int64]registry.Unit{}
	seals := map[int64]registry.Seal{}
	err := s.store.View(ctx, func(tx registry.Tx) error {
		var err error
		if versions, err = tx.ListCertificates(ctx, registry.CertFilter{Number: number}); err != nil {
			return err
		}
		for _, c := range versions {
			if _, ok := units[c.Appointment.UnitID]; !ok {
				if units[c.Appointment.UnitID], err = tx.Unit(ctx, c.Appointment.UnitID); err != nil {
					return err
				}
			}
			if _, ok := seals[c.SealID]; !ok {
				if seals[c.SealID], err = tx.Seal(ctx, c.SealID, registry.NoLock); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("verify: load %s: %w", number, err)
	}
	if len(versions) == 0 {
		return nil, negativeTTL, nil
	}
	now := s.now()
	current := versions[len(versions)-1].Version
	var entry []byte
	for _, c := range versions {
		secret := c.TokenHash
		if kind == "n" {
			// A typed lookup finds the current version by the holder's name
			// and never shows the photo.
			if c.Version != current {
				continue
			}
			h := sha256Of(c.Appointment.Name)
			secret = h[:]
		}
		a := answerFor(c, current, units[c.Appointment.UnitID], seals[c.SealID], s.platform, now)
		p, err := renderPage(a, f, kind == "t", kind == "t" && s.OfferPDF && a.Indication == Passed)
		if err != nil {
			return nil, 0, err
		}
		entry = appendCandidate(entry, secret, a.Status, p)
	}
	return entry, s.positiveTTL(now), nil
}

// page is a rendered answer with the place where the time goes.
type page struct {
	body  []byte
	split int
}

func renderPage(a Answer, f Format, withPhoto, offerPDF bool) (page, error) {
	a.ServerTime = time.Time{}
	b, err := render(a, f, withPhoto, offerPDF)
	if err != nil {
		return page{}, err
	}
	// The zero time renders in a known form; replace it by the mark.
	zero := appendServerTime(nil, f, time.Time{})
	i := bytes.Index(b, zero)
	if i < 0 {
		return page{}, errors.New("verify: rendered answer has no server time")
	}
	return page{body: append(b[:i:i], b[i+len(zero):]...), split: i}, nil
}

// appendServerTime appends the time the answer is given, as the page shows
// it (in JSON, as time.Time marshals).
func appendServerTime(b []byte, f Format, t time.Time) []byte {
	if f == JSON {
		b = t.UTC().AppendFormat(append(b, '"'), time.RFC3339Nano)
		return append(b, '"')
	}
	return t.In(registry.ChinaTZ).AppendFormat(b, serverTimeLayout)
}

// serverTimeLayout is how the HTML page shows the server time: to the
// second (which splicer relies on).
const serverTimeLayout = "2006-01-02 15:04:05"

// Cache entry encoding: candidates one after another, each
// [secret 32][state len 1][state][split 4][body len 4][body].
type candidate struct {
	secret []byte
	state  registry.CertState
	page   page
}

func appendCandidate(b []byte, secret []byte, state registry.CertState, p page) []byte {
	b = append(b, secret...)
	b = append(b, byte(len(state)))
	b = append(b, state...)
	b = binary.BigEndian.AppendUint32(b, uint32(p.split))
	b = binary.BigEndian.AppendUint32(b, uint32(len(p.body)))
	return append(b, p.body...)
}

// certState is the state these bytes spell, without copying them for the
// states there are.
func certState(b []byte) registry.CertState {
	for _, s := range [...]registry.CertState{registry.CertValid, registry.CertRevoked, registry.CertExpired, registry.CertSuperseded} {
		if string(b) == string(s) {
			return s
		}
	}
	return registry.CertState(b)
}

// nextCandidate decodes the first candidate of b and what follows it; ok
// is false at the end (or at a malformed rest). A plain function rather
// than an iterator: its closure was an allocation on every lookup.
func nextCandidate(b []byte) (c candidate, ok bool, rest []byte) {
	if len(b) < 33 {
		return candidate{}, false, nil
	}
	c.secret, b = b[:32], b[32:]
	n := int(b[0])
	if len(b) < 1+n+8 {
		return candidate{}, false, nil
	}
	c.state, b = certState(b[1:1+n]), b[1+n:]
	split, size := int(binary.BigEndian.Uint32(b)), int(binary.BigEndian.Uint32(b[4:]))
	b = b[8:]
	if size > len(b) || split > size {
		return candidate{}, false, nil
	}
	c.page = page{body: b[:size:size], split: split}
	return c, true, b[size:]
}
