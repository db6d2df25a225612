package verify

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/certseal/certseal/registry"
)

// Sub-indications from the registry side of an upload check.
const (
	SubNotRegistered      = "NOT_REGISTERED"       // signature fine, but not a version certseal issued
	SubSealMismatch       = "SEAL_MISMATCH"        // signed with another seal than the one recorded
	SubSealKeyCompromised = "SEAL_KEY_COMPROMISED" // signed after the seal's key was suspected
	SubRevoked            = "REVOKED"              // signed after the seal was revoked, proven by the timestamp
	SubRevokedNoPOE       = "REVOKED_NO_POE"       // the seal is revoked and nothing proves the signature came before
	SubTimestampFailure   = "TIMESTAMP_FAILURE"    // the file's time-stamp token does not verify
)

// UploadAnswer is the verdict on an uploaded certificate PDF.
type UploadAnswer struct {
	Indication    string    `json:"indication"`
	SubIndication string    `json:"sub_indication,omitempty"`
	Message       string    `json:"message"`
	Detail        string    `json:"detail,omitempty"`
	SHA256        string    `json:"sha256,omitempty"`
	SealSerial    string    `json:"seal_serial,omitempty"`
	SealSubject   string    `json:"seal_subject,omitempty"`
	SigningTime   time.Time `json:"signing_time,omitzero"`
	// Timestamp is the proven signing time (the time-stamp token's);
	// TimestampStatus says whether the file had a token and it verified.
	Timestamp       time.Time `json:"timestamp,omitzero"`
	TimestampStatus string    `json:"timestamp_status,omitempty"`
	// Certificate is the registered version the file is, when it is one.
	Certificate *Answer `json:"certificate,omitempty"`
	// SES is the verdict on its 国密 seal signature (ses.go), if it has one.
	SES *SESVerdict `json:"ses,omitempty"`
	// Receipt is what a verification receipt file says and whether it is
	// genuine, when the file is one.
	Receipt *ReceiptAnswer `json:"receipt,omitempty"`
}

// CheckUpload gives certseal's verdict on an uploaded PDF: the file's own
// signature (CheckPDF) and then the registry: is it a registered version,
// signed by the seal on record, while that seal was trusted, and what is the
// certificate's status now. A store failure is an error (503), never a verdict.
func (s *Service) CheckUpload(ctx context.Context, pdf []byte) (UploadAnswer, error) {
	res := CheckPDF(ctx, pdf, s.trust)
	ans := UploadAnswer{Indication: res.Indication, SubIndication: res.SubIndication, Message: res.Message, Detail: res.Detail,
		SealSerial: res.SealSerial, SealSubject: res.SealSubject, SigningTime: res.SigningTime,
		Timestamp: res.Timestamp, TimestampStatus: res.TimestampStatus}
	if res.SHA256 != ([32]byte{}) {
		ans.SHA256 = hex.EncodeToString(res.SHA256[:])
	}
	if res.Indication != Passed {
		return ans, nil
	}
	if s.trust.ReceiptSigner != nil && res.Seal.Equal(s.trust.ReceiptSigner) {
		return s.receiptUpload(ctx, ans, res.SHA256[:])
	}
	var c registry.Certificate
	var seal registry.Seal
	var unit registry.Unit
	current := 0
	err := s.store.View(ctx, func(tx registry.Tx) error {
		var err error
		if c, err = tx.CertificateByPDFHash(ctx, res.SHA256[:]); err != nil {
			return err
		}
		latest, err := tx.Certificate(ctx, c.Number)
		if err != nil {
			return err
		}
		current = latest.Version
		if seal, err = tx.Seal(ctx, c.SealID, registry.NoLock); err != nil {
			return err
		}
		unit, err = tx.Unit(ctx, c.Appointment.UnitID)
		return err
	})
	if errors.Is(err, registry.ErrNotFound) {
		return fail(ans, SubNotRegistered, "签名有效，但该文件不是平台登记的证书版本（可能被另行生成或改存）。 / The signature is intact, but this file is not a certificate version certseal issued."), nil
	}
	if err != nil {
		return ans, fmt.Errorf("verify: registry lookup of an upload: %w", err)
	}
	a := answerFor(c, current, unit, seal, s.platform, s.now())
	a.photo = nil
	ans.Certificate = &a
	if ans.SES, err = s.recordedSES(ctx, c, pdf); err != nil {
		return ans, err
	}
	if seal.Serial != res.SealSerial {
		return fail(ans, SubSealMismatch, "签名所用印章与登记不符。 / The file is signed with another seal than the one on record."), nil
	}
	if verdict, done := timeVerdict(ans, res, seal); done {
		return verdict, nil
	}
	if a.Indication != Passed {
		ans.Indication, ans.SubIndication = a.Indication, a.SubIndication
		ans.Message = "证书" + a.StatusText + "。" + a.Detail
		return ans, nil
	}
	ans.Message = "证书有效：签名完好，且为平台登记的现行版本。 / Valid: the signature is intact and the file is the current registered version."
	if res.TimestampStatus == TimestampValid {
		ans.Message += " 签名时间经时间戳证明：" + res.Timestamp.In(registry.ChinaTZ).Format("2006-01-02 15:04:05") +
			"。 / The signing time is proven by a time-stamp: " + res.Timestamp.Format(time.RFC3339) + "."
	}
	return ans, nil
}

