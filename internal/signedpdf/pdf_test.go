package signedpdf

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"os"
	"regexp"
	"strconv"
	"testing"
)

// sample is a certificate PDF as certseal issues it (signer's validator
// test writes it; pdfsig, mutool and qpdf check it there).
func sample(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("../../signer/testdata/sample-certificate.pdf")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// readLast reads the file's last signature, as signer's self-check does.
func readLast(pdf []byte) (Signature, error) {
	_, last, _ := FindByteRanges(pdf)
	return Read(context.Background(), pdf, last)
}

// edit replaces old by new of the same length, so that no offset moves.
func edit(t *testing.T, b []byte, old, new string) []byte {
	t.Helper()
	if out := bytes.Replace(b, []byte(old), []byte(new), 1); len(old) == len(new) && !bytes.Equal(out, b) {
		return out
	}
	t.Fatalf("cannot replace %q by %q", old, new)
	return nil
}

func TestReadSample(t *testing.T) {
	pdf := sample(t)
	first, last, n := FindByteRanges(pdf)
	if n != 1 || first != last || first < 0 {
		t.Fatalf("FindByteRanges = %d, %d, %d; want one signature", first, last, n)
	}
	sig, err := Read(context.Background(), pdf, first)
	if err != nil {
		t.Fatal(err)
	}
	if sig.Type != "Sig" || sig.SubFilter != "adbe.pkcs7.detached" {
		t.Errorf("/Type /%s /SubFilter /%s", sig.Type, sig.SubFilter)
	}
	br := sig.ByteRange
	if br[0] != 0 || br[2]+br[3] != int64(len(pdf)) || pdf[br[1]] != '<' || pdf[br[2]-1] != '>' {
		t.Errorf("ByteRange %v of a %d-byte file does not leave out exactly /Contents", br, len(pdf))
	}
	if len(sig.Signed[0])+len(sig.Signed[1]) != len(pdf)-int(br[2]-br[1]) || !bytes.Equal(sig.Content(), append(bytes.Clone(pdf[:br[1]]), pdf[br[2]:]...)) {
		t.Error("Signed is not the bytes the ByteRange covers")
	}
	cms, err := ParseSignedData(sig.CMS)
	if err != nil {
		t.Fatal(err)
	}
	seal := cms.SignerCert()
	if seal == nil || !bytes.Contains([]byte(seal.Subject.CommonName), []byte("职称专用章")) {
		t.Fatalf("signer certificate %v", seal)
	}
	if cms.SigningTime.IsZero() || len(cms.Certs) < 2 || len(cms.Signature) == 0 {
		t.Errorf("SigningTime %v, %d certificates, %d-byte signature value", cms.SigningTime, len(cms.Certs), len(cms.Signature))
	}
	if err := cms.Verify(seal, sig.Signed); err != nil {
		t.Fatal(err)
	}
}

// Every way the sample can be broken gives an *Error of the right kind.
func TestReadErrors(t *testing.T) {
	pdf := sample(t)
	sig, err := readLast(pdf)
	if err != nil {
		t.Fatal(err)
	}
	cms, err := ParseSignedData(sig.CMS)
	if err != nil {
		t.Fatal(err)
	}
	br := sig.ByteRange
	brText := regexp.MustCompile(`/ByteRange\s*\[[^\]]*\]`).Find(pdf)
	sameWidth := func(s string) string {
		return s + string(bytes.Repeat([]byte(" "), len(brText)-len(s)))
	}
	sigHex := hex.EncodeToString(cms.Signature)
	flippedSig := []byte(sigHex)
	// Another hex digit ('a' ^ 1 and 'f' ^ 1 would not be one).
	if mid := len(flippedSig) / 2; flippedSig[mid] == '0' {
		flippedSig[mid] = '1'
	} else {
		flippedSig[mid] = '0'
	}
	padding := int(br[1]) + 1 + 2*len(sig.CMS)
	withJunk := bytes.Clone(pdf)
	withJunk[padding+10] = '1'
	notHex := bytes.Clone(pdf)
	notHex[br[1]+5] = 'x'
	issuing := cms.Certs[0]
	if issuing.Equal(cms.SignerCert()) {
		issuing = cms.Certs[1]
	}

	for _, tc := range []struct {
		name   string
		pdf    []byte
		verify bool // the error comes from Verify, not from reading
		want   error
	}{
		{name: "one byte appended", pdf: append(bytes.Clone(pdf), '\n'), want: ErrNotCovered},
		{name: "truncated", pdf: pdf[:len(pdf)-10], want: ErrFormat},
		{name: "first byte not signed", pdf: edit(t, pdf, string(brText), sameWidth("/ByteRange [1 "+strconv.FormatInt(br[1]-1, 10)+" "+strconv.FormatInt(br[2], 10)+" "+strconv.FormatInt(br[3], 10)+"]")), want: ErrNotCovered},
		{name: "gap is not /Contents", pdf: edit(t, pdf, string(brText), sameWidth("/ByteRange [0 10 20 "+strconv.Itoa(len(pdf)-20)+"]")), want: ErrFormat},
		{name: "three numbers", pdf: edit(t, pdf, string(brText), sameWidth("/ByteRange [0 10 20]")), want: ErrFormat},
		{name: "not a hex digit in /Contents", pdf: notHex, want: ErrFormat},
		{name: "data in the padding", pdf: withJunk, want: ErrFormat},
		{name: "page content changed", pdf: edit(t, pdf, "/Type /Page", "/Type /Pagf"), verify: true, want: ErrDigest},
		{name: "signature value changed", pdf: edit(t, pdf, sigHex, string(flippedSig)), verify: true, want: ErrSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sig, err := readLast(tc.pdf)
			if tc.verify {
				if err != nil {
					t.Fatalf("read: %v", err)
				}
				var cms *SignedData
				if cms, err = ParseSignedData(sig.CMS); err != nil {
					t.Fatalf("parse: %v", err)
				}
				err = cms.Verify(cms.SignerCert(), sig.Signed)
			}
			var e *Error
			if !errors.Is(err, tc.want) || !errors.As(err, &e) || e.Detail == "" {
				t.Fatalf("error %v, want one of kind %v", err, tc.want)
			}
		})
	}
	if err := cms.Verify(issuing, sig.Signed); !errors.Is(err, ErrSignature) && !errors.Is(err, ErrSignerCert) {
		t.Errorf("verified with the issuing CA's certificate: %v", err)
	}
	if _, err := Read(context.Background(), pdf, len(pdf)); !errors.Is(err, ErrFormat) {
		t.Errorf("offset past the end: %v", err)
	}
	if _, err := ParseSignedData(append(bytes.Clone(sig.CMS), 0)); !errors.Is(err, ErrFormat) {
		t.Errorf("a byte after the CMS: %v", err)
	}
}

func TestFindByteRanges(t *testing.T) {
	for _, tc := range []struct {
		in             string
		first, last, n int
	}{
		{"", -1, -1, 0},
		{"<< /ByteRanges [0 1 2 3] >>", -1, -1, 0},
		{"<< /ByteRange [0 1 2 3] >>", 3, 3, 1},
		{"/ByteRange[0 1 2 3] /ByteRange/x", 0, 20, 2},
		{"x/ByteRange", 1, 1, 1},
	} {
		first, last, n := FindByteRanges([]byte(tc.in))
		if first != tc.first || last != tc.last || n != tc.n {
			t.Errorf("FindByteRanges(%q) = %d, %d, %d; want %d, %d, %d", tc.in, first, last, n, tc.first, tc.last, tc.n)
		}
	}
}
