// Package ses is the electronic seal and seal signature of GB/T 38540-2020
// (安全电子签章密码技术规范, SES version 4): their ASN.1 structures, making
// them with an SM2 crypto.Signer, and checking their signatures. Chains,
// validity windows and revocation are the caller's: this package knows
// nothing of certseal's CA or registry.
//
// The structures follow GB/T 38540-2020 §7 (v4) as two open implementations
// spell them: ofdrw's org.ofdrw.gm.ses.v4 classes (SES_Seal, SES_SealInfo,
// SES_ESPropertyInfo, TBS_Sign, SES_Signature; timeStamp as [0] EXPLICIT
// BIT STRING) and Chingliu/gm_0031_38540_verifier (38540.cpp: SESv4_* with
// GeneralizedTime dates and timeInfo). Signatures are SM2 with SM3
// (1.2.156.10197.1.501) over the DER of SES_SealInfo / TBS_Sign, with the
// default distinguishing ID 1234567812345678 (GM/T 0009-2012 §10), the
// signature value the DER SEQUENCE {r, s} in the BIT STRING.
package ses

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/asn1"
	"errors"
	"fmt"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/smx509"
)

// OIDSM2WithSM3 is the signature algorithm of every seal and signature here.
var OIDSM2WithSM3 = asn1.ObjectIdentifier{1, 2, 156, 10197, 1, 501}

// Fixed values of the v4 structures.
const (
	HeaderID     = "ES" // SES_Header.id
	Version      = 4    // SES_Header.version and TBS_Sign.version
	CertListType = 1    // certList holds the signer certificates themselves (2 would be their hashes)
)

// MaxDER bounds what Parse* reads: an imprint picture is the biggest part
// and certseal's are well under this.
const MaxDER = 4 << 20

// Header is SES_Header.
type Header struct {
	ID      string `asn1:"ia5"`
	Version int
	VID     string `asn1:"ia5"` // vendor id
}

// PropertyInfo is SES_ESPropertyInfo with certListType 1: certList is a
// SEQUENCE OF OCTET STRING, each a DER signer certificate.
type PropertyInfo struct {
	Type         int
	Name         string `asn1:"utf8"`
	CertListType int
	CertList     [][]byte
	CreateDate   time.Time `asn1:"generalized"`
	ValidStart   time.Time `asn1:"generalized"`
	ValidEnd     time.Time `asn1:"generalized"`
}

// PictureInfo is SES_ESPictureInfo: the imprint and its printed size in mm.
type PictureInfo struct {
	Type   string `asn1:"ia5"` // "png"
	Data   []byte
	Width  int
	Height int
}

// ExtData is one entry of ExtensionDatas.
type ExtData struct {
	ExtnID    asn1.ObjectIdentifier
	Critical  bool `asn1:"optional"`
	ExtnValue []byte
}

// SealInfo is SES_SealInfo, what the maker signs. Raw is its DER once
// parsed (encoding/asn1 then marshals it back unchanged).
type SealInfo struct {
	Raw      asn1.RawContent
	Header   Header
	ESID     string `asn1:"ia5"`
	Property PropertyInfo
	Picture  PictureInfo
	ExtDatas []ExtData `asn1:"optional,omitempty"`
}

// Seal is SES_Seal: the electronic seal, signed by its maker.
type Seal struct {
	Raw         asn1.RawContent
	Info        SealInfo
	Cert        []byte // the maker's certificate, DER
	SignAlgID   asn1.ObjectIdentifier
	SignedValue asn1.BitString
}

// TBSSign is TBS_Sign, what the signer signs.
type TBSSign struct {
	Raw          asn1.RawContent
	Version      int
	ESeal        Seal
	TimeInfo     time.Time `asn1:"generalized"`
	DataHash     asn1.BitString
	PropertyInfo string    `asn1:"ia5"`
	ExtDatas     []ExtData `asn1:"optional,omitempty"`
}

// Signature is SES_Signature.
type Signature struct {
	Raw            asn1.RawContent
	ToSign         TBSSign
	Cert           []byte // the signer's certificate, DER
	SignatureAlgID asn1.ObjectIdentifier
	Signature      asn1.BitString
	// TimeStamp is an RFC 3161 TimeStampToken (DER) over Signature's bytes.
	TimeStamp asn1.BitString `asn1:"optional,explicit,tag:0"`
}

