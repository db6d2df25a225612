package signer

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/certseal/certseal/keys"
	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/audit"
	"github.com/certseal/certseal/registry/workday"
)

// Chains builds a seal certificate's chain to the platform CA (keys.CA does).
type Chains interface {
	SealChain(sealCertDER []byte) ([]*x509.Certificate, error)
}

// Revocation is the revocation data embedded beside every signature
// (keys.Responder gives it): OCSP answers on the seal as just read and on
// the TSA's certificate. Neither reads the store: the answer on the seal
// says what the draft was signed with, which the recording transaction
// checks again.
type Revocation interface {
	SealOCSP(s registry.Seal) ([]byte, error)
	VouchedOCSP(cert *x509.Certificate) ([]byte, error)
}

// Issuer turns appointments into signed, recorded certificates.
type Issuer struct {
	w        *registry.Writer
	keys     keys.KeyManager
	sm2      SM2Keys
	chains   Chains
	tsa      Timestamper
	tsaTrust keys.TimestampTrust
	tsaCerts []*x509.Certificate
	revoc    Revocation
	renderer *Renderer
	pii      *registry.PII // the store's key, for the dedup key of an appointment
	baseURL  string
	calendar *workday.Calendar
	now      func() time.Time
	log      *slog.Logger

	// Prepared seal appearances by seal id (*preparedAppearance):
	// preparing decodes and re-encodes the imprint, which is too slow to
	// repeat per certificate.
	appearances sync.Map
	sealChains  sync.Map // seal id -> sealChain (sealchain.go)
	issued      issuedPairs
}

// IssuerDeps is what an Issuer works with. All are required but Log.
type IssuerDeps struct {
	Store registry.Store
	PII   *registry.PII   // the store's key, for the dedup key of an appointment
	Keys  keys.KeyManager // the one seal-key interface: keys.Seals makes the keys it signs with
	// SM2, if set, signs every certificate also with the seal's 国密
	// twin (ses.go).
	SM2      SM2Keys
	Chains   Chains
	Renderer *Renderer
	// TSA stamps every signature; its tokens must chain to TSATrust, and
	// TSACerts (the TSA's certificate, or an outside TSA's root) go into
	// the DSS, with an OCSP answer where Revocation vouches for one. Revocation gives the DSS its OCSP answer and CRL. Without
	// TSA or Revocation, signatures carry no timestamp or no DSS: what
	// certificates issued before long-term validation look like.
	TSA        Timestamper
	TSATrust   keys.TimestampTrust
	TSACerts   []*x509.Certificate
	Revocation Revocation
	// BaseURL is the public address of the verification pages
	// ({base}/v/{number}?k={token}).
	BaseURL string
	// Calendar counts the notice's deadlines in working days.
	Calendar *workday.Calendar
	Now      func() time.Time
	Log      *slog.Logger
}

// NewIssuer wires an issuer.
func NewIssuer(d IssuerDeps) *Issuer {
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.TSATrust.Chains == nil { // the same few TSAs' chains, token after token
		d.TSATrust.Chains = &keys.ChainMemo{}
	}
	return &Issuer{w: registry.Writing(d.Store), pii: d.PII, keys: d.Keys, sm2: d.SM2, chains: d.Chains, renderer: d.Renderer,
		tsa: d.TSA, tsaTrust: d.TSATrust, tsaCerts: d.TSACerts, revoc: d.Revocation, baseURL: d.BaseURL, calendar: d.Calendar, now: d.Now, log: d.Log}
}

// Request is one certificate to issue.
type Request struct {
	Appointment registry.Appointment
	Actor       string // who asks (API principal)
	RequestID   string
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
	return fmt.Sprintf("certificate %s (version %d) was already issued for this appointment (to correct it: reissue; to replace it: revoke it first)", e.Number, e.Version)
}

// Prepare checks everything about a request that does not need the
// database: fields, ID number, photo (scaled down to what is kept, see
// NormalizePhoto), and that the font can draw every character; and it
// marks the deadlines, the information being submitted today. Batches call it for every row before issuing any.
func (is *Issuer) Prepare(a registry.Appointment) (registry.Appointment, error) {
	today := registry.Today(is.now())
	a, err := a.Normalize(today)
	if err != nil {
		return a, err
	}
	if a.Photo, err = NormalizePhoto(a.Photo); err != nil {
		return a, err
	}
	if err := is.renderer.CheckText(a); err != nil {
		return a, err
	}
	return a, is.markLateness(&a, today)
}

