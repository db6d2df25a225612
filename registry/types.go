package registry

import "time"

// Unit is a self-appraising employer unit (自主评聘单位).
type Unit struct {
	ID             int64     `json:"id"`
	Name           string    `json:"name"`
	USCC           string    `json:"uscc"`
	USCCLegacy     bool      `json:"uscc_legacy"` // check character fails: accepted, flagged for a reviewer
	Representative string    `json:"representative"`
	Jurisdiction   string    `json:"jurisdiction"` // city HR bureau or provincial department that reviews it
	Address        string    `json:"address"`
	Contact        string    `json:"contact"`
	CreatedAt      time.Time `json:"created_at"`
}

// Decision of a review.
type Decision string

const (
	Approve Decision = "approve"
	Reject  Decision = "reject"
)

// Review is a reviewer's opinion on a filing or a seal application (审核意见).
type Review struct {
	Reviewer string    `json:"reviewer"`
	Decision Decision  `json:"decision"`
	Opinion  string    `json:"opinion"`
	At       time.Time `json:"at"`
	// USCCConfirmed: the reviewer checked a unit's USCC whose check
	// character fails (USCCLegacy) against the unit's licence.
	USCCConfirmed bool `json:"uscc_confirmed,omitempty"`
}

// FilingState is the stored state of a series filing. "expired" is never
// stored: it is derived from ValidUntil and the day asked about.
type FilingState string

const (
	FilingSubmitted FilingState = "submitted"
	FilingApproved  FilingState = "approved"
	FilingRejected  FilingState = "rejected"
	FilingWithdrawn FilingState = "withdrawn"
	FilingExpired   FilingState = "expired" // derived only
)

// FilingValidity is how long an approved filing stays in force.
const FilingValidityYears = 3

// Filing is a unit's filing of one title series (备案).
type Filing struct {
	ID                  int64       `json:"id"`
	UnitID              int64       `json:"unit_id"`
	Series              string      `json:"series"`
	Specialty           string      `json:"specialty"`
	Office              string      `json:"office"`
	Contact             string      `json:"contact"`
	TalentCount         int         `json:"talent_count"`
	AppointedLast3Years []int       `json:"appointed_last_3_years"`
	State               FilingState `json:"state"`
	SubmittedAt         time.Time   `json:"submitted_at"`
	Review              *Review     `json:"review,omitempty"`
	ValidFrom           Date        `json:"valid_from"`  // approval day
	ValidUntil          Date        `json:"valid_until"` // last day in force
	Rev                 int         `json:"-"`           // optimistic lock: bumped by every update
}

// SealApplicationKind is 新申请 / 变更 / 注销.
type SealApplicationKind string

const (
	KindNew    SealApplicationKind = "new"
	KindChange SealApplicationKind = "change"
	KindRevoke SealApplicationKind = "revoke"
)

type ApplicationState string

const (
	ApplicationSubmitted ApplicationState = "submitted"
	ApplicationApproved  ApplicationState = "approved"
	ApplicationRejected  ApplicationState = "rejected"
	ApplicationWithdrawn ApplicationState = "withdrawn"
)

// Handler is the person who handles a seal application (经办人).
type Handler struct {
	Name     string `json:"name"`
	IDNumber string `json:"id_number"` // personal data: stored sealed, never logged
	Mobile   string `json:"mobile"`
	Landline string `json:"landline"`
}

// SealApplication is 评聘证书电子印章申请表 (附件3).
type SealApplication struct {
	ID           int64               `json:"id"`
	UnitID       int64               `json:"unit_id"`
	Kind         SealApplicationKind `json:"kind"`
	Handler      Handler             `json:"handler"`
	Address      string              `json:"address"`
	ImprintPNG   []byte              `json:"-"`
	Declaration  bool                `json:"declaration"`
	RevokeReason RevocationReason    `json:"revoke_reason,omitempty"`
	State        ApplicationState    `json:"state"`
	SubmittedAt  time.Time           `json:"submitted_at"`
	Review       *Review             `json:"review,omitempty"`
	SealID       int64               `json:"seal_id,omitempty"` // seal created or revoked by approval
	// TargetSealID is the seal a change or revocation is for: the active
	// one when the unit applied. Zero for a new seal (and for applications
	// made before it was recorded: those act on the seal active at approval).
	TargetSealID int64 `json:"target_seal_id,omitempty"`
	Rev          int   `json:"-"`
}

type SealState string

const (
	SealActive     SealState = "active"
	SealSuperseded SealState = "superseded"
	SealRevoked    SealState = "revoked"
)

// RevocationReason uses the RFC 5280 CRLReason names.
type RevocationReason string

