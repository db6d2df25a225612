package signedpdf

import (
	"bytes"
	"crypto"
	_ "crypto/sha256" // SHA-256 message digests
	_ "crypto/sha512" // SHA-384 and SHA-512 message digests
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Object identifiers certseal reads, in dotted form: compared with
// asn1.ObjectIdentifier.String.
const (
	oidSignedData           = "1.2.840.113549.1.7.2"
	oidData                 = "1.2.840.113549.1.7.1"
	oidContentType          = "1.2.840.113549.1.9.3"
	oidMessageDigest        = "1.2.840.113549.1.9.4"
	oidSigningTime          = "1.2.840.113549.1.9.5"
	oidSigningCertificateV2 = "1.2.840.113549.1.9.16.2.47"
	oidTimeStampToken       = "1.2.840.113549.1.9.16.2.14"
)

const malformedCMS = "malformed CMS"

// SignedData is the part of a CMS SignedData with one signer that a PDF
// signature check needs.
type SignedData struct {
	Certs       []*x509.Certificate // as the CMS carries them
	SigningTime time.Time           // the signingTime signed attribute, UTC
	Signature   []byte              // the signature value, which a time-stamp token covers
	// TimestampToken is the id-aa-timeStampToken unsigned attribute's
	// value (DER), if any (RFC 3161 appendix A).
	TimestampToken []byte

	// signer identifier: issuer and serial, or subject key identifier
	issuer []byte
	serial *big.Int
	ski    []byte

	digestAlg   asn1.ObjectIdentifier
	signedAttrs []byte // DER as signed: with the SET tag, not [0] (RFC 5652, 5.4)
	sigAlg      asn1.ObjectIdentifier

	messageDigest []byte
	essCertHash   []byte // from signingCertificateV2, if present
	essHash       crypto.Hash
}

// ParseSignedData parses a DER ContentInfo holding a detached SignedData
// with exactly one signer (Signature.CMS). Its errors are of kind
// ErrFormat.
func ParseSignedData(der []byte) (*SignedData, error) {
	s, err := parseSignedData(der)
	if err != nil {
		return nil, errorf(ErrFormat, "CMS signature: %v", err)
	}
	return s, nil
}

func parseSignedData(der []byte) (*SignedData, error) {
	in := cryptobyte.String(der)
	var ci, content, sd cryptobyte.String
	var ct asn1.ObjectIdentifier
	if !in.ReadASN1(&ci, cbasn1.SEQUENCE) {
		return nil, errors.New("not a DER-encoded ContentInfo")
	}
	if !in.Empty() {
		return nil, errors.New("data after the CMS")
	}
	if !ci.ReadASN1ObjectIdentifier(&ct) || ct.String() != oidSignedData {
		return nil, errors.New("content type is not signedData")
	}
	if !ci.ReadASN1(&content, cbasn1.Tag(0).Constructed().ContextSpecific()) || !ci.Empty() ||
		!content.ReadASN1(&sd, cbasn1.SEQUENCE) || !content.Empty() {
		return nil, errors.New(malformedCMS)
	}
	var version int64
	var digestAlgs, encap, rawCerts, signerInfos, si cryptobyte.String
	var eType asn1.ObjectIdentifier
	var hasCerts bool
	if !sd.ReadASN1Integer(&version) || !sd.ReadASN1(&digestAlgs, cbasn1.SET) ||
		!sd.ReadASN1(&encap, cbasn1.SEQUENCE) || !encap.ReadASN1ObjectIdentifier(&eType) ||
		!sd.ReadOptionalASN1(&rawCerts, &hasCerts, cbasn1.Tag(0).Constructed().ContextSpecific()) ||
		!sd.SkipOptionalASN1(cbasn1.Tag(1).Constructed().ContextSpecific()) || // CRLs
		!sd.ReadASN1(&signerInfos, cbasn1.SET) || !sd.Empty() {
		return nil, errors.New(malformedCMS)
	}
	if eType.String() != oidData {
		return nil, fmt.Errorf("signed content type %v is not data", eType)
	}
	if !encap.Empty() {
		return nil, errors.New("the signed content is embedded; a PDF signature must be detached")
	}
	s := &SignedData{}
	for !rawCerts.Empty() {
		var c cryptobyte.String
		if !rawCerts.ReadASN1Element(&c, cbasn1.SEQUENCE) {
			return nil, errors.New("a certificate choice other than an X.509 certificate")
		}
		if len(s.Certs) == maxCMSCerts {
			return nil, fmt.Errorf("more than %d certificates", maxCMSCerts)
		}
		cert, err := x509.ParseCertificate(c)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(s.Certs)+1, err)
		}
		s.Certs = append(s.Certs, cert)
	}
	if !signerInfos.ReadASN1(&si, cbasn1.SEQUENCE) {
		return nil, errors.New("no signer")
	}
	if !signerInfos.Empty() {
		return nil, errors.New("more than one signer")
	}
	return s, s.parseSignerInfo(si)
}

