package signer

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/digitorus/pdf"
	"github.com/digitorus/pkcs7"

	"github.com/certseal/certseal/keys"
)

// checkSigned reads a freshly signed PDF back and checks what a validator
// will check, so that a broken file is never recorded as issued:
//   - it parses, and its AcroForm holds a signature field whose value has
//     /ByteRange and /Contents;
//   - the ByteRange covers the whole file except exactly the /Contents hex
//     string of that signature (ties the gap to the dictionary, so a
//     placeholder found in the wrong place is caught);
//   - the CMS inside is DER followed only by zero padding, signed by cert,
//     and its signature and message digest verify over the ByteRange;
//   - with stamped, it carries exactly one time-stamp token over its
//     signature value, from a TSA that chains to tsaTrust.
func checkSigned(file []byte, cert *x509.Certificate, stamped bool, tsaTrust keys.TimestampTrust) error {
	content, der, err := lastSignature(file)
	if err != nil {
		return err
	}
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return fmt.Errorf("signature is not CMS: %w", err)
	}
	signer := p7.GetOnlySigner()
	if signer == nil || !signer.Equal(cert) {
		return errors.New("the signature is not by the seal certificate")
	}
	p7.Content = content
	if err := p7.Verify(); err != nil {
		return fmt.Errorf("signature does not verify: %w", err)
	}
	if !stamped {
		return nil
	}
	var token []byte
	for _, a := range p7.Signers[0].UnauthenticatedAttributes {
		if a.Type.Equal(oidTimeStampToken) {
			if token != nil {
				return errors.New("the signature carries more than one time-stamp token attribute")
			}
			token = a.Value.Bytes // the SET's one value
		}
	}
	if token == nil {
		return errors.New("the signature carries no time-stamp token")
	}
	if _, err := keys.CheckTimestampToken(token, p7.Signers[0].EncryptedDigest, tsaTrust); err != nil {
		return fmt.Errorf("time-stamp token: %w", err)
	}
	return nil
}

// checkDocumentTimestamp checks the file's last signature as a document
// time-stamp: a token over everything but itself, from a TSA chaining to
// trust.
func checkDocumentTimestamp(file []byte, trust keys.TimestampTrust) (keys.VerifiedTimestamp, error) {
	content, token, err := lastSignature(file)
	if err != nil {
		return keys.VerifiedTimestamp{}, err
	}
	return keys.CheckTimestampToken(token, content, trust)
}

// lastSignature finds the file's last signature field (the one an
// incremental update added last) and checks that its ByteRange covers the
// whole file except exactly its /Contents hex string; it returns the
// covered bytes and the DER in /Contents, without pdfsign's zero padding.
func lastSignature(file []byte) (content, der []byte, err error) {
	// digitorus/pdf panics on some malformed input (a bad hex string); an
	// archived file is outside input.
	defer func() {
		if p := recover(); p != nil {
			content, der, err = nil, nil, fmt.Errorf("does not parse: %.200v", p)
		}
	}()
	rdr, err := pdf.NewReader(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		return nil, nil, fmt.Errorf("does not parse: %w", err)
	}
	fields := rdr.Trailer().Key("Root").Key("AcroForm").Key("Fields")
	var sig pdf.Value
	for i := 0; i < fields.Len(); i++ {
		if f := fields.Index(i); f.Key("FT").Name() == "Sig" {
			sig = f.Key("V")
		}
	}
	if sig.IsNull() {
		return nil, nil, errors.New("no signature field in the AcroForm")
	}
	brv := sig.Key("ByteRange")
	if brv.Len() != 4 {
		return nil, nil, fmt.Errorf("ByteRange has %d numbers, want 4", brv.Len())
	}
	var br [4]int64
	for i := range br {
		br[i] = brv.Index(i).Int64()
	}
	n := int64(len(file))
	if br[0] != 0 || br[1] <= 0 || br[2] <= br[1]+1 || br[3] < 0 || br[2]+br[3] != n {
		return nil, nil, fmt.Errorf("ByteRange %v does not cover the file of %d bytes", br, n)
	}
	gap := file[br[1]:br[2]]
	if gap[0] != '<' || gap[len(gap)-1] != '>' {
		return nil, nil, fmt.Errorf("ByteRange %v: the excluded bytes are not a hex string", br)
	}
	if !bytes.HasSuffix(bytes.TrimRight(file[:br[1]], " \r\n\t"), []byte("/Contents")) {
		return nil, nil, fmt.Errorf("ByteRange %v: the excluded bytes are not the value of /Contents", br)
	}
	contents := sig.Key("Contents").RawString()
	raw, err := hex.DecodeString(string(gap[1 : len(gap)-1]))
	if err != nil || !bytes.Equal(raw, []byte(contents)) {
		return nil, nil, fmt.Errorf("ByteRange %v: the excluded bytes are not this signature's /Contents", br)
	}
	var value asn1.RawValue
	rest, err := asn1.Unmarshal(raw, &value)
	if err != nil {
		return nil, nil, fmt.Errorf("signature is not DER: %w", err)
	}
	if len(bytes.Trim(rest, "\x00")) != 0 {
		return nil, nil, errors.New("signature is followed by data other than zero padding")
	}
	content = make([]byte, 0, br[1]+br[3])
	content = append(content, file[:br[1]]...)
	content = append(content, file[br[2]:]...)
	return content, value.FullBytes, nil
}

// oidTimeStampToken is id-aa-timeStampToken (RFC 3161, appendix A).
var oidTimeStampToken = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 14}
