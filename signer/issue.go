package signer

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/audit"
)

// KeyManager hands out a seal's signing key (keys.KeyManager satisfies it).
type KeyManager interface {
	Signer(ctx context.Context, s registry.Seal) (crypto.Signer, error)
}

// Chains builds a seal certificate's chain to the platform CA (keys.CA does).
type Chains interface {
	SealChain(sealCertDER []byte) ([]*x509.Certificate, error)
}

// Issuer turns appointments into signed, recorded certificates.
type Issuer struct {
	store    registry.Store
	keys     KeyManager
	chains   Chains
	renderer *Renderer
	pii      *registry.PII // the store's key, for the dedup key of an appointment
	baseURL  string
	now      func() time.Time
	log      *slog.Logger

	// Prepared seal appearances by seal id: preparing decodes and
	// re-encodes the imprint, which is too slow to repeat per certificate.
	appearances sync.Map
}

// NewIssuer wires an issuer. baseURL is the public address of the
// verification pages ({base}/v/{number}?k={token}).
func NewIssuer(store registry.Store, pii *registry.PII, km KeyManager, chains Chains, r *Renderer, baseURL string, now func() time.Time, log *slog.Logger) *Issuer {
	return &Issuer{store: store, pii: pii, keys: km, chains: chains, renderer: r, baseURL: baseURL, now: now, log: log}
}

// Request is one certificate to issue.
type Request struct {
	Appointment registry.Appointment
	Actor       string // who asks (API principal)
	RequestID   string
	// Row, when set, is the batch row this issue settles in the same
	// transaction, so a crash can neither lose nor repeat it.
	Row *registry.BatchRow
}

// Issued is the outcome: the recorded certificate version, its QR token
// (shown once: only its hash is stored) and the signed PDF.
type Issued struct {
	Certificate registry.Certificate
	Token       string
	VerifyURL   string
	PDF         []byte
}

// AlreadyIssuedError says a valid certificate already exists for the same
// appointment (it comes wrapped in a registry duplicate error).
type AlreadyIssuedError struct {
	Number  string
	Version int
}

func (e *AlreadyIssuedError) Error() string {
	return fmt.Sprintf("certificate %s (version %d) was already issued for this appointment", e.Number, e.Version)
}

// Prepare checks everything about a request that does not need the
// database: fields, ID number, photo, and that the font can draw every
// character. Batches call it for every row before issuing any.
func (is *Issuer) Prepare(a registry.Appointment) (registry.Appointment, error) {
	a, err := a.Normalize(registry.Today(is.now()))
	if err != nil {
		return a, err
	}
	if _, err := CheckPhoto(a.Photo); err != nil {
		return a, err
	}
	if err := is.renderer.CheckText(a); err != nil {
		return a, err
	}
	return a, nil
}

// Issue signs and records a new certificate (version 1 of a new number).
func (is *Issuer) Issue(ctx context.Context, req Request) (Issued, error) {
	a, err := is.Prepare(req.Appointment)
	if err != nil {
		return Issued{}, err
	}
	var out Issued
	err = is.store.InTx(ctx, func(tx registry.Tx) error {
		if prev, err := tx.CertificateByDedupKey(ctx, a.DedupKey(is.pii)); err == nil {
			already := &AlreadyIssuedError{Number: prev.Number, Version: prev.Version}
			return &registry.Error{Code: registry.CodeDuplicate, Msg: already.Error(), Err: already}
		} else if !errors.Is(err, registry.ErrNotFound) {
			return err
		}
		year := registry.Today(is.now()).Year
		seq, err := tx.NextSeq(ctx, registry.CertSeqName(year))
		if err != nil {
			return err
		}
		number, err := registry.FormatCertNumber(year, seq)
		if err != nil {
			return err
		}
		out, err = is.signAndRecord(ctx, tx, a, number, 1, req)
		return err
	})
	return out, err
}

// Reissue corrects a certificate: the number stays, the version goes up,
// a new token is made, and the old version is marked superseded.
func (is *Issuer) Reissue(ctx context.Context, number string, corrected registry.Appointment, req Request) (Issued, error) {
	a, err := is.Prepare(corrected)
	if err != nil {
		return Issued{}, err
	}
	var out Issued
	err = is.store.InTx(ctx, func(tx registry.Tx) error {
		old, err := tx.Certificate(ctx, number)
		if err != nil {
			return err
		}
		if old.Appointment.UnitID != a.UnitID {
			return registry.FieldErr("unit_id", "a reissue stays with the unit that issued the certificate")
		}
		if err := registry.SupersedeCertificate(&old); err != nil {
			return err
		}
		if err := tx.UpdateCertificate(ctx, &old); err != nil {
			return err
		}
		if err := appendEvent(ctx, tx, req, "certificate.supersede", old.Number, map[string]any{"number": old.Number, "version": old.Version}); err != nil {
			return err
		}
		out, err = is.signAndRecord(ctx, tx, a, number, old.Version+1, req)
		return err
	})
	return out, err
}