// markLateness records the deadlines of a submitted on submittedOn. A late
// submission is accepted and marked; a year without calendar data is
// marked unchecked (and logged for the operator) rather than guessed, and
// does not stop issuing.
func (is *Issuer) markLateness(a *registry.Appointment, submittedOn registry.Date) error {
	a.LatenessUnchecked = ""
	err := workday.MarkLateness(is.calendar, a, submittedOn)
	var missing *workday.MissingYearError
	if errors.As(err, &missing) {
		a.LatenessUnchecked = missing.Error()
		is.log.Warn("deadlines not counted: the working-day calendar lacks a year", "year", missing.Year, "err", missing)
		return nil
	}
	return err
}

// Issue signs and records a new certificate (version 1 of a new number).
// What does not need the store is checked first (Prepare), then, read
// without locks, what the store would refuse (an appointment already
// issued, no filing in force, no active seal): a refused request holds no
// number. Then a number is held in a short transaction, the certificate
// is rendered and signed outside any transaction, and a second short one
// checks again under lock and records it (see recordDraft). A number held
// for a certificate that is not recorded is released for the next issue,
// so the year's sequence keeps no gap. Batches share the steps (grant,
// draft, record) but reserve their numbers at submission: see Batches.
func (is *Issuer) Issue(ctx context.Context, req Request) (Issued, error) {
	return is.issue(ctx, is.w, req)
}

// holdFor is how long a number stays held for an issue that neither used
// nor released it (its replica stopped): long past any render and sign,
// outside time-stamp included.
const holdFor = 10 * time.Minute

func (is *Issuer) issue(ctx context.Context, w *registry.Writer, req Request) (Issued, error) {
	a, err := is.Prepare(req.Appointment)
	if err != nil {
		return Issued{}, err
	}
	var st stamp
	err = w.View(ctx, func(tx registry.Tx) error {
		if err := is.checkNotIssued(ctx, tx, a); err != nil {
			return err
		}
		var err error
		st, err = is.checkGrant(ctx, tx, a)
		return err
	})
	if err != nil {
		return Issued{}, err
	}
	year, holder := registry.Today(is.now()).Year, rand.Text()
	seq := registry.CertSeqName(year)
	var value int64
	err = w.InTx(ctx, func(tx registry.Tx) (err error) {
		now := is.now()
		value, err = tx.HoldNumber(ctx, seq, holder, now, now.Add(holdFor))
		return err
	})
	if err != nil {
		return Issued{}, err
	}
	number, err := registry.FormatCertNumber(year, value)
	if err != nil {
		return Issued{}, err
	}
	out, err := is.signAndRecord(ctx, w, a, number, 1, st, req, func(tx registry.Tx) error {
		return tx.UseNumber(ctx, seq, value, holder, is.now())
	})
	if err != nil {
		release, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if rerr := w.InTx(release, func(tx registry.Tx) error { return tx.ReleaseNumber(release, seq, value, holder) }); rerr != nil {
			// Its hold runs out instead.
			is.log.WarnContext(ctx, "certificate number not released; it is free again when its hold runs out", "number", number, "err", rerr)
		}
	}
	return out, err
}

// checkGrant is whether, as tx reads it without locks, the unit may issue
// a now; it returns the seal to sign with.
func (is *Issuer) checkGrant(ctx context.Context, tx registry.Tx, a registry.Appointment) (stamp, error) {
	day := registry.Today(is.now())
	g, err := is.readGrant(ctx, tx, a.UnitID, a.Series, day, registry.NoLock)
	if err != nil {
		return stamp{}, err
	}
	return g.stamp, g.check(a, day)
}

// errVersionMoved says another reissue of the number was recorded between
// the read a reissue drafted from and its record: it drafts again.
var errVersionMoved = errors.New("signer: the certificate got a new version meanwhile")

// maxRedrafts bounds how often a certificate is drafted again because the
// seal or the version it was drafted with changed before it was recorded.
const maxRedrafts = 3

