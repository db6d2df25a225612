package registry

import (
	"context"
	"time"
)

// VerificationKind is how a certificate was looked at on the public side.
type VerificationKind string

const (
	VerifiedByScan    VerificationKind = "scan"    // the QR code's address (number + token)
	VerifiedByTyped   VerificationKind = "typed"   // number + holder's name
	VerifiedByUpload  VerificationKind = "upload"  // the PDF uploaded
	VerifiedByReceipt VerificationKind = "receipt" // a verification receipt of it checked again
)

// Verification is one look at a certificate, for the holder's view. Who
// looked is never kept: ClientHash is a keyed hash of the client address
// (the same client gives the same value), never the address itself.
type Verification struct {
	ID         int64            `json:"id"`
	Number     string           `json:"number"`
	Kind       VerificationKind `json:"kind"`
	Outcome    CertState        `json:"outcome"` // the status the answer showed
	At         time.Time        `json:"at"`
	ClientHash []byte           `json:"-"`
}

// Receipt is a signed verification receipt (验证回执): what a verifier was
// told about a certificate at a time, signed by the platform. Its PDF and
// its JWS are stored by digest so an uploaded copy is recognised.
type Receipt struct {
	Serial      string           `json:"serial"`
	Number      string           `json:"number"`
	Version     int              `json:"version"`
	HolderName  string           `json:"holder_name"`
	Status      CertState        `json:"status"` // at VerifiedAt
	SealVersion int              `json:"seal_version"`
	Unit        string           `json:"unit"`
	Kind        VerificationKind `json:"kind"` // the verification it records
	VerifiedAt  time.Time        `json:"verified_at"`
	PDFSHA256   []byte           `json:"-"`
	JWSSHA256   []byte           `json:"-"`
	RequestID   string           `json:"-"`
}

// TokenRotation records that a certificate version's QR token was
// invalidated (leaked): the version keeps its record, its token no longer
// opens anything, and NewVersion carries a fresh token.
type TokenRotation struct {
	Number       string    `json:"number"`
	Version      int       `json:"version"`
	NewVersion   int       `json:"new_version"`
	OldTokenHash []byte    `json:"-"`
	At           time.Time `json:"at"`
	Actor        string    `json:"actor"`
	RequestID    string    `json:"request_id"`
}

// ReceiptTx is the part of Tx for receipts, verification records and
// token rotation.
type ReceiptTx interface {
	// CreateReceipt stores a receipt with its signed PDF and JWS; an
	// existing serial: ErrDuplicate.
	CreateReceipt(ctx context.Context, r *Receipt, pdf []byte, jws string) error
	Receipt(ctx context.Context, serial string) (Receipt, error)
	ReceiptByDigest(ctx context.Context, sha256 []byte) (Receipt, error) // of its PDF or its JWS
	// ReceiptFiles returns the stored PDF and JWS of a receipt.
	ReceiptFiles(ctx context.Context, serial string) (pdf []byte, jws string, err error)

	// AddVerifications appends verification records (a batch at once).
	AddVerifications(ctx context.Context, vs []Verification) error
	// ListVerifications lists a number's verifications by id.
	ListVerifications(ctx context.Context, number string, p Page) ([]Verification, error)

	// RetireToken records r and replaces the stored token hash of
	// (r.Number, r.Version) by replacement, a value no token hashes to,
	// so the old token finds nothing.
	RetireToken(ctx context.Context, r *TokenRotation, replacement []byte) error
}
