package verify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/certseal/certseal/internal/signedpdf"
	"github.com/certseal/certseal/keys"
)

// This file is certseal's own verdict on an uploaded PDF, on what
// internal/signedpdf reads from it (the same reader signer's self-check
// uses). It does not use pdfsign's verifier: at the pinned version that one
// trusts any chain to a system root, takes no custom root, misses content
// added after signing and drops an unparseable signature silently.

// Sub-indications say why a PDF check did not pass (the indications are
// Passed, Failed, Indeterminate). The codes are stable: the API and the
// pages show them. Most are ETSI EN 319 102-1 words; the ones
// that are not say something ETSI leaves to the PDF layer.
//
// certseal departs from ETSI in one place on purpose: a seal certificate
// that does not chain to the platform CA is "failed", not "indeterminate".
// A general validator cannot know every trust anchor; certseal knows the
// only one that issues seals, so such a file is certainly not one it issued.
const (
	// With Failed: the file is certainly not as certseal issued it.
	SubFormatFailure      = "FORMAT_FAILURE"
	SubHashFailure        = "HASH_FAILURE"
	SubSigCryptoFailure   = "SIG_CRYPTO_FAILURE"
	SubNotFullyCovered    = "NOT_FULLY_COVERED" // bytes outside the signed range
	SubNoSignature        = "NO_SIGNATURE"
	SubMultipleSignatures = "MULTIPLE_SIGNATURES"
	SubNoCertificateChain = "NO_CERTIFICATE_CHAIN_FOUND"
	SubChainConstraints   = "CHAIN_CONSTRAINTS_FAILURE"
	SubExpired            = "EXPIRED"
	SubNotYetValid        = "NOT_YET_VALID"

	// With Indeterminate: certseal cannot tell.
	SubNoSigningCert       = "NO_SIGNING_CERTIFICATE_FOUND"
	SubCryptoConstraints   = "CRYPTO_CONSTRAINTS_FAILURE"
	SubChainGeneralFailure = "CERTIFICATE_CHAIN_GENERAL_FAILURE" // no trust anchor configured
	SubTooLarge            = "TOO_LARGE"                         // not looked at
	SubTimeout             = "TIMEOUT"                           // ctx ended first
)

// What a signature's time-stamp token proved.
const (
	TimestampNone    = "none"    // no token: the signature proves no time (certificates before long-term validation)
	TimestampValid   = "valid"   // the token verifies: the signature existed at PDFResult.Timestamp
	TimestampInvalid = "invalid" // a token that does not verify: it proves nothing
)

// tokenClockSkew is how much later than its token a signature may claim
// to be signed: the TSA's accuracy and clocks a little apart.
const tokenClockSkew = time.Minute

// DefaultMaxPDFBytes bounds the uploaded file when PDFTrust.MaxBytes is 0.
// A certificate PDF is one page with a subset font and a photo: far less.
const DefaultMaxPDFBytes = 10 << 20

// pdfHeaderLimit is how far into the file %PDF- must appear.
const pdfHeaderLimit = 1024

// oidDocumentSigning is the extended key usage of RFC 9336.
const oidDocumentSigning = "1.3.6.1.5.5.7.3.36"

// PDFTrust is what an uploaded PDF's seal must chain to: the platform CA
// only, never the system roots.
type PDFTrust struct {
	Root    *x509.Certificate
	Issuing []*x509.Certificate
	// Timestamps is what a signature's time-stamp token must chain to
	// besides Root (certseal's own TSA chains there): an outside TSA's root.
	Timestamps keys.TimestampTrust
	// ReceiptSigner is the platform's document signer: a file it signed
	// is a verification receipt, not a certificate.
	ReceiptSigner *x509.Certificate
	// MaxBytes is the largest file checked; 0 means DefaultMaxPDFBytes.
	MaxBytes int
}

