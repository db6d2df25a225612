package ses

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"reflect"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm2"
	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/smx509"
)

// sm2Cert makes an SM2 key and a self-signed certificate for it.
func sm2Cert(t testing.TB, cn string) (*sm2.PrivateKey, []byte) {
	t.Helper()
	key, err := sm2.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}
	der, err := smx509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return key, der
}

type fixture struct {
	maker, signer         *sm2.PrivateKey
	makerCert, signerCert []byte
	seal                  []byte
}

var at = time.Date(2026, 3, 1, 8, 30, 15, 0, time.UTC)

func newFixture(t testing.TB) fixture {
	f := fixture{}
	f.maker, f.makerCert = sm2Cert(t, "maker")
	f.signer, f.signerCert = sm2Cert(t, "signer")
	var err error
	f.seal, err = MakeSeal(sealInfo(f.signerCert), f.makerCert, f.maker)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func sealInfo(signerCert []byte) SealInfo {
	return SealInfo{Header: Header{VID: "certseal"}, ESID: "37100000-000001-1",
		Property: PropertyInfo{Type: 1, Name: "甲单位职称专用章", CertList: [][]byte{signerCert},
			CreateDate: at.Add(500 * time.Millisecond), ValidStart: at, ValidEnd: at.AddDate(10, 0, 0)},
		Picture: PictureInfo{Type: "png", Data: []byte("\x89PNG..."), Width: 40, Height: 40}}
}

func TestSealRoundTrip(t *testing.T) {
	f := newFixture(t)
	s, err := ParseSeal(f.seal)
	if err != nil {
		t.Fatal(err)
	}
	want := sealInfo(f.signerCert)
	want.Header.ID, want.Header.Version, want.Property.CertListType = "ES", 4, 1
	want.Property.CreateDate = at // whole seconds
	got := s.Info
	got.Raw = nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parsed seal info\n got %+v\nwant %+v", got, want)
	}
	if _, err := s.VerifyMaker(); err != nil {
		t.Errorf("VerifyMaker: %v", err)
	}
	again, err := asn1.Marshal(*s)
	if err != nil || !bytes.Equal(again, f.seal) {
		t.Errorf("parsed seal does not marshal back to its DER (err %v)", err)
	}
}

func TestSignatureRoundTrip(t *testing.T) {
	f := newFixture(t)
	hash := sm3.Sum([]byte("%PDF-1.7 ..."))
	for _, tt := range []struct {
		name  string
		stamp func([]byte) ([]byte, error)
	}{
		{"without time-stamp", nil},
		{"with time-stamp", func(sig []byte) ([]byte, error) { return append([]byte("token over "), sig...), nil }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			der, err := Sign(f.seal, f.signerCert, f.signer, SignParams{Time: at.Add(time.Second / 3), DataHash: hash[:], Property: "/v/2026-1", Stamp: tt.stamp})
			if err != nil {
				t.Fatal(err)
			}
			s, err := ParseSignature(der)
			if err != nil {
				t.Fatal(err)
			}
			if !s.ToSign.TimeInfo.Equal(at) || !bytes.Equal(s.ToSign.DataHash.Bytes, hash[:]) || s.ToSign.PropertyInfo != "/v/2026-1" ||
				!bytes.Equal(s.ToSign.ESeal.Raw, f.seal) || !bytes.Equal(s.Cert, f.signerCert) {
				t.Errorf("parsed signature differs: %+v", s.ToSign)
			}
			if tt.stamp == nil && s.TimeStamp.BitLength != 0 {
				t.Error("a time-stamp appeared")
			}
			if tt.stamp != nil && !bytes.Equal(s.TimeStamp.Bytes, append([]byte("token over "), s.Signature.Bytes...)) {
				t.Error("time-stamp is not over the signature value")
			}
			signer, maker, err := s.Verify()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(signer.Raw, f.signerCert) || !bytes.Equal(maker.Raw, f.makerCert) {
				t.Error("Verify returned other certificates")
			}
			again, err := asn1.Marshal(*s)
			if err != nil || !bytes.Equal(again, der) {
				t.Errorf("parsed signature does not marshal back to its DER (err %v)", err)
			}
		})
	}
}