const (
	ReasonUnspecified          RevocationReason = "unspecified"
	ReasonKeyCompromise        RevocationReason = "keyCompromise"
	ReasonAffiliationChanged   RevocationReason = "affiliationChanged"
	ReasonSuperseded           RevocationReason = "superseded"
	ReasonCessationOfOperation RevocationReason = "cessationOfOperation"
)

// RFC5280Code is the CRLReason enumeration value.
func (r RevocationReason) RFC5280Code() (int, bool) {
	switch r {
	case ReasonUnspecified:
		return 0, true
	case ReasonKeyCompromise:
		return 1, true
	case ReasonAffiliationChanged:
		return 3, true
	case ReasonSuperseded:
		return 4, true
	case ReasonCessationOfOperation:
		return 5, true
	}
	return 0, false
}

// Seal is one version of a unit's electronic seal (职称专用章).
type Seal struct {
	ID         int64     `json:"id"`
	UnitID     int64     `json:"unit_id"`
	Version    int       `json:"version"`
	State      SealState `json:"state"`
	ImprintPNG []byte    `json:"-"`
	// KeyBlob is the private key sealed by the keys package; registry never
	// sees it in clear.
	KeyBlob       []byte           `json:"-"`
	CertDER       []byte           `json:"-"`
	Serial        string           `json:"serial"` // certificate serial, lower-case hex
	ApplicationID int64            `json:"application_id"`
	CreatedAt     time.Time        `json:"created_at"`
	RevokedAt     *time.Time       `json:"revoked_at,omitempty"`
	Reason        RevocationReason `json:"revocation_reason,omitempty"`
	// InvalidityDate is, for keyCompromise, the time from which the key is
	// suspected: signatures made after it are not trusted.
	InvalidityDate *time.Time `json:"invalidity_date,omitempty"`
	Rev            int        `json:"-"`
}

// Gender as printed: 男 / 女.
type Gender string

const (
	Male   Gender = "男"
	Female Gender = "女"
)

// Level is 职称层级.
type Level string

var Levels = []Level{"正高级", "副高级", "中级", "助理级", "员级"}

// Appointment is the data of one certificate as a unit submits it
// (人员评聘信息采集表, 附件4).
type Appointment struct {
	UnitID            int64  `json:"unit_id"`
	Name              string `json:"name"`
	Gender            Gender `json:"gender"`
	IDNumber          string `json:"id_number"` // personal data
	Series            string `json:"series"`
	Specialty         string `json:"specialty"`
	Level             Level  `json:"level"`
	Post              string `json:"post"`
	TermFrom          Date   `json:"term_from"`
	TermTo            Date   `json:"term_to"`
	Committee         string `json:"committee"`
	PublicationNumber string `json:"publication_number"`
	AppointedOn       Date   `json:"appointed_on"`
	Photo             []byte `json:"-"` // JPEG or PNG, personal data
	// Backfill (信息补录): appointed before the unit's filing was approved,
	// still in term, issued once the filing came.
	Backfill bool `json:"backfill"`

	// The notice's deadlines (counted in working days, see registry/workday).
	// SubmittedOn is when the unit submitted the data (the issue day); the
	// information is due 15 working days after AppointedOn.
	SubmittedOn      Date `json:"submitted_on,omitzero"`
	InfoLateWorkdays int  `json:"info_late_workdays,omitempty"`
	// The appointment result is filed (聘用结果备案) within 5 working days
	// after the appraisal ends; both days are optional input.
	AppraisalEndedOn   Date `json:"appraisal_ended_on,omitzero"`
	ResultFiledOn      Date `json:"result_filed_on,omitzero"`
	ResultLateWorkdays int  `json:"result_late_workdays,omitempty"`
	// LatenessUnchecked says why the deadlines could not be counted (the
	// calendar has no data for a year they need): shown to reviewers,
	// never guessed.
	LatenessUnchecked string `json:"lateness_unchecked,omitempty"`
}

type CertState string

const (
	CertValid      CertState = "valid"
	CertRevoked    CertState = "revoked"
	CertSuperseded CertState = "superseded"
	CertExpired    CertState = "expired" // derived only
	CertUnknown    CertState = "unknown" // answer for "no such certificate"
)

