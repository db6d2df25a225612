package signer

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/digitorus/pdf"
	"github.com/digitorus/pdfsign/sign"

	"github.com/certseal/certseal/keys"
)

// AddDocumentTimestamp appends a document time-stamp (ETSI.RFC3161,
// ETSI EN 319 142-1, 5.4.3) and, if dss is set, a Document Security Store
// to a signed PDF as an incremental update: the bytes the seal signed stay
// as they are, first in the result. It is how certificates issued before
// signatures carried a time-stamp get a proof of time and revocation data
// for the archive, and how an archive renews its proofs before the TSA's
// certificate expires. The token must chain to trust.
func AddDocumentTimestamp(ctx context.Context, signed []byte, tsa Timestamper, dss *DSS, trust keys.TimestampTrust) ([]byte, error) {
	if tsa == nil {
		return nil, errors.New("signer: document time-stamp: no time-stamping authority")
	}
	rdr, err := pdf.NewReader(bytes.NewReader(signed), int64(len(signed)))
	if err != nil {
		return nil, fmt.Errorf("signer: document time-stamp: input is not a readable PDF: %w", err)
	}
	data := sign.SignData{
		Signature: sign.SignDataSignature{CertType: sign.TimeStampSignature},
		TSA: sign.TSA{ReserveBytes: tokenReserve(tsa), Stamp: func(req []byte) ([]byte, error) {
			return tsa.Stamp(ctx, req)
		}},
	}
	if dss != nil {
		data.DSS = &sign.DSS{Certs: dss.Certs, OCSPs: dss.OCSPs, CRLs: dss.CRLs}
	}
	out := &oneWrite{}
	if err := signWith(func() error { return sign.Sign(bytes.NewReader(signed), out, rdr, int64(len(signed)), data) }); err != nil {
		return nil, fmt.Errorf("signer: document time-stamp: %w", err)
	}
	if out.writes != 1 {
		return nil, errors.New("signer: document time-stamp: the token did not fit the space reserved for it")
	}
	stamped := out.buf.Bytes()
	if !bytes.HasPrefix(stamped, signed) {
		return nil, errors.New("signer: document time-stamp: the update changed the signed bytes")
	}
	if _, err := checkDocumentTimestamp(stamped, trust); err != nil {
		return nil, fmt.Errorf("signer: document time-stamp: self-check: %w", err)
	}
	return stamped, nil
}

// CheckDocumentTimestamp checks a PDF's last signature as a document
// time-stamp (as AddDocumentTimestamp writes it): it covers the whole file
// but itself, and its token verifies and chains to trust. It returns the
// proven time.
func CheckDocumentTimestamp(file []byte, trust keys.TimestampTrust) (keys.VerifiedTimestamp, error) {
	return checkDocumentTimestamp(file, trust)
}
