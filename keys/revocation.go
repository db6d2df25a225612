package keys

import (
	"bytes"
	"cmp"
	"context"
	"crypto"
	"crypto/rand"
	_ "crypto/sha1" // OCSP clients name the issuer by SHA-1 hashes
	_ "crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"sync"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/certseal/certseal/registry"
)

// SealSource is what the responder reads from the store. registry.Tx has
// both methods; SealBySerial returns an error matching registry.ErrNotFound
// for a serial it does not know.
type SealSource interface {
	RevokedSeals(ctx context.Context) ([]registry.Seal, error)
	SealBySerial(ctx context.Context, serial string) (registry.Seal, error)
}

// StoreSeals is the SealSource of a registry.Store: each read in a read
// transaction of its own.
func StoreSeals(store registry.Store) SealSource { return storeSeals{store} }

type storeSeals struct{ store registry.Store }

func (s storeSeals) RevokedSeals(ctx context.Context) (seals []registry.Seal, err error) {
	err = s.store.View(ctx, func(tx registry.Tx) error {
		seals, err = tx.RevokedSeals(ctx)
		return err
	})
	return seals, err
}

// RevocationMark changes whenever a seal is revoked (see revocationMarker).
func (s storeSeals) RevocationMark(ctx context.Context) (mark string, err error) {
	err = s.store.View(ctx, func(tx registry.Tx) error {
		mark, err = tx.SealRevocationMark(ctx)
		return err
	})
	return mark, err
}

// revocationMarker is a SealSource that tells cheaply whether a seal was
// revoked since it last said (StoreSeals does). The responder asks it at
// every request, so a replica's CRL and OCSP answers follow a revocation
// made through another replica from its next request on.
type revocationMarker interface {
	RevocationMark(ctx context.Context) (string, error)
}

func (s storeSeals) SealBySerial(ctx context.Context, serial string) (seal registry.Seal, err error) {
	err = s.store.View(ctx, func(tx registry.Tx) error {
		seal, err = tx.SealBySerial(ctx, serial)
		return err
	})
	return seal, err
}

const (
	// DefaultRevocationValidity is nextUpdate - thisUpdate of CRLs and OCSP
	// responses unless the operator sets another (WithValidity): how long
	// a validator may rely on one it fetched. Cached answers are re-signed
	// after half their validity, so a fetched answer always has at least
	// half of it to run.
	DefaultRevocationValidity = 24 * time.Hour
	// maxOCSPCache bounds the per-serial cache; past it the cache starts
	// over, which costs one signature per serial asked again.
	maxOCSPCache = 100_000
)

// Responder serves the revocation state of seal certificates issued by the
// CA: a CRL and OCSP responses, both signed by the issuing CA and cached
// until Invalidate (or until half their validity has passed). A seal counts
// as revoked when its state is registry.SealRevoked; a superseded seal is
// not revoked, since what it signed stays valid and it never signs again.
// Safe for concurrent use.
type Responder struct {
	ca     *CA
	src    SealSource
	log    *slog.Logger
	now    func() time.Time
	hashes map[crypto.Hash]issuerHashes

	crlValidity, ocspValidity time.Duration
	vouched                   map[string]bool // serials of this CA's certificates that are not seals (the TSA's)

	build sync.Mutex // one CRL build at a time; readers of the cache do not wait

	mu      sync.Mutex // guards the fields below
	gen     uint64     // bumped by Invalidate; answers built from older data are not cached
	mark    string     // the source's revocation mark the cache was last checked against
	crl     *signedCRL
	lastCRL int64 // CRL number last issued by this process
	ocsp    map[ocspKey]cachedOCSP

	signedMu sync.Mutex
	signed   map[string][]byte // responses by the data they sign (see signOCSPResponse)
}

// maxSigned bounds Responder.signed: its entries name their second
// (thisUpdate), so older ones are never asked for again.
const maxSigned = 64

type signedCRL struct {
	der       []byte
	refreshAt time.Time
}

type ocspKey struct {
	hash   crypto.Hash // the response's CertID uses the request's hash
	serial string
}

type cachedOCSP struct {
	der       []byte
	refreshAt time.Time
}

type issuerHashes struct{ name, key []byte }