// Reissue corrects a certificate: the number stays, the version goes up,
// a new token is made, and the old version is marked superseded. It is
// drafted outside any transaction, as Issue is, against the version read
// first; the recording transaction supersedes that version only if it is
// still the newest.
func (is *Issuer) Reissue(ctx context.Context, number string, corrected registry.Appointment, req Request) (Issued, error) {
	return is.reissue(ctx, is.w, number, corrected, req, nil)
}

// reissue is Reissue through w; also, when set, runs in its recording
// transaction once the old version is superseded.
func (is *Issuer) reissue(ctx context.Context, w *registry.Writer, number string, corrected registry.Appointment, req Request,
	also func(ctx context.Context, tx registry.Tx, old registry.Certificate) error) (Issued, error) {
	prepared, err := is.Prepare(corrected)
	if err != nil {
		return Issued{}, err
	}
	for attempt := 0; ; attempt++ {
		a := prepared
		var old registry.Certificate
		var st stamp
		err := w.View(ctx, func(tx registry.Tx) (err error) {
			if old, err = tx.Certificate(ctx, number); err != nil {
				return err
			}
			if old.Appointment.UnitID != a.UnitID {
				return registry.FieldErr("unit_id", "a reissue stays with the unit that issued the certificate")
			}
			// A correction does not move the day the information came in:
			// the first version's (its issue day, for versions issued before
			// that day was recorded), nor whether it was a backfill.
			submitted := old.Appointment.SubmittedOn
			if submitted.IsZero() {
				first, err := tx.CertificateVersion(ctx, number, 1)
				if err != nil {
					return err
				}
				submitted = registry.Today(first.IssuedAt)
			}
			if err := is.markLateness(&a, submitted); err != nil {
				return err
			}
			a.Backfill = old.Appointment.Backfill
			st, err = is.checkGrant(ctx, tx, a)
			return err
		})
		if err != nil {
			return Issued{}, err
		}
		out, err := is.signAndRecord(ctx, w, a, number, old.Version+1, st, req, func(tx registry.Tx) error {
			cur, err := tx.Certificate(ctx, number)
			if err != nil {
				return err
			}
			if cur.Version != old.Version {
				return errVersionMoved
			}
			if err := registry.SupersedeCertificate(&cur); err != nil {
				return err
			}
			if err := tx.UpdateCertificate(ctx, &cur); err != nil {
				return err
			}
			if err := appendEvent(ctx, tx, req, "certificate.supersede", cur.Number, map[string]any{"number": cur.Number, "version": cur.Version}); err != nil {
				return err
			}
			if also != nil {
				return also(ctx, tx, cur)
			}
			return nil
		})
		if !errors.Is(err, errVersionMoved) || attempt == maxRedrafts {
			return out, err
		}
	}
}

// checkNotIssued refuses an appointment that already has a valid
// certificate, naming it (*AlreadyIssuedError in a duplicate error).
//
// The same person, series, level and term with other particulars is not
// the same appointment asked again but a clash: it is refused naming what
// differs and what to do, never answered with the other certificate.
func (is *Issuer) checkNotIssued(ctx context.Context, tx registry.CertTx, a registry.Appointment) error {
	prev, err := tx.CertificateByDedupKey(ctx, a.DedupKey(is.pii))
	switch {
	case err == nil:
		return issuedAs(prev, a)
	case errors.Is(err, registry.ErrNotFound):
		return nil
	}
	return err
}

// issuedAs is checkNotIssued's refusal of a, given the valid certificate
// prev with the same deduplication key.
func issuedAs(prev registry.Certificate, a registry.Appointment) error {
	if differs := differingParticulars(prev.Appointment, a); len(differs) > 0 {
		return &registry.Error{Code: registry.CodeDuplicate, Field: "id_number", Msg: fmt.Sprintf(
			"this ID number already has certificate %s (version %d) in this series and level for the same term, with another %s: "+
				"correct that certificate (reissue) or revoke it first", prev.Number, prev.Version, strings.Join(differs, ", "))}
	}
	already := &AlreadyIssuedError{Number: prev.Number, Version: prev.Version}
	return &registry.Error{Code: registry.CodeDuplicate, Msg: already.Error(), Err: already}
}

