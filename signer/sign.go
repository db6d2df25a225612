package signer

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/digitorus/pdf"
	"github.com/digitorus/pdfsign/sign"

	"github.com/certseal/certseal/keys"
)

// Timestamper answers RFC 3161 time-stamp requests, DER in and out:
// keys.TSA in process, keys.TSAClient for an outside authority.
type Timestamper interface {
	Stamp(ctx context.Context, request []byte) ([]byte, error)
}

// DSS is the revocation data written into the signed revision's Document
// Security Store (DER each), so a validator needs no network: the chain
// and the TSA's certificate, OCSP responses on both, CRLs where known.
type DSS struct {
	Certs, OCSPs, CRLs [][]byte
}

// tokenReserve is the space kept for a time-stamp token: certseal's own
// are about 1.5 KB with the TSA and issuing CA certificates. An outside
// TSA's, with an RSA chain, can take 6-8 KB, so it gets more.
func tokenReserve(tsa Timestamper) int {
	if _, own := tsa.(*keys.TSA); own {
		return 6000
	}
	return 16 << 10
}

// SealSigning is what one signature with a seal needs.
type SealSigning struct {
	// Signer is the seal's private key, used only through crypto.Signer (a
	// key manager or an HSM may stand behind it). ECDSA or RSA.
	Signer crypto.Signer
	// Certificate is the seal's X.509 certificate; Chain its issuers,
	// issuing CA first (the root may be left out). All go into the
	// signature so validators can build the path to the platform CA.
	Certificate *x509.Certificate
	Chain       []*x509.Certificate
	// Time is the signing time written to the signature dictionary (/M).
	// The CMS signingTime attribute is the clock when the signature is
	// made (pdfsign sets it); pass time.Now().
	Time time.Time
	// Appearance is the prepared seal imprint (PrepareAppearance), reused
	// for every signature of one seal version.
	Appearance *Appearance
	// Rect is where the imprint goes on page 1 (Template.SealRect()). The
	// imprint is fitted inside, keeping its aspect ratio.
	Rect Rect
	// USCC is the unit's unified social credit code; with SealVersion it
	// makes the signature's /Name and /Reason. Both are ASCII on purpose:
	// pdfsign at the pinned version writes non-ASCII text strings unescaped
	// and can corrupt the file.
	USCC        string
	SealVersion int
	// Timestamper, when set, stamps the signature value: the token goes
	// into the CMS as the unsigned attribute id-aa-timeStampToken (RFC
	// 3161 appendix A), and the self-check holds its TSA to
	// TimestampTrust.
	Timestamper    Timestamper
	TimestampTrust keys.TimestampTrust
	// DSS, when set, is written in the revision the signature covers.
	DSS *DSS

	issued *issuedPairs // an Issuer's memo of the chain checks (nil: none)
}

// Signed is a signed certificate PDF.
type Signed struct {
	PDF    []byte
	SHA256 [32]byte // of PDF, recorded with the certificate version
}

var usccPattern = regexp.MustCompile(`^[0-9A-Z]{18}$`)

// Sign adds a visible approval signature with the seal to page 1 of an
// unsigned PDF (as Render makes it), then checks the result (see
// checkSigned) before returning it.
//
// It is an approval signature, not a certification (DocMDP) signature: at
// the pinned pdfsign version certification signatures lack the /Perms
// entry validators look for, and pdfsign refuses a visible appearance on
// them ("visible signatures are only allowed for approval signatures").
func Sign(ctx context.Context, unsigned []byte, s SealSigning) (Signed, error) {
	if err := s.check(); err != nil {
		return Signed{}, err
	}
	rect := s.Appearance.rect(s.Rect)
	return signDocument(ctx, unsigned, docSigning{
		signer: s.Signer, cert: s.Certificate, chain: s.Chain, time: s.Time,
		name:   fmt.Sprintf("Seal NTRCN-%s v%d", s.USCC, s.SealVersion),
		reason: "Certificate issued by " + s.USCC,
		appearance: sign.Appearance{Visible: true, Page: 1, LowerLeftX: rect.LLX, LowerLeftY: rect.LLY,
			UpperRightX: rect.URX, UpperRightY: rect.URY, Prepared: s.Appearance.prepared},
		tsa: s.Timestamper, tsaTrust: s.TimestampTrust, dss: s.DSS,
	})
}

// docSigning is one approval signature: by a seal (Sign) or by the
// platform's document signer (SignPlatform).
type docSigning struct {
	signer       crypto.Signer
	cert         *x509.Certificate
	chain        []*x509.Certificate // issuers of cert, issuing CA first
	time         time.Time
	name, reason string // ASCII: see SealSigning.USCC
	appearance   sign.Appearance
	tsa          Timestamper
	tsaTrust     keys.TimestampTrust
	dss          *DSS
}