// signAndRecord runs inside the issuing transaction. The seal is read with
// a share lock and signed with before commit: a revocation must wait for
// this transaction, so no signature is ever made after a revocation committed.
func (is *Issuer) signAndRecord(ctx context.Context, tx registry.Tx, a registry.Appointment, number string, version int, req Request) (Issued, error) {
	day := registry.Today(is.now())
	filings, err := tx.ListFilings(ctx, registry.FilingFilter{UnitID: a.UnitID, Series: a.Series, InForceOn: day, Page: registry.Page{Limit: 1}})
	if err != nil {
		return Issued{}, err
	}
	if len(filings) == 0 {
		return Issued{}, &registry.Error{Code: registry.CodeFilingNotInForce, Field: "series",
			Msg: fmt.Sprintf("the unit has no filing for series %q in force on %s", a.Series, day)}
	}
	seals, err := tx.ListSeals(ctx, a.UnitID)
	if err != nil {
		return Issued{}, err
	}
	active := registry.ActiveSeal(seals)
	if active == nil {
		return Issued{}, registry.Errf(registry.CodeSealNotActive, "the unit has no active seal")
	}
	seal, err := tx.Seal(ctx, active.ID, registry.LockShare)
	if err != nil {
		return Issued{}, err
	}
	if err := registry.CheckIssue(a, filings[0], seal, day); err != nil {
		return Issued{}, err
	}
	// The signing time is taken under the seal's lock, so it is never
	// earlier than a revocation it could have raced.
	now := is.now()
	unit, err := tx.Unit(ctx, a.UnitID)
	if err != nil {
		return Issued{}, err
	}
	token, tokenHash, err := newToken()
	if err != nil {
		return Issued{}, err
	}
	verifyURL := is.baseURL + "/v/" + url.PathEscape(number) + "?k=" + token
	pdf, err := is.renderer.Render(Document{Appointment: a, Number: number, VerifyURL: verifyURL})
	if err != nil {
		return Issued{}, err
	}
	signed, err := is.sign(ctx, pdf, unit, seal, now)
	if err != nil {
		return Issued{}, err
	}
	c := registry.Certificate{Number: number, Version: version, Appointment: a, TokenHash: tokenHash, State: registry.CertValid,
		SealID: seal.ID, SealVersion: seal.Version, IssuedAt: now, PDFSHA256: signed.SHA256[:]}
	if req.Row != nil {
		c.BatchID = req.Row.BatchID
	}
	if err := tx.CreateCertificate(ctx, &c, signed.PDF); err != nil {
		return Issued{}, err
	}
	// The record of every use of the seal (国办发〔2025〕33号).
	if err := appendEvent(ctx, tx, req, "certificate.sign", number, map[string]any{
		"number": number, "version": version, "seal_id": seal.ID, "seal_version": seal.Version,
		"pdf_sha256": fmt.Sprintf("%x", signed.SHA256), "at": now,
	}); err != nil {
		return Issued{}, err
	}
	if req.Row != nil {
		row := *req.Row
		row.State, row.Number, row.Error = registry.RowIssued, number, ""
		if err := tx.UpdateBatchRow(ctx, &row); err != nil {
			return Issued{}, err
		}
	}
	return Issued{Certificate: c, Token: token, VerifyURL: verifyURL, PDF: signed.PDF}, nil
}

func (is *Issuer) sign(ctx context.Context, pdf []byte, unit registry.Unit, seal registry.Seal, now time.Time) (Signed, error) {
	key, err := is.keys.Signer(ctx, seal)
	if err != nil {
		return Signed{}, fmt.Errorf("signer: key of seal version %d: %w", seal.Version, err)
	}
	chain, err := is.chains.SealChain(seal.CertDER)
	if err != nil {
		return Signed{}, fmt.Errorf("signer: chain of seal version %d: %w", seal.Version, err)
	}
	app, err := is.appearance(seal)
	if err != nil {
		return Signed{}, err
	}
	return Sign(pdf, SealSigning{Signer: key, Certificate: chain[0], Chain: chain[1:], Time: now, Appearance: app,
		Rect: is.renderer.Template().SealRect(), USCC: unit.USCC, SealVersion: seal.Version})
}

func (is *Issuer) appearance(seal registry.Seal) (*Appearance, error) {
	if a, ok := is.appearances.Load(seal.ID); ok {
		return a.(*Appearance), nil
	}
	a, err := PrepareAppearance(seal.ImprintPNG)
	if err != nil {
		return nil, fmt.Errorf("signer: imprint of seal version %d: %w", seal.Version, err)
	}
	is.appearances.Store(seal.ID, a)
	return a, nil
}

// newToken makes the random QR token: 128 bits, so a printed number alone
// reveals nothing and tokens cannot be guessed.
func newToken() (token string, hash []byte, err error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("signer: token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, TokenHash(token), nil
}

// TokenHash is how a QR token is stored and compared.
func TokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

func appendEvent(ctx context.Context, tx registry.Tx, req Request, action, subject string, payload any) error {
	return tx.AppendAudit(ctx, &registry.AuditEvent{At: time.Now(), Actor: req.Actor, Action: action,
		SubjectType: "certificate", SubjectID: subject, RequestID: req.RequestID, PayloadDigest: audit.Digest(payload)})
}