func (s *SignedData) parseSignerInfo(si cryptobyte.String) error {
	var version int64
	if !si.ReadASN1Integer(&version) {
		return errors.New(malformedCMS)
	}
	switch {
	case si.PeekASN1Tag(cbasn1.SEQUENCE):
		var ias, issuer cryptobyte.String
		s.serial = new(big.Int)
		if !si.ReadASN1(&ias, cbasn1.SEQUENCE) || !ias.ReadASN1Element(&issuer, cbasn1.SEQUENCE) ||
			!ias.ReadASN1Integer(s.serial) || !ias.Empty() {
			return errors.New("malformed signer identifier")
		}
		s.issuer = issuer
	case si.PeekASN1Tag(cbasn1.Tag(0).ContextSpecific()):
		if !si.ReadASN1Bytes(&s.ski, cbasn1.Tag(0).ContextSpecific()) {
			return errors.New("malformed signer identifier")
		}
	default:
		return errors.New("malformed signer identifier")
	}
	var digestAlg, sigAlg, attrs cryptobyte.String
	var hasAttrs bool
	if !si.ReadASN1(&digestAlg, cbasn1.SEQUENCE) || !digestAlg.ReadASN1ObjectIdentifier(&s.digestAlg) {
		return errors.New("malformed digest algorithm")
	}
	signedAttrsTag := cbasn1.Tag(0).Constructed().ContextSpecific()
	if si.PeekASN1Tag(signedAttrsTag) {
		var full cryptobyte.String
		if !si.ReadASN1Element(&full, signedAttrsTag) {
			return errors.New(malformedCMS)
		}
		s.signedAttrs = append([]byte{byte(cbasn1.SET)}, full[1:]...)
		hasAttrs = true
		if !full.ReadASN1(&attrs, signedAttrsTag) {
			return errors.New(malformedCMS)
		}
	}
	var unsigned cryptobyte.String
	var hasUnsigned bool
	if !si.ReadASN1(&sigAlg, cbasn1.SEQUENCE) || !sigAlg.ReadASN1ObjectIdentifier(&s.sigAlg) ||
		!si.ReadASN1Bytes(&s.Signature, cbasn1.OCTET_STRING) ||
		!si.ReadOptionalASN1(&unsigned, &hasUnsigned, cbasn1.Tag(1).Constructed().ContextSpecific()) || !si.Empty() {
		return errors.New("malformed signer info")
	}
	if !hasAttrs {
		return errors.New("no signed attributes")
	}
	if err := s.parseUnsignedAttrs(unsigned); err != nil {
		return err
	}
	return s.parseSignedAttrs(attrs)
}

// parseUnsignedAttrs keeps the one time-stamp token (RFC 3161 appendix A);
// other unsigned attributes are not certseal's and are ignored.
func (s *SignedData) parseUnsignedAttrs(attrs cryptobyte.String) error {
	for !attrs.Empty() {
		var attr, values, v cryptobyte.String
		var typ asn1.ObjectIdentifier
		if !attrs.ReadASN1(&attr, cbasn1.SEQUENCE) || !attr.ReadASN1ObjectIdentifier(&typ) ||
			!attr.ReadASN1(&values, cbasn1.SET) || !attr.Empty() {
			return errors.New("malformed unsigned attribute")
		}
		if typ.String() != oidTimeStampToken {
			continue
		}
		if s.TimestampToken != nil || !values.ReadASN1Element(&v, cbasn1.SEQUENCE) || !values.Empty() {
			return errors.New("more than one time-stamp token, or a malformed one")
		}
		s.TimestampToken = v
	}
	return nil
}

