package keys

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
	"golang.org/x/crypto/ocsp"
)

// Whatever arrives at the OCSP responder, it answers with a well-formed
// OCSP response: signed by the issuing CA, or an error status.
func FuzzOCSPRequest(f *testing.F) {
	now := time.Now()
	ca := newTestCA(f, now)
	seal := newSeal(f, ca, newTestKeys(f), 1, testUnit, 1, ECDSAP256, now, testBase)
	rsp, err := NewResponder(ca, newFakeSource(seal), nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	req := ocspRequestFor(f, ca, seal)
	f.Add(req)
	f.Add(req[:len(req)-1])
	f.Add([]byte{})
	f.Add([]byte{0x30, 0x03, 0x0a, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		der, signed := rsp.ocspResponse(context.Background(), data)
		_, err := ocsp.ParseResponse(der, ca.Issuing())
		var re ocsp.ResponseError
		if signed && err != nil || !signed && !errors.As(err, &re) {
			t.Fatalf("answer (signed %v) does not parse as such: %v", signed, err)
		}
	})
}

// A GET path decodes back to the request whatever bytes it holds, and no
// path makes the decoder fail other than by returning nil.
func FuzzOCSPFromPath(f *testing.F) {
	f.Add([]byte{0xfb, 0xff, 0xbf}, "/pki/ocsp/+/+/")
	f.Add([]byte{}, "/pki/ocsp/%zz")
	f.Add([]byte("request"), "/ocsp/ocsp/ocsp/")
	f.Fuzz(func(t *testing.T, req []byte, path string) {
		for _, enc := range []string{
			url.PathEscape(base64.StdEncoding.EncodeToString(req)),
			base64.StdEncoding.EncodeToString(req),
			base64.RawURLEncoding.EncodeToString(req),
		} {
			if got := ocspFromPath(PathOCSP + "/" + enc); !bytes.Equal(got, req) {
				t.Fatalf("%q decodes to %x, want %x", enc, got, req)
			}
		}
		ocspFromPath(path)
	})
}

// A sealed key opens only as itself: any other bytes give one of the
// sealed-key errors.
func FuzzOpenBlob(f *testing.F) {
	km := newTestKeys(f)
	_, blob, err := km.GenerateSealKey(context.Background(), ECDSAP256, 3, 2)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(blob)
	f.Add(blob[:blobHeader])
	f.Add([]byte(blobMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := openBlob(km.kek, data, 3, 2)
		if err == nil {
			if !bytes.Equal(data, blob) {
				t.Fatal("a forged blob opened")
			}
			return
		}
		if !errors.Is(err, ErrCorruptBlob) && !errors.Is(err, ErrWrongKEK) && !errors.Is(err, ErrForeignBlob) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}

func FuzzParseKEKFile(f *testing.F) {
	f.Add([]byte(strings.Repeat("0f", KEKSize) + "\n"))
	f.Add([]byte(strings.Repeat("0F", KEKSize)))
	f.Add([]byte("zz"))
	f.Fuzz(func(t *testing.T, data []byte) {
		secret, err := parseKEKFile(data)
		if err != nil {
			return
		}
		if len(secret) != KEKSize || hex.EncodeToString(secret) != strings.ToLower(string(bytes.TrimSpace(data))) {
			t.Fatalf("%q parsed as %x", data, secret)
		}
	})
}

// Whatever token arrives inside an uploaded PDF, checking it gives a
// verdict or an error, never a panic; and only the platform TSA's own,
// untouched token over the message verifies.
func FuzzCheckTimestampToken(f *testing.F) {
	ca := newTestCA(f, time.Now())
	tsa := newTestTSA(f, ca, nil)
	msg := []byte("signature value")
	req, err := timestamp.CreateRequest(bytes.NewReader(msg), &timestamp.RequestOptions{Hash: crypto.SHA256, Certificates: true})
	if err != nil {
		f.Fatal(err)
	}
	resp, err := tsa.Stamp(context.Background(), req)
	if err != nil {
		f.Fatal(err)
	}
	ts, err := timestamp.ParseResponse(resp)
	if err != nil {
		f.Fatal(err)
	}
	good := ts.RawToken
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte{0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02, 0xa0, 0x80, 0x00, 0x00})
	trust := TimestampTrust{Roots: []*x509.Certificate{ca.Root()}}
	f.Fuzz(func(t *testing.T, token []byte) {
		got, err := CheckTimestampToken(token, msg, trust)
		if err == nil && (!bytes.Equal(got.TSA.Raw, tsa.Certificate().Raw) || got.Time.IsZero()) {
			t.Fatalf("a token verified with TSA %v at %v", got.TSA.Subject, got.Time)
		}
	})
}
