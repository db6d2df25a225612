package verify

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/certseal/certseal/registry"
)

// Sub-indications of a receipt check.
const (
	SubNoSuchReceipt = "NO_SUCH_RECEIPT" // no receipt with that serial, or that file or JWS was not issued
	SubNotAReceipt   = "NOT_A_RECEIPT"   // not signed by the platform's document signer
)

// ReceiptAnswer is the verdict on a verification receipt: whether the
// platform issued it (Indication passed), what it recorded then, and what
// the certificate's status is now, so a receipt of a certificate revoked
// later says so.
type ReceiptAnswer struct {
	Indication    string            `json:"indication"`
	SubIndication string            `json:"sub_indication,omitempty"`
	Message       string            `json:"message"`
	Receipt       *registry.Receipt `json:"receipt,omitempty"`
	StatusThen    string            `json:"status_then_text,omitempty"`
	// Certificate is the certificate version the receipt is of, as it
	// stands now (no photo); Current the newest version of the number,
	// when that is another (the receipt's version was corrected since).
	Certificate *Answer   `json:"certificate,omitempty"`
	Current     *Answer   `json:"current,omitempty"`
	ServerTime  time.Time `json:"server_time"`
}

// ErrNoReceipt answers a receipt request that finds no certificate: the
// same for a wrong token or name and an unknown number.
var ErrNoReceipt = registry.Errf(registry.CodeNotFound, "no certificate found to give a receipt for: 未找到与所填信息相符的证书")

// ReceiptFacts is what a verification by QR token (token set) or by the
// holder's name (name set) finds, as a receipt records it; the same
// version and status the page shows. Nothing found is ErrNoReceipt.
func (s *Service) ReceiptFacts(ctx context.Context, number, token, name string) (registry.Receipt, string, error) {
	number, err := registry.ParseCertNumber(number)
	if err != nil {
		return registry.Receipt{}, "", err
	}
	kind, secret := registry.VerifiedByScan, sha256Of(token)
	if token == "" {
		kind, secret = registry.VerifiedByTyped, sha256Of(strings.TrimSpace(name))
	}
	var a Answer
	var c registry.Certificate
	err = s.store.View(ctx, func(tx registry.Tx) error {
		versions, err := tx.ListCertificates(ctx, registry.CertFilter{Number: number, WithoutPersonalData: true})
		if err != nil {
			return err
		}
		found := false
		if kind == registry.VerifiedByScan {
			c, found = versionByToken(versions, secret)
		} else if n := len(versions); n > 0 {
			// A typed lookup finds the current version by the name.
			c, found = versions[n-1], subtle.ConstantTimeCompare(sha256Of(versions[n-1].Appointment.Name), secret) == 1
		}
		if !found {
			return ErrNoReceipt
		}
		a, err = s.answerNow(ctx, tx, c, versions[len(versions)-1].Version)
		return err
	})
	if err != nil {
		return registry.Receipt{}, "", err
	}
	return registry.Receipt{Number: c.Number, Version: c.Version, HolderName: c.Appointment.Name, Status: a.Status,
		SealVersion: a.SealVersion, Unit: a.Unit, Kind: kind, VerifiedAt: a.ServerTime}, a.StatusText, nil
}

// answerNow is the answer on version c now, without photo.
func (s *Service) answerNow(ctx context.Context, tx registry.Tx, c registry.Certificate, current int) (Answer, error) {
	seal, err := tx.Seal(ctx, c.SealID, registry.NoLock)
	if err != nil {
		return Answer{}, err
	}
	unit, err := tx.Unit(ctx, c.Appointment.UnitID)
	if err != nil {
		return Answer{}, err
	}
	a := answerFor(c, current, unit, seal, s.platform, s.now())
	a.photo = nil
	return a, nil
}

// CheckReceipt answers the receipt's public address, by its serial.
func (s *Service) CheckReceipt(ctx context.Context, serial string) (ReceiptAnswer, error) {
	return s.receiptBy(ctx, func(tx registry.Tx) (registry.Receipt, error) { return tx.Receipt(ctx, serial) })
}

// receiptUpload is CheckUpload's verdict on a file the platform's document
// signer signed (its signature already checked): a receipt if its digest
// is one the platform issued.
func (s *Service) receiptUpload(ctx context.Context, ans UploadAnswer, sum []byte) (UploadAnswer, error) {
	ra, err := s.receiptBy(ctx, func(tx registry.Tx) (registry.Receipt, error) { return tx.ReceiptByDigest(ctx, sum) })
	if err != nil {
		return ans, err
	}
	ans.Indication, ans.SubIndication, ans.Message, ans.Receipt = ra.Indication, ra.SubIndication, ra.Message, &ra
	return ans, nil
}

