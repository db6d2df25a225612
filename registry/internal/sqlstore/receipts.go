package sqlstore

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"

	"github.com/certseal/certseal/registry"
)

// --- receipts, verification records, token rotations -----------------------

const receiptCols = `serial, number, version, holder_name, status, seal_version, unit, kind, verified_at, pdf_sha256, jws_sha256, request_id`

func scanReceipt(r Row) (registry.Receipt, error) {
	var rc registry.Receipt
	var at int64
	err := r.Scan(&rc.Serial, &rc.Number, &rc.Version, &rc.HolderName, &rc.Status, &rc.SealVersion, &rc.Unit, &rc.Kind, &at,
		&rc.PDFSHA256, &rc.JWSSHA256, &rc.RequestID)
	rc.VerifiedAt = fromMicros(at)
	return rc, err
}

func (t *Tx) CreateReceipt(ctx context.Context, r *registry.Receipt, pdf []byte, jws string) error {
	pdfSum, jwsSum := sha256.Sum256(pdf), sha256.Sum256([]byte(jws))
	r.PDFSHA256, r.JWSSHA256 = pdfSum[:], jwsSum[:]
	_, err := t.c.Exec(ctx, `INSERT INTO receipts (`+receiptCols+`, pdf, jws) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		r.Serial, r.Number, r.Version, r.HolderName, r.Status, r.SealVersion, r.Unit, r.Kind, micros(r.VerifiedAt),
		r.PDFSHA256, r.JWSSHA256, r.RequestID, pdf, jws)
	if err != nil {
		return t.duplicate(err, "receipt "+r.Serial)
	}
	return nil
}

func (t *Tx) Receipt(ctx context.Context, serial string) (registry.Receipt, error) {
	rc, err := scanReceipt(t.c.QueryRow(ctx, `SELECT `+receiptCols+` FROM receipts WHERE serial = $1`, serial))
	if err != nil {
		return rc, t.notFound(err, "receipt", serial)
	}
	return rc, nil
}

func (t *Tx) ReceiptByDigest(ctx context.Context, sum []byte) (registry.Receipt, error) {
	rc, err := scanReceipt(t.c.QueryRow(ctx, `SELECT `+receiptCols+` FROM receipts WHERE pdf_sha256 = $1 OR jws_sha256 = $1`, sum))
	if err != nil {
		return rc, t.notFound(err, "receipt with digest", fmt.Sprintf("%x", sum))
	}
	return rc, nil
}

func (t *Tx) ReceiptFiles(ctx context.Context, serial string) ([]byte, string, error) {
	var pdf []byte
	var jws string
	if err := t.c.QueryRow(ctx, `SELECT pdf, jws FROM receipts WHERE serial = $1`, serial).Scan(&pdf, &jws); err != nil {
		return nil, "", t.notFound(err, "receipt", serial)
	}
	return pdf, jws, nil
}

// verificationsPerInsert bounds one multi-row INSERT (5 values a row).
// Small on purpose: SQLite looks a numbered parameter up in a list as it
// parses, so a statement's parse grows with the square of its
// parameters (at 200 rows it was most of the writer's CPU).
const verificationsPerInsert = 25

func (t *Tx) AddVerifications(ctx context.Context, vs []registry.Verification) error {
	for len(vs) > 0 {
		n := min(len(vs), verificationsPerInsert)
		var sb strings.Builder
		args := make([]any, 0, 5*n)
		sb.WriteString(`INSERT INTO verifications (number, kind, outcome, at, client_hash) VALUES `)
		for i, v := range vs[:n] {
			if i > 0 {
				sb.WriteString(", ")
			}
			fmt.Fprintf(&sb, "($%d, $%d, $%d, $%d, $%d)", 5*i+1, 5*i+2, 5*i+3, 5*i+4, 5*i+5)
			args = append(args, v.Number, v.Kind, v.Outcome, micros(v.At), v.ClientHash)
		}
		if _, err := t.c.Exec(ctx, sb.String(), args...); err != nil {
			return fmt.Errorf("insert verifications: %w", err)
		}
		vs = vs[n:]
	}
	return nil
}

func (t *Tx) ListVerifications(ctx context.Context, number string, p registry.Page) ([]registry.Verification, error) {
	rows, err := t.c.Query(ctx, `SELECT id, number, kind, outcome, at, client_hash FROM verifications
		WHERE number = $1 AND id > $2 ORDER BY id LIMIT $3`, number, p.AfterID, limit(p.Limit))
	return collect(rows, err, func(r Row) (registry.Verification, error) {
		var v registry.Verification
		var at int64
		err := r.Scan(&v.ID, &v.Number, &v.Kind, &v.Outcome, &at, &v.ClientHash)
		v.At = fromMicros(at)
		return v, err
	})
}

func (t *Tx) RetireToken(ctx context.Context, r *registry.TokenRotation, replacement []byte) error {
	c, err := t.CertificateVersion(ctx, r.Number, r.Version)
	if err != nil {
		return err
	}
	r.OldTokenHash = c.TokenHash
	if _, err := t.c.Exec(ctx, `INSERT INTO token_rotations (number, version, new_version, old_token_hash, at, actor, request_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, r.Number, r.Version, r.NewVersion, r.OldTokenHash, micros(r.At), r.Actor, r.RequestID); err != nil {
		return t.duplicate(err, fmt.Sprintf("token rotation of %s version %d", r.Number, r.Version))
	}
	n, err := t.c.Exec(ctx, `UPDATE certificates SET token_hash = $1 WHERE number = $2 AND version = $3`, replacement, r.Number, r.Version)
	if err != nil {
		return fmt.Errorf("retire token of %s version %d: %w", r.Number, r.Version, err)
	}
	if n != 1 {
		return fmt.Errorf("retire token of %s version %d: %d rows changed", r.Number, r.Version, n)
	}
	return nil
}