// differingParticulars names the fields in which two appointments with one
// deduplication key differ.
func differingParticulars(old, req registry.Appointment) []string {
	var out []string
	for _, f := range []struct {
		name     string
		old, new any
	}{
		{"name", old.Name, req.Name}, {"gender", old.Gender, req.Gender}, {"specialty", old.Specialty, req.Specialty},
		{"post", old.Post, req.Post}, {"committee", old.Committee, req.Committee},
		{"publication_number", old.PublicationNumber, req.PublicationNumber}, {"appointed_on", old.AppointedOn, req.AppointedOn},
	} {
		if f.old != f.new {
			out = append(out, f.name)
		}
	}
	return out
}

// signAndRecord drafts a certificate with the seal of st, outside any
// transaction, and records it (recordDraft); a draft whose seal is no
// longer the unit's active one when it would be recorded (a change was
// approved meanwhile) is drafted again with the new seal.
func (is *Issuer) signAndRecord(ctx context.Context, w *registry.Writer, a registry.Appointment, number string, version int, st stamp, req Request,
	first func(tx registry.Tx) error) (Issued, error) {
	for attempt := 0; ; attempt++ {
		d, err := is.draft(ctx, a, number, version, st)
		if err != nil {
			return Issued{}, err
		}
		out, moved, err := is.recordDraft(ctx, w, d, req, first)
		if moved == nil || attempt == maxRedrafts {
			return out, err
		}
		st = *moved
	}
}

// errSealMoved rolls back a record whose draft another seal must sign.
var errSealMoved = errors.New("signer: the unit's active seal changed since the draft was signed")

// recordDraft records d in one short transaction: first the workflow's own
// step (use the held number, supersede the old version), then again, under
// share locks held until commit (readGrant), what allows it: no other valid
// certificate for the appointment, a filing in force, and the seal that
// signed d still the unit's active seal. So a seal revoked, or a filing
// withdrawn, after the draft was signed and before this read refuses the
// record and nothing is kept; and one revoked after the read waits for the
// commit, so no recorded signature was made after a revocation committed.
// When another seal is active now, it returns that seal (moved) and
// records nothing.
func (is *Issuer) recordDraft(ctx context.Context, w *registry.Writer, d draft, req Request, first func(tx registry.Tx) error) (out Issued, moved *stamp, err error) {
	err = w.Write(ctx, func(tx registry.Tx, changed *registry.Changes) error {
		moved = nil
		if err := first(tx); err != nil {
			return err
		}
		if err := is.checkNotIssued(ctx, tx, d.a); err != nil {
			return err
		}
		day := registry.Today(is.now())
		g, err := is.readGrant(ctx, tx, d.a.UnitID, d.a.Series, day, registry.LockShare)
		if err != nil {
			return err
		}
		if err := g.check(d.a, day); err != nil {
			return err
		}
		if g.seal.ID != d.seal.ID {
			moved = &g.stamp
			return errSealMoved
		}
		if d.version == 1 { // a correction keeps what the first version was
			d.a.Backfill = registry.IsBackfill(d.a, g.filing)
		}
		out, err = is.record(ctx, tx, changed, d, req, 0)
		return err
	})
	if moved != nil {
		return Issued{}, moved, err
	}
	return out, nil, err
}

// stamp is what signing with a unit's seal needs from the store.
type stamp struct {
	seal registry.Seal
	twin *registry.SM2Seal // the seal's 国密 twin, if it has one
	uscc string
}

// stampOf reads the unit's active seal, with lock.
func stampOf(ctx context.Context, tx registry.SealTx, unit registry.Unit, lock registry.Lock) (stamp, error) {
	seals, err := tx.ListSeals(ctx, unit.ID)
	if err != nil {
		return stamp{}, err
	}
	active := registry.ActiveSeal(seals)
	if active == nil {
		return stamp{}, registry.Errf(registry.CodeSealNotActive, "the unit has no active seal")
	}
	seal, err := tx.Seal(ctx, active.ID, lock)
	if err != nil {
		return stamp{}, err
	}
	twin, err := twinOf(ctx, tx, seal.ID)
	return stamp{seal: seal, twin: twin, uscc: unit.USCC}, err
}

// grant is what allows a unit to issue in a series on a day: a filing in
// force and the active seal.
type grant struct {
	filing registry.Filing
	stamp
}

// grantTx is what reading a grant needs of a transaction.
type grantTx interface {
	registry.UnitTx
	registry.FilingTx
	registry.SealTx
}

