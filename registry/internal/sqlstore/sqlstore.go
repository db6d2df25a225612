// Package sqlstore is the one implementation of registry.Tx over SQL that
// both stores share: registry/sqlite and registry/postgres differ only in
// how they open connections, run transactions and name a few dialect
// details, so the queries live here once.
package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/audit"
)

// Conn is one open transaction of a backend.
type Conn interface {
	Exec(ctx context.Context, query string, args ...any) (rowsAffected int64, err error)
	QueryRow(ctx context.Context, query string, args ...any) Row
	Query(ctx context.Context, query string, args ...any) (Rows, error)
	// Queue runs a write whose outcome only check needs: the rows it
	// affected, or its error. A backend that pays a round trip for every
	// statement may hold it and send it with the next statement or the
	// commit, in order; check's error then comes from that call.
	Queue(ctx context.Context, check func(rowsAffected int64, err error) error, query string, args ...any) error
}

type Row interface{ Scan(dest ...any) error }

type Rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

// Dialect names what differs between backends.
type Dialect struct {
	// LockShare and LockUpdate are appended to a SELECT of one row.
	LockShare, LockUpdate string
	// AuditLock, if set, is run before appending to the audit chain so
	// concurrent transactions append one after another (to the chain and
	// to the transparency log alike).
	AuditLock string
	IsNoRows  func(error) bool
	IsUnique  func(error) bool
	// WithoutLog appends events without their log leaves, as certseal did
	// before the log: only the benchmarks' baseline sets it, to price the log.
	WithoutLog bool
}

// Tx implements registry.Tx.
type Tx struct {
	c   Conn
	d   *Dialect
	pii *registry.PII
	// noLeaves: the schema has no log yet (a migration before it runs).
	noLeaves bool

	// What this transaction knows of the audit chain once it has appended
	// to it: it holds the append's turn until commit (the audit lock, or
	// SQLite's single writer), so nobody else moves the head or the log.
	auditLocked bool
	head        *registry.AuditEvent // the last event it appended
	hashes      map[int64][]byte     // log hashes it read or stored
}

// New wraps an open transaction.
func New(c Conn, d *Dialect, pii *registry.PII) *Tx { return &Tx{c: c, d: d, pii: pii} }

var _ registry.Tx = (*Tx)(nil)

// --- encoding helpers -------------------------------------------------------

