// Package signedpdf reads the signatures of a PDF: the signature
// dictionaries (/ByteRange, /Contents), the bytes each one signs, and the
// detached CMS SignedData inside, whose digest and signature value it
// verifies against a certificate. It is the one reader of PDF signatures:
// signer's self-check reads back what it signed with it, and verify's
// verdict on an uploaded file starts from it. What a signature means
// (trust, revocation, the verdict) is the callers'.
//
// It reads just enough PDF syntax for that, never the whole file, and it
// reads outside input: it never panics and bounds what it parses, so
// hostile input costs little.
package signedpdf

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// The kinds of what is wrong with a signature; every error Read, ReadDict,
// Dict.Signature, ParseSignedData and SignedData.Verify return (but a
// ctx error) is an *Error of one of these kinds.
var (
	ErrFormat     = errors.New("not a readable PDF signature")
	ErrNotCovered = errors.New("the signature does not cover the whole file")
	ErrAlgorithm  = errors.New("an algorithm that is not accepted")
	ErrDigest     = errors.New("the signed bytes do not match the signature's message digest")
	ErrSignature  = errors.New("the signature value does not verify")
	ErrSignerCert = errors.New("the signature names another certificate than its signer's")
)

// Error is one thing wrong with a signature: its Kind (one of the Err
// values, for errors.Is) and what exactly, in English.
type Error struct {
	Kind   error
	Detail string
}

func (e *Error) Error() string { return e.Kind.Error() + ": " + e.Detail }
func (e *Error) Unwrap() error { return e.Kind }

func errorf(kind error, format string, args ...any) error {
	return &Error{kind, fmt.Sprintf(format, args...)}
}

// Bounds on the parts of the file read, so hostile input costs little: the
// signature dictionary must lie within sigDictSpan bytes either side of its
// /ByteRange, and the CMS is at most maxCMSBytes.
const (
	sigDictSpan  = 1 << 20
	sigDictTries = 16 // candidate "<<" before /ByteRange tried as its dictionary
	maxDictKeys  = 64
	maxNesting   = 32
	maxCMSBytes  = 256 << 10
	maxCMSCerts  = 16
)

// FindByteRanges counts the /ByteRange name tokens, one per signature
// dictionary (a real one cannot hide in a compressed stream: its offsets
// must be file offsets), and returns the offsets of the first and the last
// (-1 when there is none). An incremental update adds its signature after
// the ones before it, so the last is the newest.
func FindByteRanges(pdf []byte) (first, last, n int) {
	key := []byte("/ByteRange")
	first, last = -1, -1
	for off := 0; ; {
		i := bytes.Index(pdf[off:], key)
		if i < 0 {
			return first, last, n
		}
		i += off
		off = i + len(key)
		if off < len(pdf) && !isPDFWhite(pdf[off]) && !isPDFDelim(pdf[off]) {
			continue // a longer name such as /ByteRanges
		}
		if n == 0 {
			first = i
		}
		last = i
		n++
	}
}

// Dict is a signature dictionary as read, before what it signs is.
type Dict struct {
	Type      string // the /Type name without its slash, "" when absent
	SubFilter string
	ByteRange [4]int64
	contents  [2]int // offsets of the /Contents hex string: '<' and one past '>'
}

// Signature is a signature dictionary with what it signs and carries.
type Signature struct {
	Dict
	Signed [2][]byte // the bytes the byte range covers: before and after /Contents
	CMS    []byte    // the DER in /Contents, without the zero padding after it
}

// Content is the signed bytes in one piece, for a check that takes them
// so (a document time-stamp's token covers them).
func (s Signature) Content() []byte {
	return append(append(make([]byte, 0, len(s.Signed[0])+len(s.Signed[1])), s.Signed[0]...), s.Signed[1]...)
}

// Read is ReadDict followed by Dict.Signature.
func Read(ctx context.Context, pdf []byte, keyAt int) (Signature, error) {
	d, err := ReadDict(ctx, pdf, keyAt)
	if err != nil {
		return Signature{}, err
	}
	return d.Signature(pdf)
}

// sigDict is what the lexer reads from a signature dictionary.
type sigDict struct {
	byteRangeAt int // offset of the /ByteRange key
	typ         string
	subFilter   string
	byteRange   []int64
	contents    [2]int
	hasContents bool
}

