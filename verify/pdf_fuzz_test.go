package verify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"path/filepath"
	"testing"
	"time"

	"github.com/certseal/certseal/keys"
)

// FuzzCheckPDF feeds CheckPDF mutations of signed PDFs: it must always
// answer with a well-formed verdict, never panic or hang, and pass nothing
// but a file the fixture seal signed.
func FuzzCheckPDF(f *testing.F) {
	fx := newPDFFixtures(f)
	br, _ := byteRangeOf(f, fx.good)
	// A signature with a time-stamp token, so the unsigned attributes and
	// the token check are fuzzed too.
	tsaCA, err := keys.LoadOrCreateDevCA(filepath.Join(f.TempDir(), "pki"), nil, time.Now())
	if err != nil {
		f.Fatal(err)
	}
	tsaDir := f.TempDir()
	tsa, err := keys.OpenTSA(filepath.Join(tsaDir, "t.crt"), filepath.Join(tsaDir, "t.key"), tsaCA, "https://x.example", true, nil, nil)
	if err != nil {
		f.Fatal(err)
	}
	stamped := signPDFStamped(f, fx.unsigned, fx.key, fx.seal, fx.chain(), crypto.SHA256,
		func(req []byte) ([]byte, error) { return tsa.Stamp(context.Background(), req) })
	for _, seed := range [][]byte{
		fx.good,
		stamped,
		fx.unsigned,
		append(bytes.Clone(fx.good), "\n% later\n"...),
		signPDF(f, fx.good, fx.key, fx.seal, fx.chain(), crypto.SHA256),
		signPDF(f, fx.unsigned, fx.key, fx.seal, nil, crypto.SHA512),
		fx.good[:br[1]+40],
		fx.good[br[1]-200:], // the signature dictionary without the header
		[]byte("%PDF-1.7\n<< /Type /Sig /ByteRange [0 1 2 3] /Contents <00> >>"),
		[]byte("%PDF-\n<< /ByteRange [0 10 20 30] /Contents <3003020100> /SubFilter /adbe.pkcs7.detached >>"),
	} {
		f.Add(seed)
	}
	trust := fx.ca.trust()
	serial := fx.seal.SerialNumber.Text(16)
	f.Fuzz(func(t *testing.T, pdf []byte) {
		got := CheckPDF(context.Background(), pdf, trust)
		switch got.Indication {
		case Passed, Failed, Indeterminate:
		default:
			t.Fatalf("indication %q", got.Indication)
		}
		if (got.Indication == Passed) != (got.SubIndication == "") || got.Message == "" {
			t.Fatalf("malformed verdict %+v", got)
		}
		if got.SHA256 != sha256.Sum256(pdf) {
			t.Fatal("SHA256 is not the file's")
		}
		if got.Indication == Passed && (got.Signatures != 1 || got.SealSerial != serial || got.SigningTime.IsZero()) {
			t.Fatalf("passed without the fixture seal's one signature: %+v", got)
		}
	})
}