// Errors of the checks, for callers that say which part failed.
var (
	ErrFormat    = errors.New("not a GB/T 38540 v4 structure")
	ErrSignature = errors.New("SM2 signature does not verify")
	ErrSigner    = errors.New("the signer certificate is not one the seal lists")
)

// SignerOpts makes an SM2 crypto.Signer compute Z_A with the default ID
// and SM3 over the message itself (GB/T 32918.2 §6.1): Sign is then given
// the message, not a digest. gmsm's smx509 signs certificates the same way,
// so a hardware signer that serves one serves the other.
func SignerOpts() crypto.SignerOpts { return sm2.NewSM2SignerOption(true, nil) }

func sm2Sign(key crypto.Signer, msg []byte) (asn1.BitString, error) {
	if !sm2.IsSM2PublicKey(key.Public()) {
		return asn1.BitString{}, fmt.Errorf("ses: the signing key is %T, not SM2", key.Public())
	}
	sig, err := key.Sign(rand.Reader, msg, SignerOpts())
	if err != nil {
		return asn1.BitString{}, fmt.Errorf("ses: SM2 sign: %w", err)
	}
	return asn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}, nil
}

func sm2Verify(certDER, msg []byte, alg asn1.ObjectIdentifier, sig asn1.BitString) (*smx509.Certificate, error) {
	if !alg.Equal(OIDSM2WithSM3) {
		return nil, fmt.Errorf("%w: algorithm %v, want SM2 with SM3 (%v)", ErrSignature, alg, OIDSM2WithSM3)
	}
	cert, err := smx509.ParseCertificate(certDER)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate: %v", ErrFormat, err)
	}
	pub, ok := cert.PublicKey.(*ecdsa.PublicKey)
	if !ok || !sm2.IsSM2PublicKey(pub) {
		return nil, fmt.Errorf("%w: the certificate's key is not SM2", ErrSignature)
	}
	if sig.BitLength%8 != 0 || !sm2.VerifyASN1WithSM2(pub, nil, msg, sig.Bytes) {
		return nil, ErrSignature
	}
	return cert, nil
}

// utcSeconds is how times are kept: DER GeneralizedTime is UTC ("Z"), and
// encoding/asn1 writes whole seconds, so a value round-trips only so.
func utcSeconds(t time.Time) time.Time { return t.UTC().Truncate(time.Second) }

// MakeSeal fills in the header and signs info as the maker, whose
// certificate makerCert (DER) certifies maker's public key.
func MakeSeal(info SealInfo, makerCert []byte, maker crypto.Signer) ([]byte, error) {
	info.Raw = nil
	info.Header.ID, info.Header.Version = HeaderID, Version
	info.Property.CertListType = CertListType
	p := &info.Property
	p.CreateDate, p.ValidStart, p.ValidEnd = utcSeconds(p.CreateDate), utcSeconds(p.ValidStart), utcSeconds(p.ValidEnd)
	if len(p.CertList) == 0 {
		return nil, errors.New("ses: a seal lists at least one signer certificate")
	}
	tbs, err := asn1.Marshal(info)
	if err != nil {
		return nil, fmt.Errorf("ses: seal info: %w", err)
	}
	info.Raw = tbs
	sig, err := sm2Sign(maker, tbs)
	if err != nil {
		return nil, err
	}
	return asn1.Marshal(Seal{Info: info, Cert: makerCert, SignAlgID: OIDSM2WithSM3, SignedValue: sig})
}

// ParseSeal reads a DER SES_Seal; trailing bytes and other versions are
// refused. It checks no signature: see VerifyMaker.
func ParseSeal(der []byte) (*Seal, error) {
	var s Seal
	if err := parseDER(der, &s); err != nil {
		return nil, err
	}
	if err := s.Info.check(); err != nil {
		return nil, err
	}
	return &s, nil
}

func (si *SealInfo) check() error {
	if si.Header.ID != HeaderID || si.Header.Version != Version {
		return fmt.Errorf("%w: header %q version %d, want %q version %d", ErrFormat, si.Header.ID, si.Header.Version, HeaderID, Version)
	}
	if si.Property.CertListType != CertListType {
		return fmt.Errorf("%w: certListType %d (only 1, certificates, is read)", ErrFormat, si.Property.CertListType)
	}
	return nil
}