// timeVerdict applies the proof of time to a seal that no longer signs
// (DESIGN §5). A revoked seal keeps only what its signature's time-stamp
// proves it signed before the revocation (or, for keyCompromise, before
// the suspected date); without a valid time-stamp such a signature is
// indeterminate, never passed. A superseded seal keeps what it signed
// before the change, by the best time the file gives. done is false when
// the certificate's own status decides.
func timeVerdict(ans UploadAnswer, res PDFResult, seal registry.Seal) (UploadAnswer, bool) {
	if res.TimestampStatus == TimestampInvalid {
		ans.Indication, ans.SubIndication, ans.Detail = Indeterminate, SubTimestampFailure, res.TimestampDetail
		ans.Message = "文件所带的时间戳无法核验，签名时间未获证明。 / The file's time-stamp does not verify, so its signing time is not proven."
		return ans, true
	}
	proven := res.TimestampStatus == TimestampValid
	at := res.SigningTime // claimed by the signer: it can condemn, never clear, a revoked seal
	if proven {
		at = res.Timestamp
	}
	if registry.SignatureTrusted(seal, at) {
		if seal.State == registry.SealRevoked && !proven {
			ans.Indication, ans.SubIndication = Indeterminate, SubRevokedNoPOE
			ans.Message = "该电子印章已注销，而文件没有可证明签名时间的时间戳，无法确认签名早于注销。 / The seal has been revoked and the file carries no time-stamp proving it was signed before that."
			if c := ans.Certificate; c != nil && c.IssuedAt != nil {
				// What the registry says, in words: a record, not a proof.
				ans.Message += " 平台登记记录显示该版本签发于 " + c.IssuedAt.In(registry.ChinaTZ).Format("2006-01-02 15:04") +
					"，可扫描证书二维码查询其登记状态。 / The registry records this version as issued at " + c.IssuedAt.UTC().Format(time.RFC3339) +
					"; scan the QR code for its registered status."
			}
			return ans, true
		}
		return ans, false
	}
	zh, en := "文件自称的签名时间", "the file's own signing time"
	if proven {
		zh, en = "时间戳", "its time-stamp"
	}
	if seal.Reason == registry.ReasonKeyCompromise {
		return fail(ans, SubSealKeyCompromised, "依据"+zh+"，签名晚于电子印章密钥被怀疑泄露之时。 / By "+en+", the file was signed after the seal's key was suspected compromised."), true
	}
	return fail(ans, SubRevoked, "依据"+zh+"，签名晚于电子印章停用（注销或变更）之时。 / By "+en+", the file was signed after the seal stopped signing (revoked or replaced)."), true
}

func fail(a UploadAnswer, sub, msg string) UploadAnswer {
	a.Indication, a.SubIndication, a.Message = Failed, sub, msg
	return a
}