// CheckReceiptJWS checks a receipt's JSON form: a compact JWS that the
// platform's document signer signed and the platform issued.
func (s *Service) CheckReceiptJWS(ctx context.Context, jws string) (ReceiptAnswer, error) {
	if err := checkReceiptJWS(jws, s.trust); err != nil {
		return ReceiptAnswer{Indication: Failed, SubIndication: SubNotAReceipt, ServerTime: s.now(),
			Message: "这不是平台签名的验证回执（" + err.Error() + "）。 / This is not a receipt signed by the platform."}, nil
	}
	sum := sha256.Sum256([]byte(jws))
	return s.receiptBy(ctx, func(tx registry.Tx) (registry.Receipt, error) { return tx.ReceiptByDigest(ctx, sum[:]) })
}

// receiptBy reads a receipt with find and answers about it and its
// certificate now. A store failure is an error, never a verdict.
func (s *Service) receiptBy(ctx context.Context, find func(registry.Tx) (registry.Receipt, error)) (ReceiptAnswer, error) {
	var rc registry.Receipt
	var now Answer
	var current *Answer
	err := s.store.View(ctx, func(tx registry.Tx) error {
		var err error
		if rc, err = find(tx); err != nil {
			return err
		}
		c, err := tx.CertificateVersion(ctx, rc.Number, rc.Version)
		if err != nil {
			return err
		}
		latest, err := tx.Certificate(ctx, rc.Number)
		if err != nil {
			return err
		}
		if now, err = s.answerNow(ctx, tx, c, latest.Version); err != nil || latest.Version == c.Version {
			return err
		}
		cur, err := s.answerNow(ctx, tx, latest, latest.Version)
		current = &cur
		return err
	})
	if errors.Is(err, registry.ErrNotFound) {
		return ReceiptAnswer{Indication: Failed, SubIndication: SubNoSuchReceipt, ServerTime: s.now(),
			Message: "平台没有签发过这份验证回执。 / The platform issued no such receipt."}, nil
	}
	if err != nil {
		return ReceiptAnswer{}, fmt.Errorf("verify: receipt: %w", err)
	}
	ra := ReceiptAnswer{Indication: Passed, Receipt: &rc, StatusThen: statusText[rc.Status], Certificate: &now, Current: current, ServerTime: now.ServerTime}
	ra.Message = fmt.Sprintf("回执真实：平台于 %s 查验证书 %s，当时状态为「%s」；该证书现在的状态为「%s」",
		rc.VerifiedAt.In(registry.ChinaTZ).Format("2006-01-02 15:04:05"), rc.Number, ra.StatusThen, now.StatusText)
	en := fmt.Sprintf("Genuine receipt: at %s the certificate was %s; it is %s now", rc.VerifiedAt.UTC().Format(time.RFC3339), rc.Status, now.Status)
	if current != nil {
		ra.Message += fmt.Sprintf("（现行第 %d 版：%s）", current.Version, current.StatusText)
		en += fmt.Sprintf(" (its current version %d: %s)", current.Version, current.Status)
	}
	ra.Message += "。 / " + en + "."
	return ra, nil
}

// maxReceiptJWS bounds a JWS taken from outside: a receipt's is about 2 KB.
const maxReceiptJWS = 16 << 10

// checkReceiptJWS checks that jws is a compact JWS signed by the
// platform's document signer (the first x5c certificate is that signer's
// certificate, and the signature verifies with its key).
func checkReceiptJWS(jws string, trust PDFTrust) error {
	if trust.ReceiptSigner == nil {
		return errors.New("no document signer configured")
	}
	if len(jws) > maxReceiptJWS {
		return errors.New("too long")
	}
	parts := strings.Split(jws, ".")
	if len(parts) != 3 {
		return errors.New("not a compact JWS")
	}
	enc := base64.RawURLEncoding.Strict() // one spelling per value
	hb, err1 := enc.DecodeString(parts[0])
	sig, err2 := enc.DecodeString(parts[2])
	if _, err3 := enc.DecodeString(parts[1]); err1 != nil || err2 != nil || err3 != nil {
		return errors.New("not base64url")
	}
	var h struct {
		Alg string   `json:"alg"`
		X5C []string `json:"x5c"`
	}
	if err := json.Unmarshal(hb, &h); err != nil {
		return errors.New("header is not JSON")
	}
	if len(h.X5C) == 0 {
		return errors.New("no x5c")
	}
	signerDER, err := base64.StdEncoding.DecodeString(h.X5C[0])
	if err != nil || subtle.ConstantTimeCompare(signerDER, trust.ReceiptSigner.Raw) != 1 {
		return errors.New("not signed by the platform's document signer")
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	switch k := trust.ReceiptSigner.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if h.Alg != "ES256" || len(sig) != 64 {
			return errors.New("not an ES256 signature")
		}
		if !ecdsa.Verify(k, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
			return errors.New("the signature does not verify")
		}
	case *rsa.PublicKey:
		if h.Alg != "RS256" || rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], sig) != nil {
			return errors.New("the signature does not verify")
		}
	default:
		return errors.New("unsupported key")
	}
	return nil
}