// parseSignedAttrs reads contentType, messageDigest, signingTime (all
// required: certseal's signatures have them) and signingCertificateV2.
func (s *SignedData) parseSignedAttrs(attrs cryptobyte.String) error {
	seen := map[string]bool{}
	var contentType asn1.ObjectIdentifier
	for !attrs.Empty() {
		var attr, values, v cryptobyte.String
		var typ asn1.ObjectIdentifier
		if !attrs.ReadASN1(&attr, cbasn1.SEQUENCE) || !attr.ReadASN1ObjectIdentifier(&typ) ||
			!attr.ReadASN1(&values, cbasn1.SET) || !attr.Empty() {
			return errors.New("malformed signed attribute")
		}
		if seen[typ.String()] {
			return fmt.Errorf("signed attribute %v appears twice", typ)
		}
		seen[typ.String()] = true
		var tag cbasn1.Tag
		switch typ.String() {
		case oidContentType, oidMessageDigest, oidSigningTime, oidSigningCertificateV2:
			if !values.ReadAnyASN1Element(&v, &tag) || !values.Empty() {
				return fmt.Errorf("signed attribute %v must have exactly one value", typ)
			}
		}
		ok := true
		switch typ.String() {
		case oidContentType:
			ok = v.ReadASN1ObjectIdentifier(&contentType)
		case oidMessageDigest:
			ok = v.ReadASN1Bytes(&s.messageDigest, cbasn1.OCTET_STRING)
		case oidSigningTime:
			if tag == cbasn1.UTCTime {
				ok = v.ReadASN1UTCTime(&s.SigningTime)
			} else {
				ok = v.ReadASN1GeneralizedTime(&s.SigningTime)
			}
		case oidSigningCertificateV2:
			ok = s.parseSigningCertificateV2(v)
		}
		if !ok {
			return fmt.Errorf("malformed signed attribute %v", typ)
		}
	}
	switch {
	case contentType == nil:
		return errors.New("no contentType signed attribute")
	case contentType.String() != oidData:
		return fmt.Errorf("contentType attribute %v is not data", contentType)
	case s.messageDigest == nil:
		return errors.New("no messageDigest signed attribute")
	case s.SigningTime.IsZero():
		return errors.New("no signingTime signed attribute")
	}
	s.SigningTime = s.SigningTime.UTC()
	return nil
}

// parseSigningCertificateV2 keeps the first ESSCertIDv2 (RFC 5035): the
// hash of the signer's certificate.
func (s *SignedData) parseSigningCertificateV2(v cryptobyte.String) bool {
	var scv2, ids, id cryptobyte.String
	if !v.ReadASN1(&scv2, cbasn1.SEQUENCE) || !scv2.ReadASN1(&ids, cbasn1.SEQUENCE) || !ids.ReadASN1(&id, cbasn1.SEQUENCE) {
		return false
	}
	s.essHash = crypto.SHA256 // the default hashAlgorithm
	if id.PeekASN1Tag(cbasn1.SEQUENCE) {
		var alg cryptobyte.String
		var oid asn1.ObjectIdentifier
		if !id.ReadASN1(&alg, cbasn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&oid) {
			return false
		}
		if s.essHash = digestHash(oid); s.essHash == 0 {
			return false
		}
	}
	return id.ReadASN1Bytes(&s.essCertHash, cbasn1.OCTET_STRING)
}

// SignerCert returns the signer's certificate from the CMS, or nil.
func (s *SignedData) SignerCert() *x509.Certificate {
	for _, c := range s.Certs {
		if s.serial != nil && bytes.Equal(c.RawIssuer, s.issuer) && c.SerialNumber.Cmp(s.serial) == 0 ||
			s.ski != nil && bytes.Equal(c.SubjectKeyId, s.ski) {
			return c
		}
	}
	return nil
}