// Every change to signed bytes, and every foreign part, is caught.
func TestVerifyRefuses(t *testing.T) {
	f := newFixture(t)
	hash := sm3.Sum([]byte("data"))
	der, err := Sign(f.seal, f.signerCert, f.signer, SignParams{Time: at, DataHash: hash[:], Property: "p"})
	if err != nil {
		t.Fatal(err)
	}
	other, otherCert := sm2Cert(t, "other")
	for _, tt := range []struct {
		name   string
		change func(s *Signature)
		want   error
	}{
		{"data hash", func(s *Signature) { s.ToSign.DataHash.Bytes[0] ^= 1; s.ToSign.Raw = nil }, ErrSignature},
		{"property", func(s *Signature) { s.ToSign.PropertyInfo = "q"; s.ToSign.Raw = nil }, ErrSignature},
		{"signature", func(s *Signature) { s.Signature.Bytes[len(s.Signature.Bytes)-1] ^= 1 }, ErrSignature},
		{"another signer certificate", func(s *Signature) { s.Cert = otherCert }, ErrSignature},
		{"algorithm", func(s *Signature) { s.SignatureAlgID = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2} }, ErrSignature},
		{"seal name, re-signed by the signer", func(s *Signature) {
			s.ToSign.ESeal.Info.Property.Name = "乙"
			s.ToSign.ESeal.Info.Raw, s.ToSign.ESeal.Raw, s.ToSign.Raw = nil, nil, nil
			resign(t, s, f.signer)
		}, ErrSignature},
		{"signer not listed in the seal", func(s *Signature) {
			s.Cert = otherCert
			resign(t, s, other)
		}, ErrSigner},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSignature(bytes.Clone(der))
			if err != nil {
				t.Fatal(err)
			}
			tt.change(s)
			s.Raw = nil // marshal the fields, not the parsed bytes
			changed, err := asn1.Marshal(*s)
			if err != nil {
				t.Fatal(err)
			}
			s, err = ParseSignature(changed)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.Verify(); !errors.Is(err, tt.want) {
				t.Errorf("Verify: %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := Sign(f.seal, otherCert, other, SignParams{Time: at, DataHash: hash[:]}); !errors.Is(err, ErrSigner) {
		t.Errorf("Sign with a certificate the seal does not list: %v", err)
	}
}

func resign(t *testing.T, s *Signature, key *sm2.PrivateKey) {
	tbs, err := asn1.Marshal(s.ToSign)
	if err != nil {
		t.Fatal(err)
	}
	s.ToSign.Raw = tbs
	if s.Signature, err = sm2Sign(key, tbs); err != nil {
		t.Fatal(err)
	}
}

func TestParseRefuses(t *testing.T) {
	f := newFixture(t)
	s, _ := ParseSeal(f.seal)
	v2 := *s
	v2.Info.Header.Version, v2.Info.Raw, v2.Raw = 2, nil, nil
	v2DER, _ := asn1.Marshal(v2)
	digests := *s
	digests.Info.Property.CertListType, digests.Info.Raw, digests.Raw = 2, nil, nil
	digestsDER, _ := asn1.Marshal(digests)
	for _, tt := range []struct {
		name string
		der  []byte
	}{
		{"empty", nil},
		{"trailing bytes", append(bytes.Clone(f.seal), 0)},
		{"truncated", f.seal[:len(f.seal)-1]},
		{"version 2", v2DER},
		{"certificate digests", digestsDER},
		{"too big", make([]byte, MaxDER+1)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseSeal(tt.der); !errors.Is(err, ErrFormat) {
				t.Errorf("ParseSeal: %v, want ErrFormat", err)
			}
			if _, err := ParseSignature(tt.der); !errors.Is(err, ErrFormat) {
				t.Errorf("ParseSignature: %v, want ErrFormat", err)
			}
		})
	}
}

// seed starts a fuzzer from a real, freshly signed structure.
func seed(f *testing.F, der func(fixture) []byte) { f.Add(der(newFixture(f))) }

func FuzzParseSESSeal(f *testing.F) {
	seed(f, func(fx fixture) []byte { return fx.seal })
	f.Fuzz(func(t *testing.T, der []byte) {
		s, err := ParseSeal(der)
		if err != nil {
			return
		}
		s.VerifyMaker()
		if again, err := asn1.Marshal(*s); err != nil || !bytes.Equal(again, der) {
			t.Errorf("a parsed seal does not marshal back to its DER (err %v)", err)
		}
	})
}

func FuzzParseSESSignature(f *testing.F) {
	seed(f, func(fx fixture) []byte {
		der, err := Sign(fx.seal, fx.signerCert, fx.signer, SignParams{Time: at, DataHash: make([]byte, 32), Property: "p"})
		if err != nil {
			f.Fatal(err)
		}
		return der
	})
	f.Fuzz(func(t *testing.T, der []byte) {
		s, err := ParseSignature(der)
		if err != nil {
			return
		}
		s.Verify()
		if again, err := asn1.Marshal(*s); err != nil || !bytes.Equal(again, der) {
			t.Errorf("a parsed signature does not marshal back to its DER (err %v)", err)
		}
	})
}
