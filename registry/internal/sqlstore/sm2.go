package sqlstore

import (
	"context"
	"fmt"

	"github.com/certseal/certseal/registry"
)

// The 国密 twin's tables (migration 012): seal_sm2 and certificate_ses.

const sm2SealCols = `seal_id, key_blob, cert_der, serial, ses_seal, created_at`

func scanSM2Seal(r Row) (registry.SM2Seal, error) {
	var s registry.SM2Seal
	var created int64
	err := r.Scan(&s.SealID, &s.KeyBlob, &s.CertDER, &s.Serial, &s.SESSeal, &created)
	s.CreatedAt = fromMicros(created)
	return s, err
}

func (t *Tx) CreateSM2Seal(ctx context.Context, s *registry.SM2Seal) error {
	_, err := t.c.Exec(ctx, `INSERT INTO seal_sm2 (`+sm2SealCols+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		s.SealID, s.KeyBlob, s.CertDER, s.Serial, s.SESSeal, micros(s.CreatedAt))
	if err != nil {
		return t.duplicate(err, fmt.Sprintf("SM2 twin of seal %d", s.SealID))
	}
	return nil
}

func (t *Tx) SM2Seal(ctx context.Context, sealID int64) (registry.SM2Seal, error) {
	s, err := scanSM2Seal(t.c.QueryRow(ctx, `SELECT `+sm2SealCols+` FROM seal_sm2 WHERE seal_id = $1`, sealID))
	if err != nil {
		return s, t.notFound(err, "SM2 twin of seal", sealID)
	}
	return s, nil
}

func (t *Tx) SM2SealBySerial(ctx context.Context, serial string) (registry.SM2Seal, error) {
	s, err := scanSM2Seal(t.c.QueryRow(ctx, `SELECT `+sm2SealCols+` FROM seal_sm2 WHERE serial = $1`, serial))
	if err != nil {
		return s, t.notFound(err, "SM2 seal certificate with serial", serial)
	}
	return s, nil
}

func (t *Tx) CreateCertificateSES(ctx context.Context, number string, version int, der []byte) error {
	return t.c.Queue(ctx, func(n int64, err error) error {
		switch {
		case err != nil:
			return t.duplicate(err, fmt.Sprintf("seal signature of certificate %s version %d", number, version))
		case n == 0:
			return registry.Errf(registry.CodeNotFound, "certificate %s version %d not found", number, version)
		}
		return nil
	}, `INSERT INTO certificate_ses (certificate_id, ses) SELECT id, $3 FROM certificates WHERE number = $1 AND version = $2`, number, version, der)
}

func (t *Tx) CertificateSES(ctx context.Context, number string, version int) ([]byte, error) {
	var der []byte
	err := t.c.QueryRow(ctx, `SELECT s.ses FROM certificate_ses s JOIN certificates c ON c.id = s.certificate_id
		WHERE c.number = $1 AND c.version = $2`, number, version).Scan(&der)
	if err != nil {
		return nil, t.notFound(err, "seal signature of certificate", fmt.Sprintf("%s version %d", number, version))
	}
	return der, nil
}
