package verify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	_ "crypto/sha512" // SHA-384 and SHA-512 message digests
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/certseal/certseal/keys"
)

// This file is certseal's own verdict on an uploaded PDF. It does not use
// pdfsign's verifier: at the pinned version that one trusts any chain to a
// system root, takes no custom root, misses content added after signing and
// drops an unparseable signature silently.

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

// Bounds on the parts of the file CheckPDF parses, so hostile input costs
// little: the signature dictionary must lie within sigDictSpan bytes either
// side of its /ByteRange, and the CMS is at most maxCMSBytes.
const (
	sigDictSpan    = 1 << 20
	sigDictTries   = 16 // candidate "<<" before /ByteRange tried as its dictionary
	maxDictKeys    = 64
	maxNesting     = 32
	maxCMSBytes    = 256 << 10
	maxCMSCerts    = 16
	pdfHeaderLimit = 1024
)

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

	at, n := findByteRanges(pdf)
	res.Signatures = n
	switch {
	case n == 0:
		return failed(SubNoSignature, "no signature dictionary (/ByteRange) in the file")
	case n > 1:
		// certseal signs each file once; any further signature is an
		// incremental update made after issue, so the file is not as issued.
		return failed(SubMultipleSignatures, "%d signature dictionaries; certseal issues each file with exactly one", n)
	}
	sig, err := findSigDict(ctx, pdf, at)
	if err != nil {
		return err
	}
	signed, cmsDER, err := coverage(pdf, sig)
	if err != nil {
		return err
	}
	cms, err := parseSignedData(cmsDER)
	if err != nil {
		return failed(SubFormatFailure, "CMS signature: %v", err)
	}
	seal := cms.signerCert()
	if seal == nil {
		return indeterminate(SubNoSigningCert, "the CMS does not carry the signer's certificate")
	}
	res.Seal = seal
	res.SealSerial = seal.SerialNumber.Text(16) // the spelling of keys.SerialHex
	res.SealSubject = seal.Subject.String()
	res.SigningTime = cms.signingTime
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := cms.verify(seal, signed); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// The seal certificate is judged at the proven time when there is one:
	// that is what keeps a signature valid after its certificate expires.
	judgedAt := cms.signingTime
	if checkTimestamp(cms, trust, res) {
		judgedAt = res.Timestamp
	}
	return verifySeal(seal, cms.certs, trust, judgedAt)
}

// checkTimestamp checks the signature's time-stamp token, if any, over its
// signature value and fills res; it reports whether the token proves a
// time. A token is never a reason to reject a signature that verifies:
// what a missing or bad proof of time costs is the caller's rule.
func checkTimestamp(cms *signedData, trust PDFTrust, res *PDFResult) bool {
	if cms.timestampToken == nil {
		res.TimestampStatus = TimestampNone
		return false
	}
	tt := keys.TimestampTrust{
		Roots:         append([]*x509.Certificate{trust.Root}, trust.Timestamps.Roots...),
		Intermediates: append(slices.Clone(trust.Issuing), trust.Timestamps.Intermediates...),
	}
	ts, err := keys.CheckTimestampToken(cms.timestampToken, cms.signature, tt)
	if err == nil && cms.signingTime.After(ts.Time.Add(tokenClockSkew)) {
		err = fmt.Errorf("the signature claims to be signed at %s, after its time-stamp of %s",
			cms.signingTime.Format(time.RFC3339), ts.Time.Format(time.RFC3339))
	}
	if err != nil {
		res.TimestampStatus, res.TimestampDetail = TimestampInvalid, err.Error()
		return false
	}
	res.TimestampStatus, res.Timestamp = TimestampValid, ts.Time
	return true
}

// findByteRanges counts the /ByteRange name tokens, one per signature
// dictionary (a real one cannot hide in a compressed stream: its offsets
// must be file offsets), and returns the offset of the first.
func findByteRanges(pdf []byte) (first, n int) {
	key := []byte("/ByteRange")
	first = -1
	for off := 0; ; {
		i := bytes.Index(pdf[off:], key)
		if i < 0 {
			return first, n
		}
		i += off
		off = i + len(key)
		if off < len(pdf) && !isPDFWhite(pdf[off]) && !isPDFDelim(pdf[off]) {
			continue // a longer name such as /ByteRanges
		}
		if n == 0 {
			first = i
		}
		n++
	}
}

// sigDict is what CheckPDF reads from a signature dictionary.
type sigDict struct {
	byteRangeAt int // offset of the /ByteRange key
	typ         string
	subFilter   string
	byteRange   []int64
	contents    [2]int // offsets of the /Contents hex string: '<' and one past '>'
	hasContents bool
}

