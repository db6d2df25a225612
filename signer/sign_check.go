package signer

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/digitorus/pdf"

	"github.com/certseal/certseal/internal/signedpdf"
	"github.com/certseal/certseal/keys"
)

// checkSigned reads a freshly signed PDF back and checks what a validator
// will check, so that a broken file is never recorded as issued:
//   - it parses, and its AcroForm's last signature field's value is the
//     signature dictionary checked below;
//   - the ByteRange covers the whole file except exactly the /Contents hex
//     string of that signature (ties the gap to the dictionary, so a
//     placeholder found in the wrong place is caught);
//   - the CMS inside is DER followed only by zero padding, signed by cert,
//     and its signature and message digest verify over the ByteRange;
//   - with stamped, it carries exactly one time-stamp token over its
//     signature value, from a TSA that chains to tsaTrust.
//
// The signature is read and verified by internal/signedpdf, as verify's
// verdict on an uploaded file does: one reader of PDF signatures.
func checkSigned(file []byte, cert *x509.Certificate, stamped bool, tsaTrust keys.TimestampTrust) error {
	sig, err := lastSignature(file)
	if err != nil {
		return err
	}
	cms, err := signedpdf.ParseSignedData(sig.CMS)
	if err != nil {
		return fmt.Errorf("signature is not CMS: %w", err)
	}
	if c := cms.SignerCert(); c == nil || !c.Equal(cert) {
		return errors.New("the signature is not by the seal certificate")
	}
	if err := cms.Verify(cert, sig.Signed); err != nil {
		return fmt.Errorf("signature does not verify: %w", err)
	}
	if !stamped {
		return nil
	}
	if cms.TimestampToken == nil {
		return errors.New("the signature carries no time-stamp token")
	}
	if _, err := keys.CheckTimestampToken(cms.TimestampToken, cms.Signature, tsaTrust); err != nil {
		return fmt.Errorf("time-stamp token: %w", err)
	}
	return nil
}

// checkDocumentTimestamp checks the file's last signature as a document
// time-stamp: a token over everything but itself, from a TSA chaining to
// trust.
func checkDocumentTimestamp(file []byte, trust keys.TimestampTrust) (keys.VerifiedTimestamp, error) {
	sig, err := lastSignature(file)
	if err != nil {
		return keys.VerifiedTimestamp{}, err
	}
	return keys.CheckTimestampToken(sig.CMS, sig.Content(), trust)
}

// lastSignature reads the file's last signature (the one an incremental
// update added last) with signedpdf, which checks that its ByteRange
// covers the whole file except exactly its /Contents hex string, and
// checks that it is the value of the AcroForm's last signature field, where
// validators look for it.
func lastSignature(file []byte) (signedpdf.Signature, error) {
	_, last, n := signedpdf.FindByteRanges(file)
	if n == 0 {
		return signedpdf.Signature{}, errors.New("no signature field (/ByteRange) in the file")
	}
	// Reading is in memory and bounded: nothing worth cancelling.
	sig, err := signedpdf.Read(context.Background(), file, last)
	if err != nil {
		return signedpdf.Signature{}, err
	}
	field, err := lastSignatureField(file)
	if err != nil {
		return signedpdf.Signature{}, err
	}
	if field != sig.ByteRange {
		return signedpdf.Signature{}, fmt.Errorf("the AcroForm's last signature field has ByteRange %v, not the last signature's %v", field, sig.ByteRange)
	}
	return sig, nil
}

// lastSignatureField parses the file and returns the ByteRange of the
// value of the AcroForm's last signature field.
func lastSignatureField(file []byte) (br [4]int64, err error) {
	// digitorus/pdf panics on some malformed input (a bad hex string); an
	// archived file is outside input.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("does not parse: %.200v", p)
		}
	}()
	rdr, err := pdf.NewReader(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		return br, fmt.Errorf("does not parse: %w", err)
	}
	fields := rdr.Trailer().Key("Root").Key("AcroForm").Key("Fields")
	var sig pdf.Value
	for i := 0; i < fields.Len(); i++ {
		if f := fields.Index(i); f.Key("FT").Name() == "Sig" {
			sig = f.Key("V")
		}
	}
	if sig.IsNull() {
		return br, errors.New("no signature field in the AcroForm")
	}
	v := sig.Key("ByteRange")
	if v.Len() != len(br) {
		return br, fmt.Errorf("the signature field's ByteRange has %d numbers, want 4", v.Len())
	}
	for i := range br {
		br[i] = v.Index(i).Int64()
	}
	return br, nil
}
