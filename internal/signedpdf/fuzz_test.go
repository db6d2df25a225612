package signedpdf

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// kindOf checks that err is nil, or an *Error of one of the kinds.
func kindOf(t *testing.T, err error) {
	t.Helper()
	var e *Error
	if err == nil {
		return
	}
	if !errors.As(err, &e) || e.Detail == "" {
		t.Fatalf("error %#v is not an *Error with a detail", err)
	}
	for _, k := range []error{ErrFormat, ErrNotCovered, ErrAlgorithm, ErrDigest, ErrSignature, ErrSignerCert} {
		if e.Kind == k {
			return
		}
	}
	t.Fatalf("error of unknown kind %v", e.Kind)
}

// FuzzRead feeds the reader mutations of a signed PDF: it must never panic,
// answer only with its error kinds, and what it reads must be what the
// byte range says.
func FuzzRead(f *testing.F) {
	pdf := sample(f)
	_, at, _ := FindByteRanges(pdf)
	for _, seed := range [][]byte{
		pdf,
		pdf[at-2000:],
		pdf[:at+300],
		append(bytes.Clone(pdf), "\n% later\n"...),
		[]byte("<< /Type /Sig /ByteRange [0 1 2 3] /Contents <00> >>"),
		[]byte("<< /ByteRange [0 10 20 30] /Contents <3003020100> /SubFilter /adbe.pkcs7.detached >>"),
		[]byte("<</ByteRange[0 2 9 0]/Contents<3000>>>"),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, pdf []byte) {
		first, last, n := FindByteRanges(pdf)
		if (n == 0) != (first < 0) || (n == 0) != (last < 0) || first > last {
			t.Fatalf("FindByteRanges = %d, %d, %d", first, last, n)
		}
		sig, err := Read(context.Background(), pdf, last)
		kindOf(t, err)
		if err != nil {
			return
		}
		br := sig.ByteRange
		if br[0] != 0 || int(br[2]+br[3]) != len(pdf) || len(sig.Signed[0]) != int(br[1]) || len(sig.Signed[1]) != int(br[3]) ||
			pdf[br[1]] != '<' || pdf[br[2]-1] != '>' || len(sig.CMS) == 0 {
			t.Fatalf("read %v, %d CMS bytes from a %d-byte file", br, len(sig.CMS), len(pdf))
		}
		cms, err := ParseSignedData(sig.CMS)
		kindOf(t, err)
		if err == nil && cms.SignerCert() != nil {
			kindOf(t, cms.Verify(cms.SignerCert(), sig.Signed))
		}
	})
}

// FuzzParseSignedData feeds the CMS reader mutations of a real signature:
// no panic, only its error kinds, and Verify of what parses too.
func FuzzParseSignedData(f *testing.F) {
	sig, err := readLast(sample(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sig.CMS)
	f.Add(sig.CMS[:len(sig.CMS)/2])
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		cms, err := ParseSignedData(der)
		kindOf(t, err)
		if err != nil {
			return
		}
		if c := cms.SignerCert(); c != nil {
			kindOf(t, cms.Verify(c, sig.Signed))
		}
	})
}