// digestHash maps a digest algorithm to a hash certseal accepts; SHA-1 and
// anything else weak or unknown give 0.
func digestHash(oid asn1.ObjectIdentifier) crypto.Hash {
	switch oid.String() {
	case "2.16.840.1.101.3.4.2.1":
		return crypto.SHA256
	case "2.16.840.1.101.3.4.2.2":
		return crypto.SHA384
	case "2.16.840.1.101.3.4.2.3":
		return crypto.SHA512
	}
	return 0
}

// signatureAlgorithm maps the signer's signature algorithm and digest to
// an x509 algorithm: RSA PKCS #1 v1.5 or ECDSA. An algorithm that names
// its own hash must name the digest algorithm's.
func signatureAlgorithm(oid asn1.ObjectIdentifier, h crypto.Hash) x509.SignatureAlgorithm {
	ecdsa, implied := false, h // rsaEncryption and id-ecPublicKey take the digest's hash
	switch oid.String() {
	case "1.2.840.113549.1.1.1":
	case "1.2.840.113549.1.1.11":
		implied = crypto.SHA256
	case "1.2.840.113549.1.1.12":
		implied = crypto.SHA384
	case "1.2.840.113549.1.1.13":
		implied = crypto.SHA512
	case "1.2.840.10045.2.1":
		ecdsa = true
	case "1.2.840.10045.4.3.2":
		ecdsa, implied = true, crypto.SHA256
	case "1.2.840.10045.4.3.3":
		ecdsa, implied = true, crypto.SHA384
	case "1.2.840.10045.4.3.4":
		ecdsa, implied = true, crypto.SHA512
	default:
		return x509.UnknownSignatureAlgorithm
	}
	switch {
	case implied != h:
		return x509.UnknownSignatureAlgorithm
	case h == crypto.SHA256 && ecdsa:
		return x509.ECDSAWithSHA256
	case h == crypto.SHA384 && ecdsa:
		return x509.ECDSAWithSHA384
	case h == crypto.SHA512 && ecdsa:
		return x509.ECDSAWithSHA512
	case h == crypto.SHA256:
		return x509.SHA256WithRSA
	case h == crypto.SHA384:
		return x509.SHA384WithRSA
	case h == crypto.SHA512:
		return x509.SHA512WithRSA
	}
	return x509.UnknownSignatureAlgorithm
}

// Verify checks the message digest against the signed bytes, the
// signature value with cert (the signer's certificate: SignerCert, or one
// the caller expects), and the certificate hash the signer committed to,
// if any. It does not look at cert's validity or chain: that is trust, the
// caller's.
func (s *SignedData) Verify(cert *x509.Certificate, signed [2][]byte) error {
	h := digestHash(s.digestAlg)
	if h == 0 {
		return errorf(ErrAlgorithm, "digest algorithm %v is not accepted (SHA-256, SHA-384, SHA-512 are)", s.digestAlg)
	}
	d := h.New()
	d.Write(signed[0])
	d.Write(signed[1])
	if !bytes.Equal(d.Sum(nil), s.messageDigest) {
		return errorf(ErrDigest, "the signed bytes' %v digest differs from the signature's messageDigest", h)
	}
	alg := signatureAlgorithm(s.sigAlg, h)
	if alg == x509.UnknownSignatureAlgorithm {
		return errorf(ErrAlgorithm, "signature algorithm %v with %v is not supported", s.sigAlg, h)
	}
	if err := cert.CheckSignature(alg, s.signedAttrs, s.Signature); err != nil {
		return errorf(ErrSignature, "signature value: %v", err)
	}
	if s.essCertHash != nil {
		e := s.essHash.New()
		e.Write(cert.Raw)
		if !bytes.Equal(e.Sum(nil), s.essCertHash) {
			return errorf(ErrSignerCert, "the signingCertificateV2 attribute names another certificate than the one the CMS identifies")
		}
	}
	return nil
}
