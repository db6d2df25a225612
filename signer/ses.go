package signer

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"time"

	"github.com/digitorus/timestamp"
	"github.com/emmansun/gmsm/sm3"

	"github.com/certseal/certseal/keys/ses"
	"github.com/certseal/certseal/registry"
)

// The 国密 twin of a certificate's PDF signature: a GB/T 38540 seal
// signature (SES_Signature) by the seal's SM2 key, with its electronic
// seal, over the finished PDF. It is a separate file kept with the
// certificate version; the PDF itself is not changed by it.
//
// dataHash is SM3 over the whole signed PDF file, every byte as stored and
// served (its SHA-256 is the recorded pdf_sha256): the simplest statement
// that a verifier can check with `openssl dgst -sm3` alone, and it covers
// the PDF signature too. So the twin must be made after the PDF is
// signed, and a changed byte anywhere breaks both.

// SM2Keys hands out the signer of a seal's SM2 key (keys.SoftwareKeys does).
type SM2Keys interface {
	SM2Signer(ctx context.Context, s registry.Seal, twin registry.SM2Seal) (crypto.Signer, error)
}

// twinOf reads the seal's 国密 twin; nil for a seal approved before
// certseal made twins (it signs PDFs only).
func twinOf(ctx context.Context, tx registry.SealTx, sealID int64) (*registry.SM2Seal, error) {
	t, err := tx.SM2Seal(ctx, sealID)
	if errors.Is(err, registry.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// SESProperty is the propertyInfo of a certificate's seal signature: what
// was signed, in ASCII (IA5String).
func SESProperty(number string, version, size int) string {
	return fmt.Sprintf("certseal certificate=%s;version=%d;data=whole signed PDF file;bytes=%d", number, version, size)
}

// sesSign makes the seal signature over pdf (the signed file) at, with the
// time-stamp of the issuer's TSA over the signature value where it has
// one. Without an issuer SM2 key manager or a twin of the seal it makes
// none (nil).
func (is *Issuer) sesSign(ctx context.Context, st stamp, pdf []byte, number string, version int, at time.Time) ([]byte, error) {
	if is.sm2 == nil || st.twin == nil {
		return nil, nil
	}
	key, err := is.sm2.SM2Signer(ctx, st.seal, *st.twin)
	if err != nil {
		return nil, fmt.Errorf("signer: SM2 key of seal version %d: %w", st.seal.Version, err)
	}
	hash := sm3.Sum(pdf)
	p := ses.SignParams{Time: at, DataHash: hash[:], Property: SESProperty(number, version, len(pdf))}
	if is.tsa != nil {
		p.Stamp = func(sig []byte) ([]byte, error) { return is.stampBytes(ctx, sig) }
	}
	der, err := ses.Sign(st.twin.SESSeal, st.twin.CertDER, key, p)
	if err != nil {
		return nil, fmt.Errorf("signer: seal signature of %s version %d: %w", number, version, err)
	}
	return der, nil
}

// stampBytes asks the TSA for a token over data (SHA-256 imprint).
func (is *Issuer) stampBytes(ctx context.Context, data []byte) ([]byte, error) {
	req, err := timestamp.CreateRequest(bytes.NewReader(data), &timestamp.RequestOptions{Hash: crypto.SHA256, Certificates: true})
	if err != nil {
		return nil, err
	}
	resp, err := is.tsa.Stamp(ctx, req)
	if err != nil {
		return nil, err
	}
	ts, err := timestamp.ParseResponse(resp)
	if err != nil {
		return nil, fmt.Errorf("the TSA's answer: %w", err)
	}
	return ts.RawToken, nil
}

// sesRecorder is what recording a seal signature needs of a transaction.
type sesRecorder interface {
	CreateCertificateSES(ctx context.Context, number string, version int, der []byte) error
}

// recordSES stores a draft's seal signature with its certificate version.
func recordSES(ctx context.Context, tx sesRecorder, d draft) error {
	if d.ses == nil {
		return nil
	}
	return tx.CreateCertificateSES(ctx, d.number, d.version, d.ses)
}