// signDocument signs and self-checks (checkSigned) an unsigned PDF.
func signDocument(ctx context.Context, unsigned []byte, d docSigning) (Signed, error) {
	rdr, err := pdf.NewReader(bytes.NewReader(unsigned), int64(len(unsigned)))
	if err != nil {
		return Signed{}, fmt.Errorf("signer: sign: input is not a readable PDF: %w", err)
	}
	reserve, err := signatureReserve(d.signer.Public())
	if err != nil {
		return Signed{}, err
	}
	out := &oneWrite{}
	sc := sign.SignContext{
		PDFReader:  rdr,
		InputFile:  bytes.NewReader(unsigned),
		OutputFile: out,
		SignData: sign.SignData{
			Signature: sign.SignDataSignature{
				CertType: sign.ApprovalSignature,
				Info:     sign.SignDataSignatureInfo{Name: d.name, Reason: d.reason, Date: d.time},
			},
			Signer:            d.signer,
			DigestAlgorithm:   crypto.SHA256,
			Certificate:       d.cert,
			CertificateChains: [][]*x509.Certificate{append([]*x509.Certificate{d.cert}, d.chain...)},
			Appearance:        d.appearance,
		},
		SignatureMaxLengthBase: uint32(hex.EncodedLen(reserve)),
	}
	if d.tsa != nil {
		sc.SignData.TSA = sign.TSA{ReserveBytes: tokenReserve(d.tsa), Stamp: func(req []byte) ([]byte, error) {
			return d.tsa.Stamp(ctx, req)
		}}
	}
	if d.dss != nil {
		sc.SignData.DSS = &sign.DSS{Certs: d.dss.Certs, OCSPs: d.dss.OCSPs, CRLs: d.dss.CRLs}
	}
	if err := signPDF(&sc); err != nil {
		return Signed{}, fmt.Errorf("signer: sign: %w", err)
	}
	if out.writes != 1 {
		// pdfsign's "signature too long" retry writes the file twice.
		return Signed{}, errors.New("signer: sign: the signature did not fit the space reserved for it")
	}
	signed := out.buf.Bytes()
	if err := checkSigned(signed, d.cert, d.tsa != nil, d.tsaTrust); err != nil {
		return Signed{}, fmt.Errorf("signer: sign: self-check of the signed PDF failed: %w", err)
	}
	return Signed{PDF: signed, SHA256: sha256.Sum256(signed)}, nil
}

func (s SealSigning) check() error {
	switch {
	case s.Signer == nil:
		return errors.New("signer: sign: no signer")
	case s.Certificate == nil:
		return errors.New("signer: sign: no seal certificate")
	case s.Appearance == nil:
		return errors.New("signer: sign: no seal appearance (PrepareAppearance)")
	case s.Time.IsZero():
		return errors.New("signer: sign: no signing time")
	case !usccPattern.MatchString(s.USCC):
		return fmt.Errorf("signer: sign: USCC %q is not 18 characters 0-9 A-Z", s.USCC)
	case s.SealVersion < 1:
		return fmt.Errorf("signer: sign: seal version %d", s.SealVersion)
	case !(s.Rect.URX-s.Rect.LLX >= 1 && s.Rect.URY-s.Rect.LLY >= 1):
		return fmt.Errorf("signer: sign: seal rectangle %+v is empty", s.Rect)
	}
	pub, ok := s.Signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(s.Certificate.PublicKey) {
		return errors.New("signer: sign: the signer's key is not the seal certificate's key")
	}
	c := s.Certificate
	if c.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return errors.New("signer: sign: the seal certificate lacks key usage digitalSignature")
	}
	if s.Time.Before(c.NotBefore) || s.Time.After(c.NotAfter) {
		return fmt.Errorf("signer: sign: signing time %s is outside the seal certificate's validity %s to %s",
			s.Time.UTC().Format(time.RFC3339), c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339))
	}
	issued := c
	for i, p := range s.Chain {
		if err := s.issued.check(issued, p); err != nil {
			return fmt.Errorf("signer: sign: chain[%d] did not issue the certificate before it: %w", i, err)
		}
		issued = p
	}
	return nil
}

// issuedPairs holds the certificate pairs (SHA-256 of each) whose
// signature checked: a seal's chain is checked before every signature it
// makes, a batch's thousands with the same few certificates, and a pair's
// answer never changes. An Issuer's holds the chains of the seal versions
// it signs with.
type issuedPairs struct{ checked sync.Map }

// check is c.CheckSignatureFrom(parent), once per pair (every time
// without a memo).
func (p *issuedPairs) check(c, parent *x509.Certificate) error {
	if p == nil {
		return c.CheckSignatureFrom(parent)
	}
	key := [2][sha256.Size]byte{sha256.Sum256(c.Raw), sha256.Sum256(parent.Raw)}
	if _, ok := p.checked.Load(key); ok {
		return nil
	}
	if err := c.CheckSignatureFrom(parent); err != nil {
		return err
	}
	p.checked.Store(key, true)
	return nil
}

// signatureReserve is the base space (bytes, before hex) to reserve for
// the CMS signature beyond what pdfsign adds itself (the certificates, the
// issuer name, two digests). pdfsign's own base of 512 bytes does not
// count the signature value at all for the common algorithms (its switch
// has empty cases), so an RSA-2048 or -4096 signature with its signed
// attributes can overflow it; pdfsign then "retries" by writing the file a
// second time. 1024 bytes cover the signed attributes and the ASN.1
// framing with room to spare.
func signatureReserve(pub crypto.PublicKey) (int, error) {
	const framing = 1024
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		n := (k.Curve.Params().BitSize + 7) / 8
		return framing + 2*(n+3) + 2, nil // DER SEQUENCE of two INTEGERs
	case *rsa.PublicKey:
		return framing + k.Size(), nil
	}
	return 0, fmt.Errorf("signer: sign: seal key type %T is not supported (ECDSA or RSA)", pub)
}

// signPDF runs pdfsign on a prepared context (see signWith).
func signPDF(ctx *sign.SignContext) error { return signWith(ctx.SignPDF) }

// signWith runs a pdfsign call, turning its panics into errors: when a
// signature overflows the reserved space, the pinned version's retry
// panics on a malformed hex string (seen with an RSA-4096 seal and its own
// sizing).
func signWith(run func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("pdfsign failed: %.200v", p)
		}
	}()
	return run()
}

// oneWrite is the output of pdfsign: a buffer that counts writes, because
// pdfsign's overflow retry shows up as a second write.
type oneWrite struct {
	buf    bytes.Buffer
	writes int
}

func (w *oneWrite) Write(p []byte) (int, error) {
	w.writes++
	return w.buf.Write(p)
}
