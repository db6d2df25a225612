package verify

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/smx509"

	"github.com/certseal/certseal/keys"
	"github.com/certseal/certseal/keys/ses"
	"github.com/certseal/certseal/registry"
)

// SESTrust is what a certificate's 国密 seal signature (GB/T 38540) must
// chain to: the platform's SM2 CA, and for its time-stamp the TSA roots.
type SESTrust struct {
	CA         *keys.SM2CA
	Timestamps keys.TimestampTrust
}

// The words of the 国密 verdict.
const (
	SESValid   = "有效"
	SESInvalid = "无效"
)

// SESVerdict is the verdict on a seal signature over a PDF.
type SESVerdict struct {
	Valid  bool   `json:"valid"`
	Status string `json:"status"` // 有效 / 无效
	// Reason says, for people, what failed.
	Reason   string `json:"reason,omitempty"`
	SealName string `json:"seal_name,omitempty"`
	ESID     string `json:"es_id,omitempty"`
	// SM2Serial is the signer's SM2 certificate serial (lower-case hex).
	SM2Serial string    `json:"sm2_serial,omitempty"`
	SignedAt  time.Time `json:"signed_at,omitzero"` // timeInfo, as the signer says
	Timestamp time.Time `json:"timestamp,omitzero"` // proven by the time-stamp token over the signature
}

func sesInvalid(v SESVerdict, format string, a ...any) SESVerdict {
	v.Valid, v.Status, v.Reason = false, SESInvalid, fmt.Sprintf(format, a...)
	return v
}

// CheckSES checks a seal signature (DER SES_Signature) over pdf: the SM2
// signature, the seal's maker signature, both certificates' chains to the
// SM2 root at the signing time, the seal's validity window, the seal's
// revocation in the registry, the time-stamp if there is one, and that
// dataHash is SM3 of the whole file. A store failure is an error, never a
// verdict.
func (s *Service) CheckSES(ctx context.Context, der, pdf []byte) (SESVerdict, error) {
	v := SESVerdict{Status: SESInvalid}
	if s.SES.CA == nil {
		return sesInvalid(v, "本服务未配置国密（SM2）信任根。 / No SM2 trust anchor is configured."), nil
	}
	sig, err := ses.ParseSignature(der)
	if err != nil {
		return sesInvalid(v, "签章数据不是 GB/T 38540 格式：%v", err), nil
	}
	seal := sig.ToSign.ESeal
	v.SealName, v.ESID, v.SignedAt = seal.Info.Property.Name, seal.Info.ESID, sig.ToSign.TimeInfo
	signer, maker, err := sig.Verify()
	if err != nil {
		return sesInvalid(v, "签名值或印章制作者签名验证失败：%v", err), nil
	}
	v.SM2Serial = keys.SerialHex(signer.SerialNumber)
	at := sig.ToSign.TimeInfo // claimed: it can condemn, never clear, a revoked seal
	proven := false
	if token := sig.TimeStamp.Bytes; len(token) > 0 {
		vt, err := keys.CheckTimestampToken(token, sig.Signature.Bytes, s.SES.Timestamps)
		if err != nil {
			return sesInvalid(v, "签章时间戳无法核验：%v", err), nil
		}
		v.Timestamp, at, proven = vt.Time, vt.Time, true
	}
	if !bytes.Equal(maker.Raw, s.SES.CA.Issuing().Raw) {
		return sesInvalid(v, "电子印章不是本平台国密 CA 制作的。 / The seal was not made by this platform's SM2 CA."), nil
	}
	for _, c := range []*smx509.Certificate{maker, signer} {
		if err := s.SES.CA.Verify(c, at); err != nil {
			return sesInvalid(v, "证书 %q 在签章时间不能链接到国密根证书：%v", c.Subject.CommonName, err), nil
		}
	}
	p := seal.Info.Property
	if at.Before(p.ValidStart) || at.After(p.ValidEnd) {
		return sesInvalid(v, "签章时间 %s 不在印章有效期 %s 至 %s 内。", at.Format(time.RFC3339), p.ValidStart.Format(time.RFC3339), p.ValidEnd.Format(time.RFC3339)), nil
	}
	if sum := sm3.Sum(pdf); subtle.ConstantTimeCompare(sum[:], sig.ToSign.DataHash.Bytes) != 1 {
		return sesInvalid(v, "原文杂凑值（SM3）与该 PDF 文件不符：文件被改动，或签章属于另一文件。 / dataHash is not the SM3 of this file."), nil
	}
	var rec registry.Seal
	err = s.store.View(ctx, func(tx registry.Tx) error {
		twin, err := tx.SM2SealBySerial(ctx, v.SM2Serial)
		if err != nil {
			return err
		}
		rec, err = tx.Seal(ctx, twin.SealID, registry.NoLock)
		return err
	})
	if errors.Is(err, registry.ErrNotFound) {
		return sesInvalid(v, "签章证书不是平台登记的印章。 / The signer's SM2 certificate is not a registered seal's."), nil
	}
	if err != nil {
		return v, fmt.Errorf("verify: registry lookup of a seal signature: %w", err)
	}
	if !registry.SignatureTrusted(rec, at) || (rec.State == registry.SealRevoked && !proven) {
		return sesInvalid(v, "印章已%s，签章时间不早于此，或无时间戳证明签章早于此。 / The seal stopped signing, and the signature is not proven to come before.", sealStateWord(rec)), nil
	}
	v.Valid, v.Status = true, SESValid
	return v, nil
}