// findSigDict parses the dictionary holding the /ByteRange key at keyAt.
// Where that dictionary starts is not known, so each "<<" before the key,
// nearest first, is tried until one parses to a dictionary that has this
// very key; a "<<" in a nested dictionary or a string fails or ends early.
func findSigDict(ctx context.Context, pdf []byte, keyAt int) (sigDict, error) {
	lo := max(0, keyAt-sigDictSpan)
	window := pdf[:min(len(pdf), keyAt+sigDictSpan)]
	var nearest error // the parse error of a try that reached the key: the one worth reporting
	end := keyAt
	for range sigDictTries {
		if err := ctx.Err(); err != nil {
			return sigDict{}, err
		}
		start := bytes.LastIndex(pdf[lo:end], []byte("<<"))
		if start < 0 {
			break
		}
		start += lo
		end = start
		l := &pdfLexer{b: window, pos: start}
		d, err := l.sigDict()
		if err == nil && d.byteRangeAt == keyAt {
			return d, d.check()
		}
		var se *pdfSyntaxError
		if nearest == nil && errors.As(err, &se) && se.pos > keyAt {
			nearest = err
		}
	}
	if nearest != nil {
		return sigDict{}, failed(SubFormatFailure, "signature dictionary: %v", nearest)
	}
	return sigDict{}, failed(SubFormatFailure, "no parseable dictionary holds the /ByteRange at offset %d", keyAt)
}

func (d sigDict) check() error {
	switch {
	case d.typ != "" && d.typ != "Sig":
		return failed(SubFormatFailure, "signature dictionary of /Type /%s (certseal signs with /Type /Sig)", d.typ)
	case d.subFilter != "adbe.pkcs7.detached" && d.subFilter != "ETSI.CAdES.detached":
		return failed(SubFormatFailure, "signature /SubFilter /%s is not supported (certseal signs adbe.pkcs7.detached)", d.subFilter)
	case len(d.byteRange) != 4:
		return failed(SubFormatFailure, "/ByteRange has %d numbers, not 4", len(d.byteRange))
	case !d.hasContents:
		return failed(SubFormatFailure, "signature dictionary has no /Contents")
	}
	return nil
}

// coverage checks that the byte range covers the whole file except exactly
// the /Contents string, and returns the signed bytes and the decoded CMS.
func coverage(pdf []byte, d sigDict) (signed [2][]byte, cms []byte, err error) {
	n := int64(len(pdf))
	a, b, c, l := d.byteRange[0], d.byteRange[1], d.byteRange[2], d.byteRange[3]
	switch {
	case a > n || b > n || c > n || l > n || c+l > n || a+b > n:
		return signed, nil, failed(SubFormatFailure, "/ByteRange %v points past the end of the %d-byte file (truncated?)", d.byteRange, n)
	case a != 0:
		return signed, nil, failed(SubNotFullyCovered, "/ByteRange %v starts at %d: the file's first bytes are not signed", d.byteRange, a)
	case b >= c:
		return signed, nil, failed(SubFormatFailure, "/ByteRange %v: the second range does not follow the first", d.byteRange)
	case b != int64(d.contents[0]) || c != int64(d.contents[1]):
		return signed, nil, failed(SubFormatFailure, "/ByteRange %v leaves unsigned [%d,%d), which is not exactly the /Contents string at [%d,%d)",
			d.byteRange, b, c, d.contents[0], d.contents[1])
	case c+l < n:
		return signed, nil, failed(SubNotFullyCovered, "%d bytes after offset %d are not covered by the signature: content was added after signing", n-c-l, c+l)
	}
	cms, err = decodePDFHex(pdf[b+1:c-1], maxCMSBytes)
	if err != nil {
		return signed, nil, failed(SubFormatFailure, "/Contents: %v", err)
	}
	return [2][]byte{pdf[:b], pdf[c:]}, cms, nil
}

