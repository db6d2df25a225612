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
	// Certificate is the registered version the file is, when it is one.
	Certificate *Answer `json:"certificate,omitempty"`
}

// CheckUpload gives certseal's verdict on an uploaded PDF: the file's own
// signature (CheckPDF) and then the registry: is it a registered version,
// signed by the seal on record, while that seal was trusted, and what is the
// certificate's status now. A store failure is an error (503), never a verdict.
func (s *Service) CheckUpload(ctx context.Context, pdf []byte) (UploadAnswer, error) {
	res := CheckPDF(ctx, pdf, s.trust)
	ans := UploadAnswer{Indication: res.Indication, SubIndication: res.SubIndication, Message: res.Message, Detail: res.Detail,
		SealSerial: res.SealSerial, SealSubject: res.SealSubject, SigningTime: res.SigningTime}
	if res.SHA256 != ([32]byte{}) {
		ans.SHA256 = hex.EncodeToString(res.SHA256[:])
	}
	if res.Indication != Passed {
		return ans, nil
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
	switch {
	case seal.Serial != res.SealSerial:
		return fail(ans, SubSealMismatch, "签名所用印章与登记不符。 / The file is signed with another seal than the one on record."), nil
	case !registry.SignatureTrusted(seal, res.SigningTime):
		return fail(ans, SubSealKeyCompromised, "签名时电子印章密钥已被注销（疑似泄露）。 / The seal's key was suspected compromised when this was signed."), nil
	case a.Indication != Passed:
		ans.Indication, ans.SubIndication = a.Indication, a.SubIndication
		ans.Message = "证书" + a.StatusText + "。" + a.Detail
		return ans, nil
	}
	ans.Message = "证书有效：签名完好，且为平台登记的现行版本。 / Valid: the signature is intact and the file is the current registered version."
	return ans, nil
}

func fail(a UploadAnswer, sub, msg string) UploadAnswer {
	a.Indication, a.SubIndication, a.Message = Failed, sub, msg
	return a
}