// NewResponder serves the revocation state of ca's seal certificates from
// src. now is the clock (nil: time.Now).
func NewResponder(ca *CA, src SealSource, logger *slog.Logger, now func() time.Time) (*Responder, error) {
	if now == nil {
		now = time.Now
	}
	keyBits, err := publicKeyBits(ca.issuing.RawSubjectPublicKeyInfo)
	if err != nil {
		return nil, fmt.Errorf("issuing CA: %w", err)
	}
	hashes := make(map[crypto.Hash]issuerHashes)
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		hashes[h] = issuerHashes{name: digest(h, ca.issuing.RawSubject), key: digest(h, keyBits)}
	}
	return &Responder{
		ca: ca, src: src, log: orDiscard(logger), now: now, hashes: hashes,
		ocsp:        make(map[ocspKey]cachedOCSP),
		crlValidity: DefaultRevocationValidity, ocspValidity: DefaultRevocationValidity,
	}, nil
}

// Vouch makes the responder answer good for certificates of this CA that
// are not seals and so are not in the registry: the TSA's. certseal has
// no way to revoke them but replacing the CA's files, so good is the
// truth. Call it before serving.
func (r *Responder) Vouch(certs ...*x509.Certificate) *Responder {
	if r.vouched == nil {
		r.vouched = map[string]bool{}
	}
	for _, c := range certs {
		if r.ca.issued(c) {
			r.vouched[SerialHex(c.SerialNumber)] = true
		}
	}
	return r
}

// WithValidity sets how long CRLs and OCSP responses run (nextUpdate -
// thisUpdate); zero keeps the default. Call it before serving.
func (r *Responder) WithValidity(crl, ocsp time.Duration) *Responder {
	if crl > 0 {
		r.crlValidity = crl
	}
	if ocsp > 0 {
		r.ocspValidity = ocsp
	}
	return r
}

func digest(h crypto.Hash, data []byte) []byte {
	d := h.New()
	d.Write(data)
	return d.Sum(nil)
}

// Invalidate drops the cached CRL and OCSP responses. Call it after a seal
// revocation commits (and on every replica when told of one), so the next
// request signs answers from the new state.
func (r *Responder) Invalidate() {
	r.mu.Lock()
	r.gen++
	r.crl = nil
	r.ocsp = make(map[ocspKey]cachedOCSP)
	r.mu.Unlock()
}

// follow drops the cached answers when the source's revocation mark moved
// since the last request. A mark that cannot be read changes nothing: what
// is cached was right when it was signed, and a build reports the store's
// trouble itself.
func (r *Responder) follow(ctx context.Context) {
	m, ok := r.src.(revocationMarker)
	if !ok {
		return
	}
	mark, err := m.RevocationMark(ctx)
	if err != nil {
		return
	}
	r.mu.Lock()
	moved := r.mark != mark
	r.mark = mark
	r.mu.Unlock()
	if moved {
		r.Invalidate()
	}
}

// CRL returns the current CRL (DER), signing a new one when the cached one
// was invalidated or is halfway to its nextUpdate.
func (r *Responder) CRL(ctx context.Context) ([]byte, error) {
	r.follow(ctx)
	if der := r.cachedCRL(); der != nil {
		return der, nil
	}
	r.build.Lock()
	defer r.build.Unlock()
	if der := r.cachedCRL(); der != nil { // built while we waited
		return der, nil
	}
	r.mu.Lock()
	gen := r.gen
	r.mu.Unlock()
	seals, err := r.src.RevokedSeals(ctx)
	if err != nil {
		return nil, fmt.Errorf("CRL: revoked seals: %w", err)
	}
	now := r.now()
	var entries []x509.RevocationListEntry
	var newest time.Time
	for _, s := range seals {
		if s.State != registry.SealRevoked {
			continue
		}
		cert, err := x509.ParseCertificate(s.CertDER)
		if err != nil {
			return nil, fmt.Errorf("CRL: seal %d (version %d): certificate: %w", s.ID, s.Version, err)
		}
		if !r.ca.issued(cert) {
			continue
		}
		rev, err := r.revocationOf(s, cert)
		if err != nil {
			return nil, fmt.Errorf("CRL: %w", err)
		}
		entries = append(entries, x509.RevocationListEntry{
			SerialNumber: rev.serial, RevocationTime: rev.at, ReasonCode: rev.reason, ExtraExtensions: rev.exts,
		})
		newest = maxTime(newest, rev.at)
	}
	slices.SortFunc(entries, func(a, b x509.RevocationListEntry) int {
		return cmp.Or(a.RevocationTime.Compare(b.RevocationTime), a.SerialNumber.Cmp(b.SerialNumber))
	})
	r.mu.Lock()
	// The number must grow with every CRL, across restarts and replicas, with
	// no shared counter: it is the signing time in microseconds, raised above
	// the newest revocation it lists (so a CRL with a newer revocation
	// outranks every CRL signed before that revocation, even on a replica
	// whose clock lags) and above this process's previous number.
	number := max(now.UnixMicro(), newest.UnixMicro()+1, r.lastCRL+1)
	r.lastCRL = number
	r.mu.Unlock()
	thisUpdate := now.Truncate(time.Second)
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number:                    big.NewInt(number),
		ThisUpdate:                thisUpdate,
		NextUpdate:                thisUpdate.Add(r.crlValidity),
		RevokedCertificateEntries: entries,
	}, r.ca.issuing, r.ca.key)
	if err != nil {
		return nil, fmt.Errorf("sign CRL: %w", err)
	}
	r.mu.Lock()
	if r.gen == gen {
		r.crl = &signedCRL{der: der, refreshAt: thisUpdate.Add(r.crlValidity / 2)}
	}
	r.mu.Unlock()
	return der, nil
}