// decodePDFHex decodes a PDF hex string body: white space is ignored and an
// odd final digit stands for d0 (ISO 32000-1, 7.3.4.3).
func decodePDFHex(s []byte, limit int) ([]byte, error) {
	out := make([]byte, 0, min(len(s)/2+1, limit))
	var hi byte
	half := false
	for i, c := range s {
		if isPDFWhite(c) {
			continue
		}
		v, ok := hexDigit(c)
		if !ok {
			return nil, fmt.Errorf("byte %d is %q, not a hex digit", i, c)
		}
		if !half {
			hi, half = v, true
			continue
		}
		if len(out) == limit {
			return nil, fmt.Errorf("more than %d bytes", limit)
		}
		out = append(out, hi<<4|v)
		half = false
	}
	if half {
		out = append(out, hi<<4)
	}
	return out, nil
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// pdfLexer reads just enough PDF object syntax (ISO 32000-1, 7.2-7.3) to
// parse a signature dictionary and skip over anything else in it. It never
// builds values it skips, so its memory does not grow with the input.
type pdfLexer struct {
	b   []byte
	pos int
}

type pdfSyntaxError struct {
	pos int
	msg string
}

func (e *pdfSyntaxError) Error() string { return fmt.Sprintf("offset %d: %s", e.pos, e.msg) }

func (l *pdfLexer) errorf(format string, args ...any) error {
	return &pdfSyntaxError{l.pos, fmt.Sprintf(format, args...)}
}

func isPDFWhite(c byte) bool {
	switch c {
	case 0, '\t', '\n', '\f', '\r', ' ':
		return true
	}
	return false
}

func isPDFDelim(c byte) bool {
	switch c {
	case '(', ')', '<', '>', '[', ']', '{', '}', '/', '%':
		return true
	}
	return false
}

func (l *pdfLexer) skipWhite() {
	for l.pos < len(l.b) {
		switch c := l.b[l.pos]; {
		case isPDFWhite(c):
			l.pos++
		case c == '%': // comment to end of line
			for l.pos < len(l.b) && l.b[l.pos] != '\n' && l.b[l.pos] != '\r' {
				l.pos++
			}
		default:
			return
		}
	}
}

func (l *pdfLexer) consume(s string) bool {
	if bytes.HasPrefix(l.b[l.pos:], []byte(s)) {
		l.pos += len(s)
		return true
	}
	return false
}

// regular reads a run of regular characters (a number or a keyword).
func (l *pdfLexer) regular() []byte {
	start := l.pos
	for l.pos < len(l.b) && !isPDFWhite(l.b[l.pos]) && !isPDFDelim(l.b[l.pos]) {
		l.pos++
	}
	return l.b[start:l.pos]
}

func (l *pdfLexer) name() (string, error) {
	if !l.consume("/") {
		return "", l.errorf("expected a name")
	}
	raw := l.regular()
	if !bytes.Contains(raw, []byte("#")) {
		return string(raw), nil
	}
	out := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		if raw[i] != '#' {
			out = append(out, raw[i])
			continue
		}
		if i+2 >= len(raw) {
			return "", l.errorf("bad #xx escape in name")
		}
		hi, ok1 := hexDigit(raw[i+1])
		lo, ok2 := hexDigit(raw[i+2])
		if !ok1 || !ok2 {
			return "", l.errorf("bad #xx escape in name")
		}
		out = append(out, hi<<4|lo)
		i += 2
	}
	return string(out), nil
}

// hexString skips a hex string <...>, checking its characters.
func (l *pdfLexer) hexString() error {
	if !l.consume("<") || l.consume("<") {
		return l.errorf("expected a hex string")
	}
	for l.pos < len(l.b) {
		c := l.b[l.pos]
		l.pos++
		if c == '>' {
			return nil
		}
		if _, ok := hexDigit(c); !ok && !isPDFWhite(c) {
			l.pos--
			return l.errorf("%q in a hex string", c)
		}
	}
	return l.errorf("unterminated hex string")
}

// literalString skips a string (...), with nested parentheses and escapes.
func (l *pdfLexer) literalString() error {
	l.pos++ // '('
	depth := 1
	for l.pos < len(l.b) {
		switch l.b[l.pos] {
		case '\\':
			l.pos++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				l.pos++
				return nil
			}
		}
		l.pos++
	}
	return l.errorf("unterminated string")
}

// integer reads a non-negative integer.
func (l *pdfLexer) integer() (int64, error) {
	l.skipWhite()
	at := l.pos
	tok := l.regular()
	if len(tok) == 0 || tok[0] < '0' || tok[0] > '9' {
		l.pos = at
		return 0, l.errorf("expected a non-negative integer")
	}
	v, err := strconv.ParseInt(string(tok), 10, 64)
	if err != nil {
		l.pos = at
		return 0, l.errorf("%q is not an integer that fits in 63 bits", tok)
	}
	return v, nil
}