// ReadDict parses the signature dictionary holding the /ByteRange key at
// keyAt (an offset FindByteRanges returns). Where that dictionary starts is
// not known, so each "<<" before the key, nearest first, is tried until one
// parses to a dictionary that has this very key; a "<<" in a nested
// dictionary or a string fails or ends early.
func ReadDict(ctx context.Context, pdf []byte, keyAt int) (Dict, error) {
	if keyAt < 0 || keyAt >= len(pdf) {
		return Dict{}, errorf(ErrFormat, "no /ByteRange at offset %d", keyAt)
	}
	lo := max(0, keyAt-sigDictSpan)
	window := pdf[:min(len(pdf), keyAt+sigDictSpan)]
	var nearest error // the parse error of a try that reached the key: the one worth reporting
	end := keyAt
	for range sigDictTries {
		if err := ctx.Err(); err != nil {
			return Dict{}, err
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
			return d.dict()
		}
		var se *pdfSyntaxError
		if nearest == nil && errors.As(err, &se) && se.pos > keyAt {
			nearest = err
		}
	}
	if nearest != nil {
		return Dict{}, errorf(ErrFormat, "signature dictionary: %v", nearest)
	}
	return Dict{}, errorf(ErrFormat, "no parseable dictionary holds the /ByteRange at offset %d", keyAt)
}

func (d sigDict) dict() (Dict, error) {
	switch {
	case len(d.byteRange) != 4:
		return Dict{}, errorf(ErrFormat, "/ByteRange has %d numbers, not 4", len(d.byteRange))
	case !d.hasContents:
		return Dict{}, errorf(ErrFormat, "signature dictionary has no /Contents")
	}
	return Dict{Type: d.typ, SubFilter: d.subFilter, ByteRange: [4]int64(d.byteRange), contents: d.contents}, nil
}

// Signature checks that the byte range covers the whole file except
// exactly the /Contents string, and returns the signed bytes and the DER
// in /Contents (pdfsign pads it with zeros to the space it reserved).
func (d Dict) Signature(pdf []byte) (Signature, error) {
	n := int64(len(pdf))
	a, b, c, l := d.ByteRange[0], d.ByteRange[1], d.ByteRange[2], d.ByteRange[3]
	switch {
	case a > n || b > n || c > n || l > n || c+l > n || a+b > n:
		return Signature{}, errorf(ErrFormat, "/ByteRange %v points past the end of the %d-byte file (truncated?)", d.ByteRange, n)
	case a != 0:
		return Signature{}, errorf(ErrNotCovered, "/ByteRange %v starts at %d: the file's first bytes are not signed", d.ByteRange, a)
	case b >= c:
		return Signature{}, errorf(ErrFormat, "/ByteRange %v: the second range does not follow the first", d.ByteRange)
	case b != int64(d.contents[0]) || c != int64(d.contents[1]):
		return Signature{}, errorf(ErrFormat, "/ByteRange %v leaves unsigned [%d,%d), which is not exactly the /Contents string at [%d,%d)",
			d.ByteRange, b, c, d.contents[0], d.contents[1])
	case c+l < n:
		return Signature{}, errorf(ErrNotCovered, "%d bytes after offset %d are not covered by the signature: content was added after signing", n-c-l, c+l)
	}
	raw, err := decodePDFHex(pdf[b+1:c-1], maxCMSBytes)
	if err != nil {
		return Signature{}, errorf(ErrFormat, "/Contents: %v", err)
	}
	der, err := trimPadding(raw)
	if err != nil {
		return Signature{}, errorf(ErrFormat, "/Contents: %v", err)
	}
	return Signature{Dict: d, Signed: [2][]byte{pdf[:b], pdf[c:]}, CMS: der}, nil
}

// trimPadding returns the one DER SEQUENCE at the start of raw, and checks
// that nothing but zeros follows it.
func trimPadding(raw []byte) ([]byte, error) {
	in := cryptobyte.String(raw)
	var elem cryptobyte.String
	if !in.ReadASN1Element(&elem, cbasn1.SEQUENCE) {
		return nil, errors.New("not a DER-encoded ContentInfo")
	}
	if len(bytes.Trim(in, "\x00")) != 0 {
		return nil, errors.New("data other than zero padding after the CMS")
	}
	return elem, nil
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