// VerifyMaker checks the maker's SM2 signature over the seal info and
// returns the maker's certificate (whose chain is the caller's to check).
func (s *Seal) VerifyMaker() (*smx509.Certificate, error) {
	cert, err := sm2Verify(s.Cert, s.Info.Raw, s.SignAlgID, s.SignedValue)
	if err != nil {
		return nil, fmt.Errorf("seal %q, maker: %w", s.Info.ESID, err)
	}
	return cert, nil
}

// SignParams is what a seal signature says besides the seal.
type SignParams struct {
	Time     time.Time
	DataHash []byte // SM3 of the signed data
	Property string // IA5: what was signed
	// Stamp, if set, returns an RFC 3161 TimeStampToken over the signature
	// value; it goes into SES_Signature.timeStamp.
	Stamp func(signature []byte) ([]byte, error)
}

// Sign makes an SES_Signature with the seal sealDER (DER SES_Seal, as made)
// by key, whose certificate signerCert must be one the seal lists.
func Sign(sealDER, signerCert []byte, key crypto.Signer, p SignParams) ([]byte, error) {
	seal, err := ParseSeal(sealDER)
	if err != nil {
		return nil, err
	}
	if !seal.lists(signerCert) {
		return nil, ErrSigner
	}
	tbs := TBSSign{Version: Version, ESeal: *seal, TimeInfo: utcSeconds(p.Time),
		DataHash: asn1.BitString{Bytes: p.DataHash, BitLength: 8 * len(p.DataHash)}, PropertyInfo: p.Property}
	tbsDER, err := asn1.Marshal(tbs)
	if err != nil {
		return nil, fmt.Errorf("ses: TBS_Sign: %w", err)
	}
	tbs.Raw = tbsDER
	sig, err := sm2Sign(key, tbsDER)
	if err != nil {
		return nil, err
	}
	out := Signature{ToSign: tbs, Cert: signerCert, SignatureAlgID: OIDSM2WithSM3, Signature: sig}
	if p.Stamp != nil {
		token, err := p.Stamp(sig.Bytes)
		if err != nil {
			return nil, fmt.Errorf("ses: time-stamp: %w", err)
		}
		out.TimeStamp = asn1.BitString{Bytes: token, BitLength: 8 * len(token)}
	}
	return asn1.Marshal(out)
}

func (s *Seal) lists(cert []byte) bool {
	for _, c := range s.Info.Property.CertList {
		if string(c) == string(cert) {
			return true
		}
	}
	return false
}

// ParseSignature reads a DER SES_Signature (v4 only); it checks no
// signature: see Verify.
func ParseSignature(der []byte) (*Signature, error) {
	var s Signature
	if err := parseDER(der, &s); err != nil {
		return nil, err
	}
	if s.ToSign.Version != Version {
		return nil, fmt.Errorf("%w: TBS_Sign version %d, want %d", ErrFormat, s.ToSign.Version, Version)
	}
	if err := s.ToSign.ESeal.Info.check(); err != nil {
		return nil, err
	}
	if s.ToSign.DataHash.BitLength%8 != 0 || s.TimeStamp.BitLength%8 != 0 {
		return nil, fmt.Errorf("%w: dataHash and timeStamp are whole bytes", ErrFormat)
	}
	return &s, nil
}

// Verify checks what the structure itself can prove: the signer's SM2
// signature over TBS_Sign, that the seal lists the signer's certificate,
// and the maker's signature over the seal. It returns the signer's and the
// maker's certificates for the caller to check chains, validity and
// revocation, and dataHash against the data.
func (s *Signature) Verify() (signer, maker *smx509.Certificate, err error) {
	if signer, err = sm2Verify(s.Cert, s.ToSign.Raw, s.SignatureAlgID, s.Signature); err != nil {
		return nil, nil, fmt.Errorf("seal signature: %w", err)
	}
	if !s.ToSign.ESeal.lists(s.Cert) {
		return nil, nil, ErrSigner
	}
	if maker, err = s.ToSign.ESeal.VerifyMaker(); err != nil {
		return nil, nil, err
	}
	return signer, maker, nil
}

func parseDER(der []byte, v any) (err error) {
	if len(der) > MaxDER {
		return fmt.Errorf("%w: %d bytes, more than %d", ErrFormat, len(der), MaxDER)
	}
	rest, err := asn1.Unmarshal(der, v)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if len(rest) > 0 {
		return fmt.Errorf("%w: %d bytes after the structure", ErrFormat, len(rest))
	}
	return nil
}