// integers reads an array of non-negative integers, at most max of them.
func (l *pdfLexer) integers(max int) ([]int64, error) {
	if !l.consume("[") {
		return nil, l.errorf("expected an array")
	}
	var out []int64
	for {
		l.skipWhite()
		if l.consume("]") {
			return out, nil
		}
		if len(out) == max {
			return nil, l.errorf("more than %d numbers", max)
		}
		v, err := l.integer()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
}

// sigDict parses a dictionary as a signature dictionary, keeping the keys
// it needs and skipping the rest.
func (l *pdfLexer) sigDict() (sigDict, error) {
	d := sigDict{byteRangeAt: -1}
	if !l.consume("<<") {
		return d, l.errorf("expected <<")
	}
	seen := make(map[string]bool)
	for {
		l.skipWhite()
		if l.consume(">>") {
			return d, nil
		}
		if len(seen) == maxDictKeys {
			return d, l.errorf("more than %d keys in the signature dictionary", maxDictKeys)
		}
		keyAt := l.pos
		key, err := l.name()
		if err != nil {
			return d, err
		}
		if seen[key] {
			return d, l.errorf("key /%s twice in the signature dictionary", key)
		}
		seen[key] = true
		l.skipWhite()
		switch key {
		case "Type":
			d.typ, err = l.name()
		case "SubFilter":
			d.subFilter, err = l.name()
		case "ByteRange":
			d.byteRangeAt = keyAt
			d.byteRange, err = l.integers(4)
		case "Contents":
			d.contents[0] = l.pos
			err = l.hexString()
			d.contents[1], d.hasContents = l.pos, true
		default:
			err = l.skipValue(0)
		}
		if err != nil {
			return d, err
		}
	}
}

// skipValue skips one object of any kind.
func (l *pdfLexer) skipValue(depth int) error {
	if depth > maxNesting {
		return l.errorf("nested more than %d deep", maxNesting)
	}
	l.skipWhite()
	if l.pos >= len(l.b) {
		return l.errorf("unexpected end")
	}
	switch c := l.b[l.pos]; {
	case l.consume("<<"):
		for {
			l.skipWhite()
			if l.consume(">>") {
				return nil
			}
			if _, err := l.name(); err != nil {
				return err
			}
			if err := l.skipValue(depth + 1); err != nil {
				return err
			}
		}
	case c == '[':
		l.pos++
		for {
			l.skipWhite()
			if l.consume("]") {
				return nil
			}
			if err := l.skipValue(depth + 1); err != nil {
				return err
			}
		}
	case c == '<':
		return l.hexString()
	case c == '(':
		return l.literalString()
	case c == '/':
		_, err := l.name()
		return err
	case isPDFDelim(c):
		return l.errorf("unexpected %q", c)
	}
	tok := l.regular()
	if isPDFInteger(tok) {
		l.skipReference()
	}
	return nil
}

func isPDFInteger(tok []byte) bool {
	if len(tok) == 0 {
		return false
	}
	for _, c := range tok {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// skipReference consumes "G R" after an object number, if that follows.
func (l *pdfLexer) skipReference() {
	at := l.pos
	l.skipWhite()
	if isPDFInteger(l.regular()) {
		l.skipWhite()
		if string(l.regular()) == "R" {
			return
		}
	}
	l.pos = at
}

// Object identifiers certseal reads, in dotted form: compared with
// asn1.ObjectIdentifier.String.
const (
	oidSignedData           = "1.2.840.113549.1.7.2"
	oidData                 = "1.2.840.113549.1.7.1"
	oidContentType          = "1.2.840.113549.1.9.3"
	oidMessageDigest        = "1.2.840.113549.1.9.4"
	oidSigningTime          = "1.2.840.113549.1.9.5"
	oidSigningCertificateV2 = "1.2.840.113549.1.9.16.2.47"
	oidDocumentSigning      = "1.3.6.1.5.5.7.3.36" // RFC 9336
	oidTimeStampToken       = "1.2.840.113549.1.9.16.2.14"
)

const malformedCMS = "malformed CMS"

// signedData is the part of a CMS SignedData with one signer that a PDF
// signature check needs.
type signedData struct {
	certs []*x509.Certificate

	// signer identifier: issuer and serial, or subject key identifier
	issuer []byte
	serial *big.Int
	ski    []byte

	digestAlg   asn1.ObjectIdentifier
	signedAttrs []byte // DER as signed: with the SET tag, not [0] (RFC 5652, 5.4)
	sigAlg      asn1.ObjectIdentifier
	signature   []byte

	messageDigest  []byte
	signingTime    time.Time
	timestampToken []byte // the id-aa-timeStampToken unsigned attribute's value (DER), if any
	essCertHash    []byte // from signingCertificateV2, if present
	essHash        crypto.Hash
}

// parseSignedData parses a DER ContentInfo holding a detached SignedData
// with exactly one signer, followed by nothing but zero padding (pdfsign
// pads /Contents with zeros to the space it reserved).
func parseSignedData(der []byte) (*signedData, error) {
	in := cryptobyte.String(der)
	var ci, content, sd cryptobyte.String
	var ct asn1.ObjectIdentifier
	if !in.ReadASN1(&ci, cbasn1.SEQUENCE) {
		return nil, errors.New("not a DER-encoded ContentInfo")
	}
	if len(bytes.Trim(in, "\x00")) != 0 {
		return nil, errors.New("data other than zero padding after the CMS")
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
	s := &signedData{}
	for !rawCerts.Empty() {
		var c cryptobyte.String
		if !rawCerts.ReadASN1Element(&c, cbasn1.SEQUENCE) {
			return nil, errors.New("a certificate choice other than an X.509 certificate")
		}
		if len(s.certs) == maxCMSCerts {
			return nil, fmt.Errorf("more than %d certificates", maxCMSCerts)
		}
		cert, err := x509.ParseCertificate(c)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(s.certs)+1, err)
		}
		s.certs = append(s.certs, cert)
	}
	if !signerInfos.ReadASN1(&si, cbasn1.SEQUENCE) {
		return nil, errors.New("no signer")
	}
	if !signerInfos.Empty() {
		return nil, errors.New("more than one signer")
	}
	return s, s.parseSignerInfo(si)
}

func (s *signedData) parseSignerInfo(si cryptobyte.String) error {
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
		!si.ReadASN1Bytes(&s.signature, cbasn1.OCTET_STRING) ||
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
func (s *signedData) parseUnsignedAttrs(attrs cryptobyte.String) error {
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
		if s.timestampToken != nil || !values.ReadASN1Element(&v, cbasn1.SEQUENCE) || !values.Empty() {
			return errors.New("more than one time-stamp token, or a malformed one")
		}
		s.timestampToken = v
	}
	return nil
}

// parseSignedAttrs reads contentType, messageDigest, signingTime (all
// required: certseal's signatures have them) and signingCertificateV2.
func (s *signedData) parseSignedAttrs(attrs cryptobyte.String) error {
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
				ok = v.ReadASN1UTCTime(&s.signingTime)
			} else {
				ok = v.ReadASN1GeneralizedTime(&s.signingTime)
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
	case s.signingTime.IsZero():
		return errors.New("no signingTime signed attribute")
	}
	s.signingTime = s.signingTime.UTC()
	return nil
}

// parseSigningCertificateV2 keeps the first ESSCertIDv2 (RFC 5035): the
// hash of the signer's certificate.
func (s *signedData) parseSigningCertificateV2(v cryptobyte.String) bool {
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

// signerCert returns the signer's certificate from the CMS, or nil.
func (s *signedData) signerCert() *x509.Certificate {
	for _, c := range s.certs {
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

// verify checks the message digest against the signed bytes, the
// signature value with the signer's certificate, and the certificate hash
// the signer committed to, if any.
func (s *signedData) verify(seal *x509.Certificate, signed [2][]byte) error {
	h := digestHash(s.digestAlg)
	if h == 0 {
		return indeterminate(SubCryptoConstraints, "digest algorithm %v is not accepted (SHA-256, SHA-384, SHA-512 are)", s.digestAlg)
	}
	d := h.New()
	d.Write(signed[0])
	d.Write(signed[1])
	if !bytes.Equal(d.Sum(nil), s.messageDigest) {
		return failed(SubHashFailure, "the signed bytes' %v digest differs from the signature's messageDigest", h)
	}
	alg := signatureAlgorithm(s.sigAlg, h)
	if alg == x509.UnknownSignatureAlgorithm {
		return indeterminate(SubCryptoConstraints, "signature algorithm %v with %v is not supported", s.sigAlg, h)
	}
	if err := seal.CheckSignature(alg, s.signedAttrs, s.signature); err != nil {
		return failed(SubSigCryptoFailure, "signature value: %v", err)
	}
	if s.essCertHash != nil {
		e := s.essHash.New()
		e.Write(seal.Raw)
		if !bytes.Equal(e.Sum(nil), s.essCertHash) {
			return indeterminate(SubNoSigningCert, "the signingCertificateV2 attribute names another certificate than the one the CMS identifies")
		}
	}
	return nil
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