// PDFResult is the verdict on one uploaded PDF and what was read from it.
//
// The facts are filled as far as checking got, also when the verdict is not
// Passed: then they are what the file claims, not what it proves.
type PDFResult struct {
	Indication    string // Passed, Failed or Indeterminate
	SubIndication string // one of the Sub... codes; empty when Passed
	Message       string // for people: Chinese, then English
	Detail        string // what exactly was wrong, in English, for logs and the command line

	SHA256      [32]byte // of the whole file; zero when it was not read (too large, cancelled)
	Signatures  int      // signature dictionaries (/ByteRange) in the file
	Seal        *x509.Certificate
	SealSerial  string    // lower-case hex without leading zeros, as registry.Seal.Serial
	SealSubject string    // RFC 2253 form of the seal certificate's subject
	SigningTime time.Time // the CMS signingTime attribute, UTC
	// Timestamp is the signature's proof of time: the time of its
	// time-stamp token (RFC 3161) over the signature value, when
	// TimestampStatus is TimestampValid; zero otherwise.
	Timestamp       time.Time
	TimestampStatus string // TimestampNone, TimestampValid or TimestampInvalid
	TimestampDetail string // why a token did not verify
	// Number is the certificate number. It is not inside the signature:
	// CheckPDF leaves it empty and the caller fills it from the lookup of
	// SHA256 among registered certificate versions.
	Number string
}

// CheckPDF checks an uploaded PDF: exactly one signature, whose byte range
// covers the whole file but the signature itself; a detached CMS signature
// whose message digest matches the signed bytes and whose signature value
// verifies with the seal certificate; and that certificate, at the signing
// time, chaining to trust.Root through trust.Issuing (or certificates in the
// CMS that themselves chain there) with a key usage fit for signing
// documents. Revocation and the registry lookups are the caller's, with the
// facts returned.
//
// It is a pure function of its inputs; it never panics on any input and
// gives up with Indeterminate/TIMEOUT when ctx ends.
func CheckPDF(ctx context.Context, pdf []byte, trust PDFTrust) PDFResult {
	var res PDFResult
	err := checkPDF(ctx, pdf, trust, &res)
	var v *verdictError
	switch {
	case err == nil:
		res.Indication = Passed
	case errors.As(err, &v):
		res.Indication, res.SubIndication, res.Detail = v.indication, v.sub, v.detail
	default: // only ctx errors are not verdicts
		res.Indication, res.SubIndication, res.Detail = Indeterminate, SubTimeout, err.Error()
	}
	res.Message = pdfMessage(res.SubIndication)
	return res
}

// verdictError ends checking with a verdict other than Passed.
type verdictError struct {
	indication string
	sub        string
	detail     string
}

func (e *verdictError) Error() string { return e.sub + ": " + e.detail }

func failed(sub, format string, args ...any) error {
	return &verdictError{Failed, sub, fmt.Sprintf(format, args...)}
}

func indeterminate(sub, format string, args ...any) error {
	return &verdictError{Indeterminate, sub, fmt.Sprintf(format, args...)}
}

