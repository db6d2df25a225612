package registry

import (
	"context"
	"time"
)

// Store is the system of record. Every lifecycle transition runs inside one
// InTx call together with its audit event, so either both land or neither.
// Implementations: registry/sqlite (default) and registry/postgres; both pass
// registry/storetest.
type Store interface {
	// InTx runs fn in a read-write transaction, committed when fn returns nil.
	// fn may be called again when the backend reports a serialization
	// failure, so it must not have side effects outside tx.
	InTx(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read-only transaction; views run concurrently.
	View(ctx context.Context, fn func(Tx) error) error
	Ping(ctx context.Context) error
	Close() error
}

// Lock asks the backend to lock a row read inside InTx until commit.
type Lock int

const (
	NoLock     Lock = iota
	LockShare       // others may read and share-lock, nobody may update until commit
	LockUpdate      // exclusive
)

// Page selects a slice of a list ordered by id. AfterID is the last id of
// the previous page (0 for the first).
type Page struct {
	AfterID int64
	Limit   int
}

// FilingFilter selects filings. Zero fields do not filter.
type FilingFilter struct {
	UnitID       int64
	Jurisdiction string
	Series       string
	State        FilingState // stored state
	InForceOn    Date        // approved and ValidFrom <= day <= ValidUntil
	Page
}

// CertFilter selects certificate versions. Zero fields do not filter.
type CertFilter struct {
	UnitID      int64
	Number      string
	LatestOnly  bool // the newest version of each number: none superseded
	IssuedSince time.Time
	IssuedUntil time.Time // exclusive
	Series      string
	Level       Level
	BatchID     int64
	// Status is the status on day On: "valid" and "expired" are told
	// apart by the term (CertStatusOn), the others are stored.
	Status CertState
	On     Date
	// HolderIDNumber selects the holder's certificates through the keyed
	// hash of the number; the number itself is never stored in clear.
	HolderIDNumber string
	// WithoutPersonalData leaves ID numbers and photos out (not even
	// decrypted): reports and counts need neither.
	WithoutPersonalData bool
	// WithoutPhoto opens the ID number but leaves the photo out: a
	// listing shows the number masked and no photo.
	WithoutPhoto bool
	Page         // AfterID is a row id here
}

// Tx is what a transaction can do. Get-style methods return an error
// matching ErrNotFound when nothing matches. Update-style methods check the
// record's Rev and return ErrConflict when another transaction changed it
// first, so of two concurrent identical transitions exactly one wins.
//
// Tx is the sum of one interface per aggregate, so that a function that
// needs one part of the store says which (a CertTx, a UnitTx, ...).
type Tx interface {
	UnitTx
	FilingTx
	SealApplicationTx
	SealTx
	SeqTx
	CertTx
	AuditTx
	APIKeyTx
	IdempotencyTx
	IntegrityTx
	BatchTx
	ReceiptTx
}

// UnitTx reads and records the units.
type UnitTx interface {
	CreateUnit(ctx context.Context, u *Unit) error // duplicate USCC: ErrDuplicate
	Unit(ctx context.Context, id int64) (Unit, error)
	UnitByUSCC(ctx context.Context, uscc string) (Unit, error)
	// ListUnits lists the units of a jurisdiction ("" all) by id.
	ListUnits(ctx context.Context, jurisdiction string, p Page) ([]Unit, error)
}

// FilingTx reads and records series filings.
type FilingTx interface {
	CreateFiling(ctx context.Context, f *Filing) error
	Filing(ctx context.Context, id int64, lock Lock) (Filing, error)
	UpdateFiling(ctx context.Context, f *Filing) error
	ListFilings(ctx context.Context, q FilingFilter) ([]Filing, error)
}

// SealApplicationTx reads and records seal applications.
type SealApplicationTx interface {
	CreateSealApplication(ctx context.Context, a *SealApplication) error
	SealApplication(ctx context.Context, id int64) (SealApplication, error)
	UpdateSealApplication(ctx context.Context, a *SealApplication) error
	// ListSealApplications lists a unit's applications, oldest first.
	ListSealApplications(ctx context.Context, unitID int64) ([]SealApplication, error)
}

// SealTx reads and records seal versions.
type SealTx interface {
	CreateSeal(ctx context.Context, s *Seal) error
	Seal(ctx context.Context, id int64, lock Lock) (Seal, error)
	SealBySerial(ctx context.Context, serial string) (Seal, error)
	UpdateSeal(ctx context.Context, s *Seal) error
	// ListSeals lists a unit's seal versions, oldest first; unitID 0 lists all.
	ListSeals(ctx context.Context, unitID int64) ([]Seal, error)
	RevokedSeals(ctx context.Context) ([]Seal, error)
	// SealRevocationMark changes whenever a seal is revoked: CRL and OCSP
	// answers built before it changed are stale.
	SealRevocationMark(ctx context.Context) (string, error)
	// CreateSM2Seal records a seal's 国密 twin; a seal has one (ErrDuplicate).
	CreateSM2Seal(ctx context.Context, t *SM2Seal) error
	SM2Seal(ctx context.Context, sealID int64) (SM2Seal, error)
	SM2SealBySerial(ctx context.Context, serial string) (SM2Seal, error)
	// CreateCertificateSES records the seal signature (SES_Signature) over
	// a certificate version's PDF; CertificateSES reads it.
	CreateCertificateSES(ctx context.Context, number string, version int, der []byte) error
	CertificateSES(ctx context.Context, number string, version int) ([]byte, error)
}

// SeqTx reads and records numbering: gapless sequences and the numbers held from them.
type SeqTx interface {
	// NextSeq returns the next value of a named sequence, starting at 1.
	// It rolls back with the transaction, so committed values have no gaps.
	NextSeq(ctx context.Context, name string) (int64, error)
	// NextSeqs takes the next n values of a named sequence at once (a
	// batch's numbers) and returns the first: first to first+n-1 are taken.
	NextSeqs(ctx context.Context, name string, n int64) (first int64, err error)
	// HoldNumber holds a value of sequence seq for holder until until, in a
	// transaction of its own, for work done before the one that uses it: a
	// value freed before (released, or its hold run out by now), the
	// smallest first, else the next one. Values held and never used are
	// used by later holders, so committed certificates keep no gap.
	HoldNumber(ctx context.Context, seq, holder string, now, until time.Time) (int64, error)
	// UseNumber marks a held value used at at; one that holder no longer
	// holds (its hold ran out and another took it): ErrConflict.
	UseNumber(ctx context.Context, seq string, value int64, holder string, at time.Time) error
	// ReleaseNumber frees a value holder holds and did not use.
	ReleaseNumber(ctx context.Context, seq string, value int64, holder string) error
}

// CertTx reads and records certificate versions and their PDFs.
type CertTx interface {
	// CreateCertificate stores a new version with its signed PDF.
	// A (number, version) that exists: ErrDuplicate.
	CreateCertificate(ctx context.Context, c *Certificate, pdf []byte) error
	// Certificate returns the newest version of a number.
	Certificate(ctx context.Context, number string) (Certificate, error)
	CertificateVersion(ctx context.Context, number string, version int) (Certificate, error)
	CertificateByPDFHash(ctx context.Context, sha256 []byte) (Certificate, error)
	// CertificateByDedupKey finds a valid certificate made from the same
	// appointment (see Appointment.DedupKey), so a resubmitted row is not
	// issued twice.
	CertificateByDedupKey(ctx context.Context, key []byte) (Certificate, error)
	// CertificatesByDedupKeys is CertificateByDedupKey for many keys at
	// once (a batch's rows), by string(key); keys without one are absent.
	CertificatesByDedupKeys(ctx context.Context, keys [][]byte) (map[string]Certificate, error)
	UpdateCertificate(ctx context.Context, c *Certificate) error
	CertificatePDF(ctx context.Context, number string, version int) ([]byte, error)
	// CertificateNumbersBySeal lists the numbers a seal signed: a change to
	// the seal changes what their verification pages say.
	CertificateNumbersBySeal(ctx context.Context, sealID int64) ([]string, error)
	ListCertificates(ctx context.Context, q CertFilter) ([]Certificate, error)
}

// AuditTx reads and records the audit chain.
type AuditTx interface {
	// AppendAudit fills Seq, PrevHash and Hash and appends ev to the chain.
	AppendAudit(ctx context.Context, ev *AuditEvent) error
	// AuditEvents lists events with Seq > afterSeq in order.
	AuditEvents(ctx context.Context, afterSeq int64, limit int) ([]AuditEvent, error)
	// AuditEventsAbout lists the events of one subject in order.
	AuditEventsAbout(ctx context.Context, subjectType, subjectID string) ([]AuditEvent, error)
	// LogHashes reads the transparency log's stored tree hashes by index
	// (golang.org/x/mod/sumdb/tlog numbering); AppendAudit appends them.
	LogHashes(ctx context.Context, indexes []int64) ([][]byte, error)
	// LogSize is the log's number of leaves: one per audit event.
	LogSize(ctx context.Context) (int64, error)
}

// APIKeyTx reads and records API keys.
type APIKeyTx interface {
	CreateAPIKey(ctx context.Context, k *APIKey) error
	APIKeyByHash(ctx context.Context, hash []byte) (APIKey, error)
	APIKey(ctx context.Context, id int64, lock Lock) (APIKey, error)
	// ListAPIKeys lists keys by id, revoked and expired ones too.
	ListAPIKeys(ctx context.Context, p Page) ([]APIKey, error)
	// UpdateAPIKey records a revocation.
	UpdateAPIKey(ctx context.Context, k *APIKey) error
	// TouchAPIKey sets a key's last use to at unless it was set after
	// notBefore: concurrent requests and replicas write it once. It leaves
	// Rev alone, so it never makes a revocation conflict.
	TouchAPIKey(ctx context.Context, id int64, at, notBefore time.Time) error
}

// IdempotencyTx reads and records the answers kept for Idempotency-Key retries.
type IdempotencyTx interface {
	// Idempotency returns the stored answer for (scope, key).
	Idempotency(ctx context.Context, scope, key string) (IdempotencyRecord, error)
	// PutIdempotency stores an answer; an existing (scope, key): ErrDuplicate.
	PutIdempotency(ctx context.Context, r *IdempotencyRecord) error
}

// IntegrityTx reads and records integrity records (诚信档案).
type IntegrityTx interface {
	CreateIntegrityRecord(ctx context.Context, r *IntegrityRecord) error
	// ListIntegrityRecords lists records of units in a jurisdiction ("" all)
	// or of one unit (0 all), newest last.
	ListIntegrityRecords(ctx context.Context, jurisdiction string, unitID int64, p Page) ([]IntegrityRecord, error)
	// IntegrityRecordsOf lists the records of one certificate number, oldest first.
	IntegrityRecordsOf(ctx context.Context, number string) ([]IntegrityRecord, error)
}

// BatchTx reads and records batches and their rows.
type BatchTx interface {
	CreateBatch(ctx context.Context, b *Batch, rows []BatchRow) error
	Batch(ctx context.Context, id int64) (Batch, error)
	// BatchByIdempotencyKey finds the batch a caller (actor) submitted for
	// a unit under an Idempotency-Key.
	BatchByIdempotencyKey(ctx context.Context, unitID int64, actor, key string) (Batch, error)
	// BatchRows lists rows of a batch in row order; state "" lists all.
	BatchRows(ctx context.Context, batchID int64, state BatchRowState) ([]BatchRow, error)
	// UpdateBatchRow records a row's outcome and the batch's counters.
	UpdateBatchRow(ctx context.Context, r *BatchRow) error
	UpdateBatch(ctx context.Context, b *Batch) error
	// UnfinishedBatches are those a crash may have interrupted.
	UnfinishedBatches(ctx context.Context) ([]Batch, error)
	// ClaimBatch makes runner the one that runs an unfinished batch until
	// until, if nobody else holds it past now; it says whether runner holds
	// it. Holding it again renews it.
	ClaimBatch(ctx context.Context, id int64, runner string, now, until time.Time) (bool, error)
}

type BatchState string

const (
	BatchRunning BatchState = "running"
	BatchDone    BatchState = "done"
)

// Batch is a set of appointments submitted together; rows are stored
// before any is issued so a crash loses nothing.
type Batch struct {
	ID             int64      `json:"id"`
	UnitID         int64      `json:"unit_id"`
	Actor          string     `json:"actor"`
	RequestID      string     `json:"request_id"`
	State          BatchState `json:"state"`
	Total          int        `json:"total"`
	Issued         int        `json:"issued"`
	Failed         int        `json:"failed"`
	CreatedAt      time.Time  `json:"created_at"`
	FinishedAt     *time.Time `json:"finished_at,omitempty"`
	Rev            int        `json:"-"`
	IdempotencyKey string     `json:"-"`
}

type BatchRowState string

const (
	RowPending BatchRowState = "pending"
	RowIssued  BatchRowState = "issued"
	RowFailed  BatchRowState = "failed"
)

// BatchRow is one appointment of a batch and what became of it.
type BatchRow struct {
	BatchID     int64         `json:"-"`
	Row         int           `json:"row"` // 1-based as the submitter counts them
	Appointment Appointment   `json:"-"`
	State       BatchRowState `json:"state"`
	Number      string        `json:"number,omitempty"`
	Error       string        `json:"error,omitempty"`
}