// Certificate is one version of an appointment certificate (评聘证书).
// A reissue keeps Number and adds Version+1.
type Certificate struct {
	RowID       int64       `json:"-"` // storage order, for paging (CertFilter.AfterID)
	Number      string      `json:"number"`
	Version     int         `json:"version"`
	Appointment Appointment `json:"appointment"`
	// TokenHash is SHA-256 of the random QR token; the token itself is
	// only in the QR code, so a leaked database does not reveal it.
	TokenHash    []byte         `json:"-"`
	State        CertState      `json:"state"`
	SealID       int64          `json:"seal_id"`
	SealVersion  int            `json:"seal_version"`
	IssuedAt     time.Time      `json:"issued_at"`
	PDFSHA256    []byte         `json:"-"`
	BatchID      int64          `json:"batch_id,omitempty"`
	RevokedAt    *time.Time     `json:"revoked_at,omitempty"`
	RevokeReason string         `json:"revoke_reason,omitempty"`
	RevokedBy    string         `json:"revoked_by,omitempty"`
	Category     RevokeCategory `json:"revoke_category,omitempty"`
	Rev          int            `json:"-"`
}

// RevokeCategory groups certificate revocations for the public page and
// for integrity records.
type RevokeCategory string

const (
	RevokeError   RevokeCategory = "error"   // issued by mistake
	RevokeForgery RevokeCategory = "forgery" // 伪造
	RevokeTamper  RevokeCategory = "tamper"  // 篡改
	RevokeAbuse   RevokeCategory = "abuse"   // 滥用
	RevokeOther   RevokeCategory = "other"
)

// AuditEvent is one step in the trail. Hash chains every event to the one
// before it (see registry/audit).
type AuditEvent struct {
	Seq           int64     `json:"seq"`
	At            time.Time `json:"at"`
	Actor         string    `json:"actor"`
	Action        string    `json:"action"`
	SubjectType   string    `json:"subject_type"`
	SubjectID     string    `json:"subject_id"`
	RequestID     string    `json:"request_id"`
	PayloadDigest []byte    `json:"payload_digest"`
	PrevHash      []byte    `json:"prev_hash"`
	Hash          []byte    `json:"hash"`
}

// Role of an API key.
type Role string

const (
	RolePlatform Role = "platform"
	RoleReviewer Role = "reviewer"
	RoleUnit     Role = "unit"
)

// APIKey is stored by hash only. A key is never deleted: it is revoked,
// or it expires, and stays listed with its history.
type APIKey struct {
	ID           int64      `json:"id"`
	Hash         []byte     `json:"-"`
	Role         Role       `json:"role"`
	Jurisdiction string     `json:"jurisdiction,omitempty"`
	UnitID       int64      `json:"unit_id,omitempty"`
	Name         string     `json:"name"`
	CreatedAt    time.Time  `json:"created_at"`
	CreatedBy    string     `json:"created_by,omitempty"` // the actor that made it ("operator": the command line)
	ExpiresAt    *time.Time `json:"expires_at,omitempty"` // nil: until revoked
	// LastUsedAt is kept to the minute (see APIKeyTouchEvery): exact
	// enough to find a forgotten key, cheap enough for every request.
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	RevokedBy  string     `json:"revoked_by,omitempty"`
	Rev        int        `json:"-"`
}

// APIKeyState is whether a key may be used now; only "revoked" is
// stored, "expired" is derived from ExpiresAt.
type APIKeyState string

const (
	APIKeyActive  APIKeyState = "active"
	APIKeyRevoked APIKeyState = "revoked"
	APIKeyExpired APIKeyState = "expired"
)

// IdempotencyRecord remembers the answer to a mutating request.
type IdempotencyRecord struct {
	Key         string    `json:"key"`
	Scope       string    `json:"scope"` // who sent it: a key from another caller is a different key
	RequestHash []byte    `json:"-"`
	Status      int       `json:"status"`
	Body        []byte    `json:"-"`
	CreatedAt   time.Time `json:"created_at"`
}

// IntegritySource says how an integrity record came about.
type IntegritySource string

const (
	// FromRevocation: a unit or the platform revoked a certificate for
	// forgery, tampering or abuse.
	FromRevocation IntegritySource = "revocation"
	// FromUpload: someone uploaded a PDF claiming a certificate number that
	// is not a registered version of it. Nothing about the uploader is kept.
	FromUpload IntegritySource = "upload"
)

// IntegrityRecord is one entry of the 诚信档案.
type IntegrityRecord struct {
	ID         int64           `json:"id"`
	UnitID     int64           `json:"unit_id"`
	Number     string          `json:"number"`
	HolderName string          `json:"holder_name"`
	Category   RevokeCategory  `json:"category"`
	Source     IntegritySource `json:"source"`
	Evidence   string          `json:"evidence"`
	Actor      string          `json:"actor"`
	RequestID  string          `json:"request_id"`
	At         time.Time       `json:"at"`
}

// MakesIntegrityRecord reports whether revoking for category is a breach
// of integrity (伪造、篡改、滥用) that goes into the 诚信档案.
func (c RevokeCategory) MakesIntegrityRecord() bool {
	return c == RevokeForgery || c == RevokeTamper || c == RevokeAbuse
}