// readGrant reads the grant. Inside the recording transaction the filing
// and the seal are read with a share lock (lock), held until commit: a
// withdrawal of the filing, or a revocation (or a change) of the seal,
// cannot commit between this read and the commit.
func (is *Issuer) readGrant(ctx context.Context, tx grantTx, unitID int64, series string, day registry.Date, lock registry.Lock) (grant, error) {
	unit, err := tx.Unit(ctx, unitID)
	if err != nil {
		return grant{}, err
	}
	filings, err := tx.ListFilings(ctx, registry.FilingFilter{UnitID: unitID, Series: series, InForceOn: day})
	if err != nil {
		return grant{}, err
	}
	var filing registry.Filing
	for _, f := range filings {
		// Read again under the lock: the list may have seen the filing
		// before a withdrawal that was waiting to commit.
		if filing, err = tx.Filing(ctx, f.ID, lock); err != nil {
			return grant{}, err
		}
		if filing.InForce(day) {
			break
		}
	}
	if !filing.InForce(day) {
		return grant{}, &registry.Error{Code: registry.CodeFilingNotInForce, Field: "series",
			Msg: fmt.Sprintf("the unit has no filing for series %q in force on %s", series, day)}
	}
	st, err := stampOf(ctx, tx, unit, lock)
	return grant{filing: filing, stamp: st}, err
}

// check is whether the grant covers appointment a on day.
func (g grant) check(a registry.Appointment, day registry.Date) error {
	return registry.CheckIssue(a, g.filing, g.seal, day)
}

// draft is a certificate rendered and signed but not recorded yet.
type draft struct {
	a         registry.Appointment
	number    string
	version   int
	seal      registry.Seal // the seal version that signed
	token     string
	tokenHash []byte
	verifyURL string
	signed    Signed
	ses       []byte    // the seal signature over signed.PDF (ses.go), if any
	at        time.Time // the signing time, recorded as IssuedAt
}

// draft renders and signs a certificate. It reads nothing from the store,
// so it may run outside a transaction; record then decides whether the
// signature may stand.
func (is *Issuer) draft(ctx context.Context, a registry.Appointment, number string, version int, st stamp) (draft, error) {
	token, tokenHash, err := newToken()
	if err != nil {
		return draft{}, err
	}
	verifyURL := is.baseURL + "/v/" + url.PathEscape(number) + "?k=" + token
	pdf, err := is.renderer.Render(Document{Appointment: a, Number: number, VerifyURL: verifyURL})
	if err != nil {
		return draft{}, err
	}
	at := is.now()
	signed, err := is.sign(ctx, pdf, st, at)
	if err != nil {
		return draft{}, err
	}
	sesDER, err := is.sesSign(ctx, st, signed.PDF, number, version, at)
	if err != nil {
		return draft{}, err
	}
	return draft{a: a, number: number, version: version, seal: st.seal, token: token, tokenHash: tokenHash,
		verifyURL: verifyURL, signed: signed, ses: sesDER, at: at}, nil
}

// recordTx is what recording a certificate needs of a transaction.
type recordTx interface {
	registry.CertTx
	registry.AuditTx
	sesRecorder
}

// record stores a drafted certificate and the record of the seal's use.
// The caller must have read, in tx and after the draft was signed, the
// grant whose seal signed it (readGrant): its share lock is what makes
// "signed before any revocation of the seal committed" true of every
// recorded signature.
func (is *Issuer) record(ctx context.Context, tx recordTx, changed *registry.Changes, d draft, req Request, batchID int64) (Issued, error) {
	c := registry.Certificate{Number: d.number, Version: d.version, Appointment: d.a, TokenHash: d.tokenHash, State: registry.CertValid,
		SealID: d.seal.ID, SealVersion: d.seal.Version, IssuedAt: d.at, PDFSHA256: d.signed.SHA256[:], BatchID: batchID}
	if err := tx.CreateCertificate(ctx, &c, d.signed.PDF); err != nil {
		return Issued{}, err
	}
	if err := recordSES(ctx, tx, d); err != nil {
		return Issued{}, err
	}
	// The record of every use of the seal (国办发〔2025〕33号).
	if err := appendEvent(ctx, tx, req, "certificate.sign", d.number, map[string]any{
		"number": d.number, "version": d.version, "seal_id": d.seal.ID, "seal_version": d.seal.Version,
		"pdf_sha256": fmt.Sprintf("%x", d.signed.SHA256), "at": d.at,
	}); err != nil {
		return Issued{}, err
	}
	// A new number may have been cached as unknown by someone who typed it early.
	changed.Certificate(d.number)
	changed.Issued++
	return Issued{Certificate: c, Token: d.token, VerifyURL: d.verifyURL, PDF: d.signed.PDF}, nil
}