func sealStateWord(s registry.Seal) string {
	if s.State == registry.SealSuperseded {
		return "变更"
	}
	return "注销"
}

// recordedSES is the 国密 verdict of an upload that is registered
// certificate c: its recorded seal signature checked against the file;
// nil when c has none (issued before certseal made them).
func (s *Service) recordedSES(ctx context.Context, c registry.Certificate, pdf []byte) (*SESVerdict, error) {
	var der []byte
	err := s.store.View(ctx, func(tx registry.Tx) (err error) {
		der, err = tx.CertificateSES(ctx, c.Number, c.Version)
		return err
	})
	if errors.Is(err, registry.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("verify: read the seal signature of %s version %d: %w", c.Number, c.Version, err)
	}
	v, err := s.CheckSES(ctx, der, pdf)
	return &v, err
}

// SESByToken is the seal signature of the certificate version whose QR
// token is token. Wrong token and unknown number are the same not-found.
func (s *Service) SESByToken(ctx context.Context, number, token string) (registry.Certificate, []byte, error) {
	var der []byte
	c, err := s.byToken(ctx, number, token, ErrNoSES, func(tx registry.Tx, _ []registry.Certificate, c registry.Certificate) (err error) {
		der, err = tx.CertificateSES(ctx, c.Number, c.Version)
		if errors.Is(err, registry.ErrNotFound) {
			return ErrNoSES
		}
		return err
	})
	return c, der, err
}

// ErrNoSES answers a seal-signature download that has nothing to give.
var ErrNoSES = registry.Errf(registry.CodeNotFound, "no seal signature here: scan the QR code of the certificate")

// byToken runs fn, in one view, on the versions of number and the one
// whose QR token is token (versionByToken); none
// is notFound, the same answer as an unknown number.
func (s *Service) byToken(ctx context.Context, number, token string, notFound error, fn func(tx registry.Tx, versions []registry.Certificate, c registry.Certificate) error) (registry.Certificate, error) {
	number, err := registry.ParseCertNumber(number)
	if err != nil {
		return registry.Certificate{}, err
	}
	secret := sha256Of(token)
	var c registry.Certificate
	err = s.store.View(ctx, func(tx registry.Tx) error {
		versions, err := tx.ListCertificates(ctx, registry.CertFilter{Number: number, WithoutPersonalData: true})
		if err != nil {
			return err
		}
		var found bool
		if c, found = versionByToken(versions, secret[:]); !found {
			return notFound
		}
		return fn(tx, versions, c)
	})
	return c, err
}