func micros(t time.Time) int64 { return t.UTC().Truncate(audit.Precision).UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func microsPtr(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	v := micros(*t)
	return &v
}

func fromMicrosPtr(v *int64) *time.Time {
	if v == nil {
		return nil
	}
	t := fromMicros(*v)
	return &t
}

func parseDate(s string) (registry.Date, error) {
	if s == "" {
		return registry.Date{}, nil
	}
	return registry.ParseDate(s)
}

func jsonText(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func reviewJSON(r *registry.Review) (*string, error) {
	if r == nil {
		return nil, nil
	}
	s, err := jsonText(r)
	return &s, err
}

func parseReview(s *string) (*registry.Review, error) {
	if s == nil {
		return nil, nil
	}
	var r registry.Review
	if err := json.Unmarshal([]byte(*s), &r); err != nil {
		return nil, fmt.Errorf("stored review: %w", err)
	}
	return &r, nil
}

// notFound turns a backend's no-rows error into registry.ErrNotFound.
func (t *Tx) notFound(err error, what string, key any) error {
	if t.d.IsNoRows(err) {
		return &registry.Error{Code: registry.CodeNotFound, Msg: fmt.Sprintf("%s %v not found", what, key)}
	}
	return fmt.Errorf("read %s %v: %w", what, key, err)
}

func (t *Tx) duplicate(err error, what string) error {
	if t.d.IsUnique(err) {
		return &registry.Error{Code: registry.CodeDuplicate, Msg: what + " already exists", Err: err}
	}
	return fmt.Errorf("insert %s: %w", what, err)
}

// updated checks an optimistic-lock update: zero rows means another
// transaction moved the record first.
func updated(n int64, err error, what string, id any, rev *int) error {
	if err != nil {
		return fmt.Errorf("update %s %v: %w", what, id, err)
	}
	if n == 0 {
		return &registry.Error{Code: registry.CodeConflict, Msg: fmt.Sprintf("%s %v was changed by another request; reload and retry", what, id)}
	}
	*rev++
	return nil
}

func lockClause(d *Dialect, l registry.Lock) string {
	switch l {
	case registry.LockShare:
		return d.LockShare
	case registry.LockUpdate:
		return d.LockUpdate
	}
	return ""
}

func limit(n int) int {
	if n <= 0 || n > 1000 {
		return 1000
	}
	return n
}

// conditions builds a WHERE clause whose values are numbered parameters.
type conditions struct {
	where []string
	args  []any
}

// add appends cond, in which ? stands for v.
func (c *conditions) add(cond string, v any) {
	c.args = append(c.args, v)
	c.where = append(c.where, strings.ReplaceAll(cond, "?", fmt.Sprintf("$%d", len(c.args))))
}

// when adds cond if set, as a filter does when it is given.
func (c *conditions) when(set bool, cond string, v any) {
	if set {
		c.add(cond, v)
	}
}

// page is what follows WHERE: the conditions, then one page in order.
func (c *conditions) page(order string, n int) string {
	c.args = append(c.args, limit(n))
	return strings.Join(c.where, " AND ") + fmt.Sprintf(" ORDER BY %s LIMIT $%d", order, len(c.args))
}

// collect reads all rows with scan.
func collect[T any](rows Rows, err error, scan func(Row) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// --- units ------------------------------------------------------------------

const unitCols = `id, name, uscc, uscc_legacy, representative, jurisdiction, address, contact, created_at`

func scanUnit(r Row) (registry.Unit, error) {
	var u registry.Unit
	var at int64
	err := r.Scan(&u.ID, &u.Name, &u.USCC, &u.USCCLegacy, &u.Representative, &u.Jurisdiction, &u.Address, &u.Contact, &at)
	u.CreatedAt = fromMicros(at)
	return u, err
}

func (t *Tx) CreateUnit(ctx context.Context, u *registry.Unit) error {
	err := t.c.QueryRow(ctx, `INSERT INTO units (name, uscc, uscc_legacy, representative, jurisdiction, address, contact, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		u.Name, u.USCC, u.USCCLegacy, u.Representative, u.Jurisdiction, u.Address, u.Contact, micros(u.CreatedAt)).Scan(&u.ID)
	if err != nil {
		return t.duplicate(err, "unit with USCC "+u.USCC)
	}
	return nil
}

func (t *Tx) Unit(ctx context.Context, id int64) (registry.Unit, error) {
	u, err := scanUnit(t.c.QueryRow(ctx, `SELECT `+unitCols+` FROM units WHERE id = $1`, id))
	if err != nil {
		return u, t.notFound(err, "unit", id)
	}
	return u, nil
}

func (t *Tx) UnitByUSCC(ctx context.Context, uscc string) (registry.Unit, error) {
	u, err := scanUnit(t.c.QueryRow(ctx, `SELECT `+unitCols+` FROM units WHERE uscc = $1`, uscc))
	if err != nil {
		return u, t.notFound(err, "unit with USCC", uscc)
	}
	return u, nil
}

func (t *Tx) ListUnits(ctx context.Context, jurisdiction string, p registry.Page) ([]registry.Unit, error) {
	rows, err := t.c.Query(ctx, `SELECT `+unitCols+` FROM units WHERE id > $1 AND ($2 = '' OR jurisdiction = $2) ORDER BY id LIMIT $3`,
		p.AfterID, jurisdiction, limit(p.Limit))
	return collect(rows, err, scanUnit)
}

// --- filings ----------------------------------------------------------------

const filingCols = `id, unit_id, series, specialty, office, contact, talent_count, appointed_json, state, submitted_at, review_json, valid_from, valid_until, rev`

func scanFiling(r Row) (registry.Filing, error) {
	var f registry.Filing
	var appointed string
	var review *string
	var at int64
	var from, until string
	if err := r.Scan(&f.ID, &f.UnitID, &f.Series, &f.Specialty, &f.Office, &f.Contact, &f.TalentCount, &appointed,
		&f.State, &at, &review, &from, &until, &f.Rev); err != nil {
		return f, err
	}
	f.SubmittedAt = fromMicros(at)
	var err error
	if f.Review, err = parseReview(review); err != nil {
		return f, err
	}
	if err := json.Unmarshal([]byte(appointed), &f.AppointedLast3Years); err != nil {
		return f, fmt.Errorf("stored filing %d: %w", f.ID, err)
	}
	if f.ValidFrom, err = parseDate(from); err != nil {
		return f, err
	}
	f.ValidUntil, err = parseDate(until)
	return f, err
}

func (t *Tx) CreateFiling(ctx context.Context, f *registry.Filing) error {
	appointed, err := jsonText(f.AppointedLast3Years)
	if err != nil {
		return err
	}
	review, err := reviewJSON(f.Review)
	if err != nil {
		return err
	}
	f.Rev = 1
	err = t.c.QueryRow(ctx, `INSERT INTO filings (unit_id, series, specialty, office, contact, talent_count, appointed_json, state, submitted_at, review_json, valid_from, valid_until)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
		f.UnitID, f.Series, f.Specialty, f.Office, f.Contact, f.TalentCount, appointed, f.State, micros(f.SubmittedAt),
		review, f.ValidFrom.String(), f.ValidUntil.String()).Scan(&f.ID)
	if err != nil {
		return t.duplicate(err, "filing")
	}
	return nil
}

func (t *Tx) Filing(ctx context.Context, id int64, lock registry.Lock) (registry.Filing, error) {
	f, err := scanFiling(t.c.QueryRow(ctx, `SELECT `+filingCols+` FROM filings WHERE id = $1`+lockClause(t.d, lock), id))
	if err != nil {
		return f, t.notFound(err, "filing", id)
	}
	return f, nil
}

func (t *Tx) UpdateFiling(ctx context.Context, f *registry.Filing) error {
	review, err := reviewJSON(f.Review)
	if err != nil {
		return err
	}
	n, err := t.c.Exec(ctx, `UPDATE filings SET state = $1, review_json = $2, valid_from = $3, valid_until = $4, rev = rev + 1
		WHERE id = $5 AND rev = $6`, f.State, review, f.ValidFrom.String(), f.ValidUntil.String(), f.ID, f.Rev)
	return updated(n, err, "filing", f.ID, &f.Rev)
}

func (t *Tx) ListFilings(ctx context.Context, q registry.FilingFilter) ([]registry.Filing, error) {
	var w conditions
	w.add("f.id > ?", q.AfterID)
	w.when(q.UnitID != 0, "f.unit_id = ?", q.UnitID)
	w.when(q.Jurisdiction != "", "u.jurisdiction = ?", q.Jurisdiction)
	w.when(q.Series != "", "f.series = ?", q.Series)
	w.when(q.State != "", "f.state = ?", q.State)
	if !q.InForceOn.IsZero() {
		w.add("f.state = 'approved' AND f.valid_from <= ?", q.InForceOn.String())
		w.add("f.valid_until >= ?", q.InForceOn.String())
	}
	query := `SELECT f.` + strings.ReplaceAll(filingCols, ", ", ", f.") + ` FROM filings f JOIN units u ON u.id = f.unit_id
		WHERE ` + w.page("f.id", q.Limit)
	rows, err := t.c.Query(ctx, query, w.args...)
	return collect(rows, err, scanFiling)
}

// --- seal applications ------------------------------------------------------

const applicationCols = `id, unit_id, kind, handler_name, handler_id_sealed, handler_mobile, handler_landline, address, imprint, declaration, revoke_reason, state, submitted_at, review_json, seal_id, target_seal_id, rev`

func (t *Tx) scanApplication(r Row) (registry.SealApplication, error) {
	var a registry.SealApplication
	var sealedID []byte
	var review *string
	var at int64
	if err := r.Scan(&a.ID, &a.UnitID, &a.Kind, &a.Handler.Name, &sealedID, &a.Handler.Mobile, &a.Handler.Landline,
		&a.Address, &a.ImprintPNG, &a.Declaration, &a.RevokeReason, &a.State, &at, &review, &a.SealID, &a.TargetSealID, &a.Rev); err != nil {
		return a, err
	}
	a.SubmittedAt = fromMicros(at)
	id, err := t.pii.Open(sealedID)
	if err != nil {
		return a, fmt.Errorf("seal application %d handler: %w", a.ID, err)
	}
	a.Handler.IDNumber = string(id)
	a.Review, err = parseReview(review)
	return a, err
}

func (t *Tx) CreateSealApplication(ctx context.Context, a *registry.SealApplication) error {
	review, err := reviewJSON(a.Review)
	if err != nil {
		return err
	}
	a.Rev = 1
	err = t.c.QueryRow(ctx, `INSERT INTO seal_applications (unit_id, kind, handler_name, handler_id_sealed, handler_mobile, handler_landline, address, imprint, declaration, revoke_reason, state, submitted_at, review_json, seal_id, target_seal_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id`,
		a.UnitID, a.Kind, a.Handler.Name, t.pii.Seal([]byte(a.Handler.IDNumber)), a.Handler.Mobile, a.Handler.Landline,
		a.Address, a.ImprintPNG, a.Declaration, a.RevokeReason, a.State, micros(a.SubmittedAt), review, a.SealID, a.TargetSealID).Scan(&a.ID)
	if err != nil {
		return t.duplicate(err, "seal application")
	}
	return nil
}

func (t *Tx) SealApplication(ctx context.Context, id int64) (registry.SealApplication, error) {
	a, err := t.scanApplication(t.c.QueryRow(ctx, `SELECT `+applicationCols+` FROM seal_applications WHERE id = $1`, id))
	if err != nil {
		return a, t.notFound(err, "seal application", id)
	}
	return a, nil
}

func (t *Tx) UpdateSealApplication(ctx context.Context, a *registry.SealApplication) error {
	review, err := reviewJSON(a.Review)
	if err != nil {
		return err
	}
	n, err := t.c.Exec(ctx, `UPDATE seal_applications SET state = $1, review_json = $2, seal_id = $3, rev = rev + 1
		WHERE id = $4 AND rev = $5`, a.State, review, a.SealID, a.ID, a.Rev)
	return updated(n, err, "seal application", a.ID, &a.Rev)
}

func (t *Tx) ListSealApplications(ctx context.Context, unitID int64) ([]registry.SealApplication, error) {
	rows, err := t.c.Query(ctx, `SELECT `+applicationCols+` FROM seal_applications WHERE unit_id = $1 ORDER BY id`, unitID)
	return collect(rows, err, t.scanApplication)
}

// --- seals ------------------------------------------------------------------

const sealCols = `id, unit_id, version, state, imprint, key_blob, cert_der, serial, application_id, created_at, revoked_at, reason, invalidity_date, rev`

func scanSeal(r Row) (registry.Seal, error) {
	var s registry.Seal
	var at int64
	var revoked, invalidity *int64
	err := r.Scan(&s.ID, &s.UnitID, &s.Version, &s.State, &s.ImprintPNG, &s.KeyBlob, &s.CertDER, &s.Serial,
		&s.ApplicationID, &at, &revoked, &s.Reason, &invalidity, &s.Rev)
	s.CreatedAt = fromMicros(at)
	s.RevokedAt = fromMicrosPtr(revoked)
	s.InvalidityDate = fromMicrosPtr(invalidity)
	return s, err
}

func (t *Tx) CreateSeal(ctx context.Context, s *registry.Seal) error {
	s.Rev = 1
	err := t.c.QueryRow(ctx, `INSERT INTO seals (unit_id, version, state, imprint, key_blob, cert_der, serial, application_id, created_at, revoked_at, reason, invalidity_date)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
		s.UnitID, s.Version, s.State, s.ImprintPNG, s.KeyBlob, s.CertDER, s.Serial, s.ApplicationID, micros(s.CreatedAt),
		microsPtr(s.RevokedAt), s.Reason, microsPtr(s.InvalidityDate)).Scan(&s.ID)
	if err != nil {
		return t.duplicate(err, fmt.Sprintf("seal version %d of unit %d (or an active seal)", s.Version, s.UnitID))
	}
	return nil
}

func (t *Tx) Seal(ctx context.Context, id int64, lock registry.Lock) (registry.Seal, error) {
	s, err := scanSeal(t.c.QueryRow(ctx, `SELECT `+sealCols+` FROM seals WHERE id = $1`+lockClause(t.d, lock), id))
	if err != nil {
		return s, t.notFound(err, "seal", id)
	}
	return s, nil
}

func (t *Tx) SealBySerial(ctx context.Context, serial string) (registry.Seal, error) {
	s, err := scanSeal(t.c.QueryRow(ctx, `SELECT `+sealCols+` FROM seals WHERE serial = $1`, serial))
	if err != nil {
		return s, t.notFound(err, "seal with serial", serial)
	}
	return s, nil
}

func (t *Tx) UpdateSeal(ctx context.Context, s *registry.Seal) error {
	n, err := t.c.Exec(ctx, `UPDATE seals SET state = $1, revoked_at = $2, reason = $3, invalidity_date = $4, rev = rev + 1
		WHERE id = $5 AND rev = $6`, s.State, microsPtr(s.RevokedAt), s.Reason, microsPtr(s.InvalidityDate), s.ID, s.Rev)
	return updated(n, err, "seal", s.ID, &s.Rev)
}

func (t *Tx) ListSeals(ctx context.Context, unitID int64) ([]registry.Seal, error) {
	rows, err := t.c.Query(ctx, `SELECT `+sealCols+` FROM seals WHERE unit_id = $1 OR $1 = 0 ORDER BY unit_id, version`, unitID)
	return collect(rows, err, scanSeal)
}

func (t *Tx) RevokedSeals(ctx context.Context) ([]registry.Seal, error) {
	rows, err := t.c.Query(ctx, `SELECT `+sealCols+` FROM seals WHERE state = 'revoked' ORDER BY id`)
	return collect(rows, err, scanSeal)
}

func (t *Tx) SealRevocationMark(ctx context.Context) (string, error) {
	var n, last int64
	err := t.c.QueryRow(ctx, `SELECT COUNT(*), COALESCE(MAX(revoked_at), 0) FROM seals WHERE state = 'revoked'`).Scan(&n, &last)
	return fmt.Sprintf("%d:%d", n, last), err
}

// --- sequences --------------------------------------------------------------

func (t *Tx) NextSeq(ctx context.Context, name string) (int64, error) {
	return t.NextSeqs(ctx, name, 1)
}

func (t *Tx) NextSeqs(ctx context.Context, name string, n int64) (int64, error) {
	if n < 1 {
		return 0, fmt.Errorf("next %d values of sequence %s: at least one", n, name)
	}
	var last int64
	err := t.c.QueryRow(ctx, `INSERT INTO sequences (name, value) VALUES ($1, $2)
		ON CONFLICT (name) DO UPDATE SET value = sequences.value + $2 RETURNING value`, name, n).Scan(&last)
	if err != nil {
		return 0, fmt.Errorf("next values of sequence %s: %w", name, err)
	}
	return last - n + 1, nil
}

// --- certificates -----------------------------------------------------------

const certCols = `id, number, version, unit_id, appointment_json, id_number_sealed, photo_sealed, token_hash, state, seal_id, seal_version, issued_at, pdf_sha256, batch_id, revoked_at, revoke_reason, revoked_by, category, rev`

// The appointment is stored as JSON without its personal data, which is
// sealed in its own columns.
func (t *Tx) scanCert(r Row) (registry.Certificate, error) { return t.scanCertWith(r, true, true) }

// scanCertWith opens the ID number when personal, and the photo too when
// photo; a listing that leaves them out selects NULL in their place.
func (t *Tx) scanCertWith(r Row, personal, photo bool) (registry.Certificate, error) {
	var c registry.Certificate
	var appointment string
	var sealedID, sealedPhoto []byte
	var issued int64
	var revoked *int64
	if err := r.Scan(&c.RowID, &c.Number, &c.Version, &c.Appointment.UnitID, &appointment, &sealedID, &sealedPhoto, &c.TokenHash,
		&c.State, &c.SealID, &c.SealVersion, &issued, &c.PDFSHA256, &c.BatchID, &revoked, &c.RevokeReason,
		&c.RevokedBy, &c.Category, &c.Rev); err != nil {
		return c, err
	}
	if err := json.Unmarshal([]byte(appointment), &c.Appointment); err != nil {
		return c, fmt.Errorf("stored certificate %s: %w", c.Number, err)
	}
	c.IssuedAt = fromMicros(issued)
	c.RevokedAt = fromMicrosPtr(revoked)
	if !personal {
		return c, nil
	}
	id, err := t.pii.Open(sealedID)
	if err != nil {
		return c, fmt.Errorf("certificate %s ID number: %w", c.Number, err)
	}
	c.Appointment.IDNumber = string(id)
	if !photo {
		return c, nil
	}
	if c.Appointment.Photo, err = t.pii.Open(sealedPhoto); err != nil {
		return c, fmt.Errorf("certificate %s photo: %w", c.Number, err)
	}
	return c, nil
}

func appointmentJSON(a registry.Appointment) (string, error) {
	a.IDNumber, a.Photo = "", nil
	return jsonText(a)
}

func (t *Tx) CreateCertificate(ctx context.Context, c *registry.Certificate, pdf []byte) error {
	a, err := appointmentJSON(c.Appointment)
	if err != nil {
		return err
	}
	c.Rev = 1
	var rowID int64
	err = t.c.QueryRow(ctx, `INSERT INTO certificates (number, version, unit_id, name, appointment_json, id_number_sealed, photo_sealed, token_hash, state, seal_id, seal_version, issued_at, pdf_sha256, dedup_key, batch_id, revoked_at, revoke_reason, revoked_by, category, series, level, term_to, holder_hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23) RETURNING id`,
		c.Number, c.Version, c.Appointment.UnitID, c.Appointment.Name, a, t.pii.Seal([]byte(c.Appointment.IDNumber)),
		t.pii.Seal(c.Appointment.Photo), c.TokenHash, c.State, c.SealID, c.SealVersion, micros(c.IssuedAt), c.PDFSHA256,
		c.Appointment.DedupKey(t.pii), c.BatchID, microsPtr(c.RevokedAt), c.RevokeReason, c.RevokedBy, c.Category,
		c.Appointment.Series, string(c.Appointment.Level), c.Appointment.TermTo.String(), t.pii.HolderHash(c.Appointment.IDNumber)).Scan(&rowID)
	if err != nil {
		return t.duplicate(err, fmt.Sprintf("certificate %s version %d", c.Number, c.Version))
	}
	c.RowID = rowID
	return t.c.Queue(ctx, func(_ int64, err error) error {
		if err != nil {
			return fmt.Errorf("store PDF of certificate %s: %w", c.Number, err)
		}
		return nil
	}, `INSERT INTO certificate_pdfs (certificate_id, pdf) VALUES ($1, $2)`, rowID, pdf)
}

func (t *Tx) oneCert(ctx context.Context, what string, key any, where string, args ...any) (registry.Certificate, error) {
	c, err := t.scanCert(t.c.QueryRow(ctx, `SELECT `+certCols+` FROM certificates WHERE `+where, args...))
	if err != nil {
		return c, t.notFound(err, what, key)
	}
	return c, nil
}

func (t *Tx) Certificate(ctx context.Context, number string) (registry.Certificate, error) {
	return t.oneCert(ctx, "certificate", number, `number = $1 ORDER BY version DESC LIMIT 1`, number)
}

func (t *Tx) CertificateVersion(ctx context.Context, number string, version int) (registry.Certificate, error) {
	return t.oneCert(ctx, "certificate", fmt.Sprintf("%s version %d", number, version), `number = $1 AND version = $2`, number, version)
}

func (t *Tx) CertificateByPDFHash(ctx context.Context, sum []byte) (registry.Certificate, error) {
	return t.oneCert(ctx, "certificate with PDF", fmt.Sprintf("%x", sum), `pdf_sha256 = $1`, sum)
}

func (t *Tx) CertificateByDedupKey(ctx context.Context, key []byte) (registry.Certificate, error) {
	return t.oneCert(ctx, "certificate for the same appointment", "", `dedup_key = $1 AND state = 'valid' ORDER BY id DESC LIMIT 1`, key)
}

// dedupChunk bounds the keys one query asks for (SQLite allows 32,766
// parameters).
const dedupChunk = 500

func (t *Tx) CertificatesByDedupKeys(ctx context.Context, keys [][]byte) (map[string]registry.Certificate, error) {
	out := map[string]registry.Certificate{}
	for chunk := range slices.Chunk(keys, dedupChunk) {
		var q strings.Builder
		q.WriteString(`SELECT dedup_key, ` + certCols + ` FROM certificates WHERE state = 'valid' AND dedup_key IN (`)
		args := inParams(&q, chunk)
		// In id order, so the newest of a key's certificates is kept, as
		// CertificateByDedupKey finds it.
		q.WriteString(`) ORDER BY id`)
		type keyed struct {
			key  []byte
			cert registry.Certificate
		}
		rows, err := t.c.Query(ctx, q.String(), args...)
		certs, err := collect(rows, err, func(r Row) (k keyed, err error) {
			k.cert, err = t.scanCert(keyedRow{r, &k.key})
			return k, err
		})
		if err != nil {
			return nil, fmt.Errorf("read certificates for the same appointments: %w", err)
		}
		for _, k := range certs {
			out[string(k.key)] = k.cert
		}
	}
	return out, nil
}

// inParams writes the placeholders of an IN list of vals ($1, $2, ...)
// to q and returns vals as the query's arguments.
func inParams[T any](q *strings.Builder, vals []T) []any {
	args := make([]any, len(vals))
	for i, v := range vals {
		if i > 0 {
			q.WriteString(", ")
		}
		fmt.Fprintf(q, "$%d", i+1)
		args[i] = v
	}
	return args
}

// keyedRow reads a first column into key and the rest as the row would.
type keyedRow struct {
	Row
	key *[]byte
}

func (r keyedRow) Scan(dest ...any) error { return r.Row.Scan(append([]any{r.key}, dest...)...) }

func (t *Tx) UpdateCertificate(ctx context.Context, c *registry.Certificate) error {
	n, err := t.c.Exec(ctx, `UPDATE certificates SET state = $1, revoked_at = $2, revoke_reason = $3, revoked_by = $4, category = $5, rev = rev + 1
		WHERE number = $6 AND version = $7 AND rev = $8`,
		c.State, microsPtr(c.RevokedAt), c.RevokeReason, c.RevokedBy, c.Category, c.Number, c.Version, c.Rev)
	return updated(n, err, "certificate", c.Number, &c.Rev)
}

func (t *Tx) CertificatePDF(ctx context.Context, number string, version int) ([]byte, error) {
	var pdf []byte
	err := t.c.QueryRow(ctx, `SELECT p.pdf FROM certificate_pdfs p JOIN certificates c ON c.id = p.certificate_id
		WHERE c.number = $1 AND c.version = $2`, number, version).Scan(&pdf)
	if err != nil {
		return nil, t.notFound(err, "PDF of certificate", fmt.Sprintf("%s version %d", number, version))
	}
	return pdf, nil
}

func (t *Tx) CertificateNumbersBySeal(ctx context.Context, sealID int64) ([]string, error) {
	rows, err := t.c.Query(ctx, `SELECT DISTINCT number FROM certificates WHERE seal_id = $1 ORDER BY number`, sealID)
	return collect(rows, err, func(r Row) (n string, err error) { return n, r.Scan(&n) })
}

func (t *Tx) ListCertificates(ctx context.Context, q registry.CertFilter) ([]registry.Certificate, error) {
	var w conditions
	w.add("c.id > ?", q.AfterID)
	w.when(q.UnitID != 0, "c.unit_id = ?", q.UnitID)
	w.when(q.Number != "", "c.number = ?", q.Number)
	w.when(q.Series != "", "c.series = ?", q.Series)
	w.when(q.Level != "", "c.level = ?", string(q.Level))
	w.when(q.BatchID != 0, "c.batch_id = ?", q.BatchID)
	w.when(!q.IssuedSince.IsZero(), "c.issued_at >= ?", micros(q.IssuedSince))
	w.when(!q.IssuedUntil.IsZero(), "c.issued_at < ?", micros(q.IssuedUntil))
	if q.HolderIDNumber != "" {
		w.add("c.holder_hash = ?", t.pii.HolderHash(q.HolderIDNumber))
	}
	// The states are written into the query, not passed: a cached generic
	// plan (pgx prepares statements) would not know that revoked and
	// superseded are rare, and walk a whole unit for them.
	switch q.Status {
	case "":
	case registry.CertValid:
		w.add("c.state = 'valid' AND c.term_to >= ?", q.On.String())
	case registry.CertExpired:
		w.add("c.state = 'valid' AND c.term_to < ?", q.On.String())
	case registry.CertRevoked:
		w.where = append(w.where, "c.state = 'revoked'")
	case registry.CertSuperseded:
		w.where = append(w.where, "c.state = 'superseded'")
	default:
		return nil, registry.FieldErr("status", "must be valid, expired, revoked or superseded")
	}
	if q.LatestOnly && q.Status == "" { // a status of its own says more
		// Every version but the newest is superseded: a reissue supersedes
		// the valid version it corrects in the transaction that adds the
		// next one, and only a valid version is reissued. A plain column
		// test, unlike a subquery for the newest version, lets the planner
		// count rows and walk an index in id order up to the page's end.
		w.where = append(w.where, `c.state <> 'superseded'`)
	}
	cols := "c." + strings.ReplaceAll(certCols, ", ", ", c.")
	// What is left out is not even read: a page of photos is megabytes.
	if q.WithoutPersonalData {
		cols = strings.Replace(cols, "c.id_number_sealed", "NULL", 1)
	}
	if q.WithoutPersonalData || q.WithoutPhoto {
		cols = strings.Replace(cols, "c.photo_sealed", "NULL", 1)
	}
	rows, err := t.c.Query(ctx, `SELECT `+cols+` FROM certificates c WHERE `+w.page("c.id", q.Limit), w.args...)
	return collect(rows, err, func(r Row) (registry.Certificate, error) {
		return t.scanCertWith(r, !q.WithoutPersonalData, !q.WithoutPhoto)
	})
}

// --- audit ------------------------------------------------------------------

const auditCols = `seq, at, actor, action, subject_type, subject_id, request_id, payload_digest, prev_hash, hash`

func scanAudit(r Row) (registry.AuditEvent, error) {
	var e registry.AuditEvent
	var at int64
	err := r.Scan(&e.Seq, &at, &e.Actor, &e.Action, &e.SubjectType, &e.SubjectID, &e.RequestID, &e.PayloadDigest, &e.PrevHash, &e.Hash)
	e.At = fromMicros(at)
	return e, err
}

func (t *Tx) AppendAudit(ctx context.Context, ev *registry.AuditEvent) error {
	if t.d.AuditLock != "" && !t.auditLocked {
		if _, err := t.c.Exec(ctx, t.d.AuditLock); err != nil {
			return fmt.Errorf("lock audit chain: %w", err)
		}
		t.auditLocked = true
	}
	var prevSeq int64
	var prevHash []byte
	if t.head != nil {
		prevSeq, prevHash = t.head.Seq, t.head.Hash
	} else {
		err := t.c.QueryRow(ctx, `SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1`).Scan(&prevSeq, &prevHash)
		if err != nil && !t.d.IsNoRows(err) {
			return fmt.Errorf("read audit chain head: %w", err)
		}
	}
	if ev.PayloadDigest == nil {
		ev.PayloadDigest = []byte{}
	}
	audit.Link(ev, prevSeq, prevHash)
	if ev.PrevHash == nil {
		ev.PrevHash = []byte{}
	}
	err := t.c.Queue(ctx, func(_ int64, err error) error {
		if err != nil {
			return fmt.Errorf("append audit event: %w", err)
		}
		return nil
	}, `INSERT INTO audit_events (`+auditCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		ev.Seq, micros(ev.At), ev.Actor, ev.Action, ev.SubjectType, ev.SubjectID, ev.RequestID, ev.PayloadDigest, ev.PrevHash, ev.Hash)
	if err != nil {
		return err
	}
	head := *ev
	t.head = &head
	if t.noLeaves || t.d.WithoutLog {
		return nil
	}
	return t.appendLeaf(ctx, ev)
}

func (t *Tx) AuditEvents(ctx context.Context, afterSeq int64, n int) ([]registry.AuditEvent, error) {
	rows, err := t.c.Query(ctx, `SELECT `+auditCols+` FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2`, afterSeq, limit(n))
	return collect(rows, err, scanAudit)
}

// --- API keys ---------------------------------------------------------------

const apiKeyCols = `id, hash, role, jurisdiction, unit_id, name, created_at, expires_at, last_used_at, revoked_at, revoked_by, rev, created_by`

func scanAPIKey(r Row) (registry.APIKey, error) {
	var k registry.APIKey
	var at int64
	var expires, used, revoked *int64
	err := r.Scan(&k.ID, &k.Hash, &k.Role, &k.Jurisdiction, &k.UnitID, &k.Name, &at, &expires, &used, &revoked, &k.RevokedBy, &k.Rev, &k.CreatedBy)
	k.CreatedAt = fromMicros(at)
	k.ExpiresAt, k.LastUsedAt, k.RevokedAt = fromMicrosPtr(expires), fromMicrosPtr(used), fromMicrosPtr(revoked)
	return k, err
}

func (t *Tx) CreateAPIKey(ctx context.Context, k *registry.APIKey) error {
	k.Rev = 1
	err := t.c.QueryRow(ctx, `INSERT INTO api_keys (hash, role, jurisdiction, unit_id, name, created_at, expires_at, revoked_at, revoked_by, created_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
		k.Hash, k.Role, k.Jurisdiction, k.UnitID, k.Name, micros(k.CreatedAt), microsPtr(k.ExpiresAt), microsPtr(k.RevokedAt), k.RevokedBy, k.CreatedBy).Scan(&k.ID)
	if err != nil {
		return t.duplicate(err, "API key")
	}
	return nil
}

func (t *Tx) APIKeyByHash(ctx context.Context, hash []byte) (registry.APIKey, error) {
	k, err := scanAPIKey(t.c.QueryRow(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE hash = $1`, hash))
	if err != nil {
		return k, t.notFound(err, "API key", "")
	}
	return k, nil
}

func (t *Tx) APIKey(ctx context.Context, id int64, lock registry.Lock) (registry.APIKey, error) {
	k, err := scanAPIKey(t.c.QueryRow(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE id = $1`+lockClause(t.d, lock), id))
	if err != nil {
		return k, t.notFound(err, "API key", id)
	}
	return k, nil
}

func (t *Tx) ListAPIKeys(ctx context.Context, p registry.Page) ([]registry.APIKey, error) {
	rows, err := t.c.Query(ctx, `SELECT `+apiKeyCols+` FROM api_keys WHERE id > $1 ORDER BY id LIMIT $2`, p.AfterID, limit(p.Limit))
	return collect(rows, err, scanAPIKey)
}

func (t *Tx) UpdateAPIKey(ctx context.Context, k *registry.APIKey) error {
	n, err := t.c.Exec(ctx, `UPDATE api_keys SET revoked_at = $1, revoked_by = $2, rev = rev + 1 WHERE id = $3 AND rev = $4`,
		microsPtr(k.RevokedAt), k.RevokedBy, k.ID, k.Rev)
	return updated(n, err, "API key", k.ID, &k.Rev)
}

func (t *Tx) TouchAPIKey(ctx context.Context, id int64, at, notBefore time.Time) error {
	_, err := t.c.Exec(ctx, `UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)`,
		micros(at), id, micros(notBefore))
	if err != nil {
		return fmt.Errorf("record the use of API key %d: %w", id, err)
	}
	return nil
}

// --- idempotency ------------------------------------------------------------

func (t *Tx) Idempotency(ctx context.Context, scope, key string) (registry.IdempotencyRecord, error) {
	r := registry.IdempotencyRecord{Scope: scope, Key: key}
	var at int64
	err := t.c.QueryRow(ctx, `SELECT request_hash, status, body, created_at FROM idempotency WHERE scope = $1 AND key = $2`, scope, key).
		Scan(&r.RequestHash, &r.Status, &r.Body, &at)
	if err != nil {
		return r, t.notFound(err, "idempotency key", key)
	}
	r.CreatedAt = fromMicros(at)
	return r, nil
}

func (t *Tx) PutIdempotency(ctx context.Context, r *registry.IdempotencyRecord) error {
	_, err := t.c.Exec(ctx, `INSERT INTO idempotency (scope, key, request_hash, status, body, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		r.Scope, r.Key, r.RequestHash, r.Status, r.Body, micros(r.CreatedAt))
	if err != nil {
		return t.duplicate(err, "idempotency key "+r.Key)
	}
	return nil
}

// --- integrity records ------------------------------------------------------

func (t *Tx) CreateIntegrityRecord(ctx context.Context, r *registry.IntegrityRecord) error {
	err := t.c.QueryRow(ctx, `INSERT INTO integrity_records (unit_id, number, holder_name, category, source, evidence, actor, request_id, at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		r.UnitID, r.Number, r.HolderName, r.Category, r.Source, r.Evidence, r.Actor, r.RequestID, micros(r.At)).Scan(&r.ID)
	if err != nil {
		return fmt.Errorf("insert integrity record: %w", err)
	}
	return nil
}

const integrityCols = `r.id, r.unit_id, r.number, r.holder_name, r.category, r.source, r.evidence, r.actor, r.request_id, r.at`

func scanIntegrityRecord(r Row) (registry.IntegrityRecord, error) {
	var ir registry.IntegrityRecord
	var at int64
	err := r.Scan(&ir.ID, &ir.UnitID, &ir.Number, &ir.HolderName, &ir.Category, &ir.Source, &ir.Evidence, &ir.Actor, &ir.RequestID, &at)
	ir.At = fromMicros(at)
	return ir, err
}

func (t *Tx) ListIntegrityRecords(ctx context.Context, jurisdiction string, unitID int64, p registry.Page) ([]registry.IntegrityRecord, error) {
	rows, err := t.c.Query(ctx, `SELECT `+integrityCols+`
		FROM integrity_records r JOIN units u ON u.id = r.unit_id
		WHERE r.id > $1 AND ($2 = '' OR u.jurisdiction = $2) AND ($3 = 0 OR r.unit_id = $3) ORDER BY r.id LIMIT $4`,
		p.AfterID, jurisdiction, unitID, limit(p.Limit))
	return collect(rows, err, scanIntegrityRecord)
}

func (t *Tx) IntegrityRecordsOf(ctx context.Context, number string) ([]registry.IntegrityRecord, error) {
	rows, err := t.c.Query(ctx, `SELECT `+integrityCols+` FROM integrity_records r WHERE r.number = $1 ORDER BY r.id`, number)
	return collect(rows, err, scanIntegrityRecord)
}

// --- batches ----------------------------------------------------------------

const batchCols = `id, unit_id, actor, request_id, state, total, issued, failed, created_at, finished_at, idempotency_key, rev`

func scanBatch(r Row) (registry.Batch, error) {
	var b registry.Batch
	var at int64
	var finished *int64
	err := r.Scan(&b.ID, &b.UnitID, &b.Actor, &b.RequestID, &b.State, &b.Total, &b.Issued, &b.Failed, &at, &finished, &b.IdempotencyKey, &b.Rev)
	b.CreatedAt = fromMicros(at)
	b.FinishedAt = fromMicrosPtr(finished)
	return b, err
}

func (t *Tx) CreateBatch(ctx context.Context, b *registry.Batch, rows []registry.BatchRow) error {
	b.Rev = 1
	b.Total = len(rows)
	err := t.c.QueryRow(ctx, `INSERT INTO batches (unit_id, actor, request_id, state, total, issued, failed, created_at, finished_at, idempotency_key)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
		b.UnitID, b.Actor, b.RequestID, b.State, b.Total, b.Issued, b.Failed, micros(b.CreatedAt), microsPtr(b.FinishedAt), b.IdempotencyKey).Scan(&b.ID)
	if err != nil {
		return t.duplicate(err, "batch")
	}
	for i := range rows {
		r := &rows[i]
		r.BatchID = b.ID
		a, err := appointmentJSON(r.Appointment)
		if err != nil {
			return err
		}
		if err := t.c.Queue(ctx, func(_ int64, err error) error {
			if err != nil {
				return fmt.Errorf("store batch %d row %d: %w", b.ID, r.Row, err)
			}
			return nil
		}, `INSERT INTO batch_rows (batch_id, row_no, appointment_json, id_number_sealed, photo_sealed, state, number, error)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, b.ID, r.Row, a, t.pii.Seal([]byte(r.Appointment.IDNumber)),
			t.pii.Seal(r.Appointment.Photo), r.State, r.Number, r.Error); err != nil {
			return err
		}
	}
	return nil
}

func (t *Tx) Batch(ctx context.Context, id int64) (registry.Batch, error) {
	b, err := scanBatch(t.c.QueryRow(ctx, `SELECT `+batchCols+` FROM batches WHERE id = $1`, id))
	if err != nil {
		return b, t.notFound(err, "batch", id)
	}
	return b, nil
}

func (t *Tx) BatchByIdempotencyKey(ctx context.Context, unitID int64, actor, key string) (registry.Batch, error) {
	b, err := scanBatch(t.c.QueryRow(ctx, `SELECT `+batchCols+` FROM batches WHERE unit_id = $1 AND actor = $2 AND idempotency_key = $3`, unitID, actor, key))
	if err != nil {
		return b, t.notFound(err, "batch with idempotency key", key)
	}
	return b, nil
}

func (t *Tx) BatchRows(ctx context.Context, batchID int64, state registry.BatchRowState) ([]registry.BatchRow, error) {
	rows, err := t.c.Query(ctx, `SELECT batch_id, row_no, appointment_json, id_number_sealed, photo_sealed, state, number, error
		FROM batch_rows WHERE batch_id = $1 AND ($2 = '' OR state = $2) ORDER BY row_no`, batchID, state)
	return collect(rows, err, func(r Row) (registry.BatchRow, error) {
		var br registry.BatchRow
		var a string
		var sealedID, sealedPhoto []byte
		if err := r.Scan(&br.BatchID, &br.Row, &a, &sealedID, &sealedPhoto, &br.State, &br.Number, &br.Error); err != nil {
			return br, err
		}
		if err := json.Unmarshal([]byte(a), &br.Appointment); err != nil {
			return br, fmt.Errorf("stored batch row %d: %w", br.Row, err)
		}
		id, err := t.pii.Open(sealedID)
		if err != nil {
			return br, err
		}
		photo, err := t.pii.Open(sealedPhoto)
		br.Appointment.IDNumber, br.Appointment.Photo = string(id), photo
		return br, err
	})
}

func (t *Tx) UpdateBatchRow(ctx context.Context, r *registry.BatchRow) error {
	batchID, row := r.BatchID, r.Row
	err := t.c.Queue(ctx, func(n int64, err error) error {
		if err != nil {
			return fmt.Errorf("update batch %d row %d: %w", batchID, row, err)
		}
		if n == 0 {
			return &registry.Error{Code: registry.CodeConflict, Msg: fmt.Sprintf("batch %d row %d is no longer pending", batchID, row)}
		}
		return nil
	}, `UPDATE batch_rows SET state = $1, number = $2, error = $3 WHERE batch_id = $4 AND row_no = $5 AND state = 'pending'`,
		r.State, r.Number, r.Error, batchID, row)
	if err != nil {
		return err
	}
	col := "issued"
	if r.State == registry.RowFailed {
		col = "failed"
	}
	return t.c.Queue(ctx, func(_ int64, err error) error {
		if err != nil {
			return fmt.Errorf("count batch %d: %w", batchID, err)
		}
		return nil
	}, `UPDATE batches SET `+col+` = `+col+` + 1, rev = rev + 1 WHERE id = $1`, batchID)
}

func (t *Tx) UpdateBatch(ctx context.Context, b *registry.Batch) error {
	n, err := t.c.Exec(ctx, `UPDATE batches SET state = $1, finished_at = $2, rev = rev + 1 WHERE id = $3 AND rev = $4`,
		b.State, microsPtr(b.FinishedAt), b.ID, b.Rev)
	return updated(n, err, "batch", b.ID, &b.Rev)
}

func (t *Tx) ClaimBatch(ctx context.Context, id int64, runner string, now, until time.Time) (bool, error) {
	n, err := t.c.Exec(ctx, `UPDATE batches SET runner = $1, lease_until = $2
		WHERE id = $3 AND state <> 'done' AND (runner = $1 OR runner = '' OR lease_until < $4)`, runner, micros(until), id, micros(now))
	if err != nil {
		return false, fmt.Errorf("claim batch %d: %w", id, err)
	}
	return n == 1, nil
}

func (t *Tx) UnfinishedBatches(ctx context.Context) ([]registry.Batch, error) {
	rows, err := t.c.Query(ctx, `SELECT `+batchCols+` FROM batches WHERE state <> 'done' ORDER BY id`)
	return collect(rows, err, scanBatch)
}
