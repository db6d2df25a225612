package registry

import "time"

// SM2Seal is the 国密 twin of a seal version (GB/T 38540): an SM2 key, an
// SM2 certificate from the platform's SM2 CA, and the electronic seal
// (SES_Seal) that CA made. It shares the seal's lifecycle: the seal's
// state and revocation are the twin's.
type SM2Seal struct {
	SealID int64 `json:"seal_id"`
	// KeyBlob is the SM2 private key sealed by the keys package.
	KeyBlob   []byte    `json:"-"`
	CertDER   []byte    `json:"-"`
	Serial    string    `json:"serial"` // SM2 certificate serial, lower-case hex
	SESSeal   []byte    `json:"-"`      // DER SES_Seal
	CreatedAt time.Time `json:"created_at"`
}