func (r *Responder) cachedCRL() []byte {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.crl != nil && now.Before(r.crl.refreshAt) {
		return r.crl.der
	}
	return nil
}

type revocation struct {
	serial *big.Int
	at     time.Time
	reason int
	exts   []pkix.Extension // invalidityDate for keyCompromise
}

// revocationOf describes how the revoked seal s, whose certificate is cert,
// was revoked. A revoked seal without a revocation time is an error rather
// than left out: a CRL that silently drops a revoked seal is worse than none.
func (r *Responder) revocationOf(s registry.Seal, cert *x509.Certificate) (revocation, error) {
	if s.RevokedAt == nil {
		return revocation{}, fmt.Errorf("seal %d (version %d) is revoked but has no revocation time", s.ID, s.Version)
	}
	code, ok := s.Reason.RFC5280Code()
	if !ok {
		r.log.Warn("revoked seal has a reason that is not an RFC 5280 name; published as unspecified",
			"seal_id", s.ID, "version", s.Version, "reason", string(s.Reason))
	}
	rev := revocation{serial: cert.SerialNumber, at: *s.RevokedAt, reason: code}
	if s.Reason == registry.ReasonKeyCompromise && s.InvalidityDate != nil {
		val, err := asn1.MarshalWithParams(s.InvalidityDate.UTC().Truncate(time.Second), "generalized")
		if err != nil {
			return revocation{}, err
		}
		rev.exts = []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 24}, Value: val}}
	}
	return rev, nil
}

// ocspResponse answers a DER OCSP request (RFC 6960) with a DER response
// and whether it is a signed one. For a request it cannot use it returns an
// unsigned error status: malformedRequest; unauthorized when the request
// names another issuer; tryLater when the store fails. An answer to a
// request with a nonce echoes it and is signed for that request alone;
// others are cached per serial.
func (r *Responder) ocspResponse(ctx context.Context, reqDER []byte) (resp []byte, signed bool) {
	req, err := ocsp.ParseRequest(reqDER)
	if err != nil {
		return ocsp.MalformedRequestErrorResponse, false
	}
	nonce, err := requestNonce(reqDER)
	if err != nil {
		return ocsp.MalformedRequestErrorResponse, false
	}
	h, ok := r.hashes[req.HashAlgorithm]
	if !ok || !bytes.Equal(h.name, req.IssuerNameHash) || !bytes.Equal(h.key, req.IssuerKeyHash) {
		return ocsp.UnauthorizedErrorResponse, false
	}
	key := ocspKey{hash: req.HashAlgorithm, serial: SerialHex(req.SerialNumber)}
	r.follow(ctx)
	now := r.now()
	r.mu.Lock()
	c, hit := r.ocsp[key]
	gen := r.gen
	r.mu.Unlock()
	if hit && nonce == nil && now.Before(c.refreshAt) {
		return c.der, true
	}
	der, cache, err := r.signOCSP(ctx, req, key.serial, nonce, now)
	if err != nil {
		r.log.Error("OCSP response failed", "serial", key.serial, "err", err)
		return ocsp.TryLaterErrorResponse, false
	}
	if cache && nonce == nil {
		r.mu.Lock()
		if r.gen == gen {
			if len(r.ocsp) >= maxOCSPCache {
				r.ocsp = make(map[ocspKey]cachedOCSP)
			}
			r.ocsp[key] = cachedOCSP{der: der, refreshAt: now.Add(r.ocspValidity / 2)}
		}
		r.mu.Unlock()
	}
	return der, true
}