func checkPDF(ctx context.Context, pdf []byte, trust PDFTrust, res *PDFResult) error {
	limit := trust.MaxBytes
	if limit <= 0 {
		limit = DefaultMaxPDFBytes
	}
	if len(pdf) > limit {
		return indeterminate(SubTooLarge, "the file has %d bytes, more than the limit of %d", len(pdf), limit)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	res.SHA256 = sha256.Sum256(pdf)
	if !bytes.Contains(pdf[:min(len(pdf), pdfHeaderLimit)], []byte("%PDF-")) {
		return failed(SubFormatFailure, "not a PDF: no %%PDF- header in the first %d bytes", pdfHeaderLimit)
	}

	at, _, n := signedpdf.FindByteRanges(pdf)
	res.Signatures = n
	switch {
	case n == 0:
		return failed(SubNoSignature, "no signature dictionary (/ByteRange) in the file")
	case n > 1:
		// certseal signs each file once; any further signature is an
		// incremental update made after issue, so the file is not as issued.
		return failed(SubMultipleSignatures, "%d signature dictionaries; certseal issues each file with exactly one", n)
	}
	dict, err := signedpdf.ReadDict(ctx, pdf, at)
	if err != nil {
		return readVerdict(err)
	}
	switch {
	case dict.Type != "" && dict.Type != "Sig":
		return failed(SubFormatFailure, "signature dictionary of /Type /%s (certseal signs with /Type /Sig)", dict.Type)
	case dict.SubFilter != "adbe.pkcs7.detached" && dict.SubFilter != "ETSI.CAdES.detached":
		return failed(SubFormatFailure, "signature /SubFilter /%s is not supported (certseal signs adbe.pkcs7.detached)", dict.SubFilter)
	}
	sig, err := dict.Signature(pdf)
	if err != nil {
		return readVerdict(err)
	}
	cms, err := signedpdf.ParseSignedData(sig.CMS)
	if err != nil {
		return readVerdict(err)
	}
	seal := cms.SignerCert()
	if seal == nil {
		return indeterminate(SubNoSigningCert, "the CMS does not carry the signer's certificate")
	}
	res.Seal = seal
	res.SealSerial = seal.SerialNumber.Text(16) // the spelling of keys.SerialHex
	res.SealSubject = seal.Subject.String()
	res.SigningTime = cms.SigningTime
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := cms.Verify(seal, sig.Signed); err != nil {
		return readVerdict(err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// The seal certificate is judged at the proven time when there is one:
	// that is what keeps a signature valid after its certificate expires.
	judgedAt := cms.SigningTime
	if checkTimestamp(cms, trust, res) {
		judgedAt = res.Timestamp
	}
	return verifySeal(seal, cms.Certs, trust, judgedAt)
}

// readVerdict is the verdict on what signedpdf found wrong; ctx errors
// pass through.
func readVerdict(err error) error {
	var e *signedpdf.Error
	if !errors.As(err, &e) {
		return err
	}
	switch e.Kind {
	case signedpdf.ErrNotCovered:
		return failed(SubNotFullyCovered, "%s", e.Detail)
	case signedpdf.ErrDigest:
		return failed(SubHashFailure, "%s", e.Detail)
	case signedpdf.ErrSignature:
		return failed(SubSigCryptoFailure, "%s", e.Detail)
	case signedpdf.ErrAlgorithm:
		return indeterminate(SubCryptoConstraints, "%s", e.Detail)
	case signedpdf.ErrSignerCert:
		return indeterminate(SubNoSigningCert, "%s", e.Detail)
	}
	return failed(SubFormatFailure, "%s", e.Detail)
}

// checkTimestamp checks the signature's time-stamp token, if any, over its
// signature value and fills res; it reports whether the token proves a
// time. A token is never a reason to reject a signature that verifies:
// what a missing or bad proof of time costs is the caller's rule.
func checkTimestamp(cms *signedpdf.SignedData, trust PDFTrust, res *PDFResult) bool {
	if cms.TimestampToken == nil {
		res.TimestampStatus = TimestampNone
		return false
	}
	tt := keys.TimestampTrust{
		Roots:         append([]*x509.Certificate{trust.Root}, trust.Timestamps.Roots...),
		Intermediates: append(slices.Clone(trust.Issuing), trust.Timestamps.Intermediates...),
		Chains:        trust.Timestamps.Chains,
	}
	ts, err := keys.CheckTimestampToken(cms.TimestampToken, cms.Signature, tt)
	if err == nil && cms.SigningTime.After(ts.Time.Add(tokenClockSkew)) {
		err = fmt.Errorf("the signature claims to be signed at %s, after its time-stamp of %s",
			cms.SigningTime.Format(time.RFC3339), ts.Time.Format(time.RFC3339))
	}
	if err != nil {
		res.TimestampStatus, res.TimestampDetail = TimestampInvalid, err.Error()
		return false
	}
	res.TimestampStatus, res.Timestamp = TimestampValid, ts.Time
	return true
}

// verifySeal checks the seal certificate at the signing time: valid then,
// fit for signing documents, and chaining to trust.Root through
// trust.Issuing, or through certificates from the CMS, which can only help
// when they themselves chain to trust.Root.
func verifySeal(seal *x509.Certificate, shipped []*x509.Certificate, trust PDFTrust, at time.Time) error {
	switch {
	case at.Before(seal.NotBefore):
		return failed(SubNotYetValid, "signed at %s, before the seal certificate's validity starts at %s",
			at.Format(time.RFC3339), seal.NotBefore.UTC().Format(time.RFC3339))
	case at.After(seal.NotAfter):
		return failed(SubExpired, "signed at %s, after the seal certificate expired at %s",
			at.Format(time.RFC3339), seal.NotAfter.UTC().Format(time.RFC3339))
	}
	if err := sealUsage(seal); err != nil {
		return err
	}
	if trust.Root == nil {
		return indeterminate(SubChainGeneralFailure, "no platform root certificate configured")
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(trust.Root)
	for _, c := range slices.Concat(trust.Issuing, shipped) {
		if c != nil {
			inter.AddCert(c)
		}
	}
	_, err := seal.Verify(x509.VerifyOptions{
		Roots:         roots, // never the system roots
		Intermediates: inter,
		CurrentTime:   at,
		// Go does not know documentSigning; sealUsage checks the EKU.
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &unknown):
		return failed(SubNoCertificateChain, "the seal certificate (issuer %s) does not chain to the platform CA", seal.Issuer)
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return failed(SubExpired, "at the signing time a certificate of the chain was not valid: %v", err)
	}
	return failed(SubChainConstraints, "certificate chain: %v", err)
}

// sealUsage checks the seal certificate's profile (DESIGN §5): an end
// entity whose key may sign (digitalSignature or nonRepudiation) documents
// (documentSigning, or emailProtection which some validators know instead).
func sealUsage(c *x509.Certificate) error {
	if c.IsCA {
		return failed(SubChainConstraints, "the signer's certificate is a CA certificate")
	}
	if c.KeyUsage&(x509.KeyUsageDigitalSignature|x509.KeyUsageContentCommitment) == 0 {
		return failed(SubChainConstraints, "the seal certificate's key usage allows neither digitalSignature nor nonRepudiation")
	}
	for _, u := range c.ExtKeyUsage {
		if u == x509.ExtKeyUsageEmailProtection {
			return nil
		}
	}
	for _, u := range c.UnknownExtKeyUsage {
		if u.String() == oidDocumentSigning {
			return nil
		}
	}
	return failed(SubChainConstraints, "the seal certificate's extended key usage has neither documentSigning nor emailProtection")
}

// pdfMessage is the verdict in words for people.
func pdfMessage(sub string) string {
	switch sub {
	case "":
		return "签名有效：文件自签名后未被改动，印章证书由本平台签发。/ The signature is valid: the file is unchanged since it was signed, and the seal certificate was issued by this platform."
	case SubFormatFailure:
		return "文件不是可识别的已签名 PDF，或其签名已损坏。/ The file is not a readable signed PDF, or its signature is damaged."
	case SubHashFailure:
		return "文件内容在签名后被修改过。/ The file's content was changed after it was signed."
	case SubSigCryptoFailure:
		return "签名值与印章证书不符，签名是伪造的或已损坏。/ The signature does not match the seal certificate: it is forged or damaged."
	case SubNotFullyCovered:
		return "签名没有覆盖整个文件：签名后文件被追加或插入了内容。/ The signature does not cover the whole file: content was added after signing."
	case SubNoSignature:
		return "文件中没有电子签名（印章）。/ The file carries no electronic signature (seal)."
	case SubMultipleSignatures:
		return "文件含有多个签名；本平台签发的证书只有一个签名，说明文件在签发后被改动过。/ The file carries more than one signature; certificates from this platform carry exactly one, so the file was changed after issue."
	case SubNoCertificateChain:
		return "印章证书不是本平台签发的。/ The seal certificate was not issued by this platform."
	case SubChainConstraints:
		return "该证书不能用于签署文件。/ The certificate is not allowed to sign documents."
	case SubExpired:
		return "签名时印章证书已过期。/ The seal certificate had expired when the file was signed."
	case SubNotYetValid:
		return "签名时印章证书尚未生效。/ The seal certificate was not yet valid when the file was signed."
	case SubNoSigningCert:
		return "签名中缺少印章证书，无法核验。/ The seal certificate is missing from the signature, so it cannot be checked."
	case SubCryptoConstraints:
		return "签名使用了不受支持或不安全的算法，无法核验。/ The signature uses an unsupported or insecure algorithm, so it cannot be checked."
	case SubChainGeneralFailure:
		return "核验服务未配置信任根，暂时无法核验。/ The verifier has no trust anchor configured and cannot check signatures."
	case SubTooLarge:
		return "文件过大，未予核验。/ The file is too large to be checked."
	case SubTimeout:
		return "核验超时或被取消，请重试。/ Checking timed out or was cancelled; please try again."
	}
	return "无法核验。/ The file could not be checked."
}