func (is *Issuer) sign(ctx context.Context, pdf []byte, st stamp, now time.Time) (Signed, error) {
	seal := st.seal
	key, err := is.keys.Signer(ctx, seal)
	if err != nil {
		return Signed{}, fmt.Errorf("signer: key of seal version %d: %w", seal.Version, err)
	}
	chain, err := is.sealChain(seal)
	if err != nil {
		return Signed{}, fmt.Errorf("signer: chain of seal version %d: %w", seal.Version, err)
	}
	app, err := is.appearance(seal)
	if err != nil {
		return Signed{}, err
	}
	var dss *DSS
	if is.revoc != nil {
		if dss, err = NewDSS(is.revoc, seal, chain, is.tsaCerts); err != nil {
			return Signed{}, err
		}
	}
	return Sign(ctx, pdf, SealSigning{Signer: key, Certificate: chain[0], Chain: chain[1:], Time: now, Appearance: app,
		Rect: is.renderer.Template().SealRect(), USCC: st.uscc, SealVersion: seal.Version,
		Timestamper: is.tsa, TimestampTrust: is.tsaTrust, DSS: dss, issued: &is.issued})
}

// NewDSS is what a validator needs offline beside a seal's signature: the
// seal's chain and the TSA's certificates, a fresh OCSP answer on the seal
// as s says, and one on each TSA certificate rev vouches for.
func NewDSS(rev Revocation, s registry.Seal, chain, tsaCerts []*x509.Certificate) (*DSS, error) {
	answer, err := rev.SealOCSP(s)
	if err != nil {
		return nil, fmt.Errorf("signer: OCSP answer for seal version %d: %w", s.Version, err)
	}
	d := &DSS{OCSPs: [][]byte{answer}}
	for _, c := range chain {
		d.Certs = append(d.Certs, c.Raw)
	}
	return d, d.addVouched(rev, tsaCerts)
}

// addVouched adds certificates and, for those rev vouches for (certseal's
// own TSA and document signer), a fresh OCSP answer on each.
func (d *DSS) addVouched(rev Revocation, certs []*x509.Certificate) error {
	for _, c := range certs {
		d.Certs = append(d.Certs, c.Raw)
		answer, err := rev.VouchedOCSP(c)
		switch {
		case errors.Is(err, keys.ErrNotVouched): // an outside TSA's, or a CA: their own responder or CRL answers
		case err != nil:
			return fmt.Errorf("signer: OCSP answer for %s: %w", c.Subject.CommonName, err)
		default:
			d.OCSPs = append(d.OCSPs, answer)
		}
	}
	return nil
}

// preparedAppearance is one seal's appearance, prepared once however many
// drafts ask for it at the same time (they are signed concurrently).
type preparedAppearance struct {
	once sync.Once
	a    *Appearance
	err  error
}

func (is *Issuer) appearance(seal registry.Seal) (*Appearance, error) {
	v, _ := is.appearances.LoadOrStore(seal.ID, &preparedAppearance{})
	p := v.(*preparedAppearance)
	p.once.Do(func() { p.a, p.err = PrepareAppearance(seal.ImprintPNG) })
	if p.err != nil {
		is.appearances.CompareAndDelete(seal.ID, p) // the next draft tries again
		return nil, fmt.Errorf("signer: imprint of seal version %d: %w", seal.Version, p.err)
	}
	return p.a, nil
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

func appendEvent(ctx context.Context, tx registry.AuditTx, req Request, action, subject string, payload any) error {
	return tx.AppendAudit(ctx, &registry.AuditEvent{At: time.Now(), Actor: req.Actor, Action: action,
		SubjectType: "certificate", SubjectID: subject, RequestID: req.RequestID, PayloadDigest: audit.Digest(payload)})
}