// signOCSP signs the status of one serial. Answers about serials nobody was
// issued are not cached, so random serials cannot fill the cache.
func (r *Responder) signOCSP(ctx context.Context, req *ocsp.Request, serial string, nonce []byte, now time.Time) (der []byte, cache bool, err error) {
	thisUpdate := now.UTC().Truncate(time.Second)
	a := ocspAnswer{
		hash: req.HashAlgorithm, nameHash: req.IssuerNameHash, keyHash: req.IssuerKeyHash, serial: req.SerialNumber,
		status: ocsp.Good, thisUpdate: thisUpdate, nextTime: thisUpdate.Add(r.ocspValidity), nonce: nonce,
	}
	if r.vouched[serial] {
		der, err := r.signOCSPResponse(a)
		return der, err == nil, err
	}
	s, err := r.src.SealBySerial(ctx, serial)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		a.status = ocsp.Unknown
	case err != nil:
		return nil, false, fmt.Errorf("seal by serial: %w", err)
	default:
		if cache, err = r.setStatus(&a, s, serial); err != nil {
			return nil, false, err
		}
	}
	der, err = r.signOCSPResponse(a)
	if err != nil {
		return nil, false, err
	}
	return der, cache, nil
}

// setStatus sets a's status from the seal record s and reports whether s
// is a certificate of this CA with that serial (else the status is
// unknown: recorded, but not this CA's to vouch for).
func (r *Responder) setStatus(a *ocspAnswer, s registry.Seal, serial string) (bool, error) {
	cert, err := x509.ParseCertificate(s.CertDER)
	if err != nil || !r.ca.issued(cert) || SerialHex(cert.SerialNumber) != serial {
		a.status = ocsp.Unknown
		return false, nil
	}
	if s.State != registry.SealRevoked {
		a.status = ocsp.Good
		return true, nil
	}
	rev, err := r.revocationOf(s, cert)
	if err != nil {
		return false, err
	}
	a.status, a.revokedAt, a.reason = ocsp.Revoked, rev.at, rev.reason
	for _, e := range rev.exts {
		a.singleExts = append(a.singleExts, pkixExtension{id: e.Id, critical: e.Critical, value: e.Value})
	}
	return true, nil
}

// ErrNotVouched is VouchedOCSP's answer for a certificate the responder
// was not told to vouch for (an outside TSA's, say).
var ErrNotVouched = errors.New("not a certificate this responder vouches for")

// VouchedOCSP returns a fresh signed OCSP response on a certificate
// given to Vouch (the TSA's), for embedding beside a signature; it reads
// nothing from the store.
func (r *Responder) VouchedOCSP(cert *x509.Certificate) ([]byte, error) {
	serial := SerialHex(cert.SerialNumber)
	if !r.vouched[serial] {
		return nil, fmt.Errorf("OCSP: certificate %s: %w", serial, ErrNotVouched)
	}
	return r.signOCSPResponse(r.freshAnswer(cert.SerialNumber))
}

// freshAnswer is a good answer on serial with a SHA-256 CertID, valid from now.
func (r *Responder) freshAnswer(serial *big.Int) ocspAnswer {
	h := r.hashes[crypto.SHA256]
	thisUpdate := r.now().UTC().Truncate(time.Second)
	return ocspAnswer{hash: crypto.SHA256, nameHash: h.name, keyHash: h.key, serial: serial, status: ocsp.Good,
		thisUpdate: thisUpdate, nextTime: thisUpdate.Add(r.ocspValidity)}
}

// SealOCSP returns a fresh signed OCSP response (SHA-256 CertID) on the
// seal's certificate with the state of the record s, for embedding beside
// a signature: the signer has just read s under lock, so the answer says
// what the signature relied on, and its thisUpdate is now.
func (r *Responder) SealOCSP(s registry.Seal) ([]byte, error) {
	cert, err := x509.ParseCertificate(s.CertDER)
	if err != nil {
		return nil, fmt.Errorf("OCSP: seal %d (version %d): certificate: %w", s.ID, s.Version, err)
	}
	a := r.freshAnswer(cert.SerialNumber)
	if ok, err := r.setStatus(&a, s, SerialHex(cert.SerialNumber)); err != nil || !ok {
		return nil, fmt.Errorf("OCSP: seal %d (version %d) is not a certificate of this CA (%v)", s.ID, s.Version, err)
	}
	return r.signOCSPResponse(a)
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
