package signer

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"image"
	"image/color"
	"image/png"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certseal/certseal/keys"
	"github.com/certseal/certseal/registry"
)

func renderSample(t testing.TB) (*Renderer, []byte) {
	t.Helper()
	r := testRenderer(t)
	pdf, err := r.Render(testDocument(t))
	if err != nil {
		t.Fatal(err)
	}
	return r, pdf
}

// contentsSpace returns the reserved /Contents hex length and the hex
// length of the CMS actually written into it.
func contentsSpace(t *testing.T, signed []byte) (reserved, used int) {
	t.Helper()
	m := regexp.MustCompile(`/Contents<([0-9a-fA-F]+)>`).FindSubmatch(signed)
	if m == nil {
		t.Fatal("no /Contents hex string")
	}
	h := m[1]
	return len(h), len(bytes.TrimRight(h, "0"))
}

// Every supported key type signs with only crypto.Signer (opaqueSigner),
// and the reservation holds the signature with room to spare.
func TestSignKeyTypes(t *testing.T) {
	r, unsigned := renderSample(t)
	for _, tc := range []struct {
		name     string
		ca, seal keyKind
	}{
		{"ECDSA P-256 chain", keyECDSA, keyECDSA},
		{"RSA-2048 chain", keyRSA2048, keyRSA2048},
		{"ECDSA CAs, RSA-4096 seal", keyECDSA, keyRSA4096},
		{"RSA-2048 CAs, ECDSA seal", keyRSA2048, keyECDSA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newTestPKI(t, tc.ca, tc.seal, "https://certseal.example.cn/pki/ocsp")
			s := p.signing(t, r)
			s.Chain = append(s.Chain, p.root) // with the root as well
			signed, err := Sign(context.Background(), unsigned, s)
			if err != nil {
				t.Fatal(err)
			}
			if signed.SHA256 != sha256.Sum256(signed.PDF) {
				t.Error("SHA256 is not the digest of the PDF")
			}
			if !bytes.HasPrefix(signed.PDF, unsigned) {
				t.Error("the signature is not an incremental update of the rendered PDF")
			}
			if err := checkSigned(signed.PDF, p.seal, false, keys.TimestampTrust{}); err != nil {
				t.Fatal(err)
			}
			reserved, used := contentsSpace(t, signed.PDF)
			t.Logf("CMS %d bytes in %d reserved", used/2, reserved/2)
			if used+200 > reserved {
				t.Errorf("CMS of %d hex digits leaves under 100 bytes of the %d reserved", used, reserved)
			}
		})
	}
}

func TestSignatureDictionaryIsASCII(t *testing.T) {
	r, unsigned := renderSample(t)
	p := newTestPKI(t, keyECDSA, keyECDSA, "")
	s := p.signing(t, r)
	s.SealVersion = 3
	signed, err := Sign(context.Background(), unsigned, s)
	if err != nil {
		t.Fatal(err)
	}
	upd := signed.PDF[len(unsigned):]
	for _, want := range []string{
		"/Name (Seal NTRCN-" + testUSCC + " v3)",
		"/Reason (Certificate issued by " + testUSCC + ")",
		"/SubFilter /adbe.pkcs7.detached",
		"/TransformMethod /FieldMDP", // approval, not certification (DocMDP)
	} {
		if !bytes.Contains(upd, []byte(want)) {
			t.Errorf("signature update lacks %s", want)
		}
	}
	if bytes.Contains(upd, []byte("/DocMDP")) {
		t.Error("a certification signature was written")
	}
}

func TestSignRefuses(t *testing.T) {
	r, unsigned := renderSample(t)
	p := newTestPKI(t, keyECDSA, keyECDSA, "")
	other := newTestPKI(t, keyECDSA, keyECDSA, "")
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	// An Issuer's memo of chain checks, warm with this PKI's chain, must
	// not let a wrong chain through.
	warm := &issuedPairs{}
	good := p.signing(t, r)
	good.issued = warm
	if err := good.check(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(s *SealSigning)
		want string
	}{
		{"another key", func(s *SealSigning) { s.Signer = opaqueSigner{other.sealKey} }, "not the seal certificate's key"},
		{"Ed25519 key", func(s *SealSigning) { s.Signer = edKey }, "not the seal certificate's key"},
		{"no appearance", func(s *SealSigning) { s.Appearance = nil }, "no seal appearance"},
		{"USCC with Chinese", func(s *SealSigning) { s.USCC = "统一社会信用代码" }, "USCC"},
		{"USCC with a parenthesis", func(s *SealSigning) { s.USCC = "91370000MA3C5XY(1)" }, "USCC"},
		{"no version", func(s *SealSigning) { s.SealVersion = 0 }, "seal version"},
		{"before the certificate", func(s *SealSigning) { s.Time = p.seal.NotBefore.Add(-time.Hour) }, "outside the seal certificate's validity"},
		{"after the certificate", func(s *SealSigning) { s.Time = p.seal.NotAfter.Add(time.Hour) }, "outside the seal certificate's validity"},
		{"chain of another CA", func(s *SealSigning) { s.Chain = []*x509.Certificate{other.issuing} }, "chain[0] did not issue"},
		{"chain out of order", func(s *SealSigning) { s.Chain = []*x509.Certificate{p.root, p.issuing} }, "chain[0] did not issue"},
		{"empty rectangle", func(s *SealSigning) { s.Rect = Rect{} }, "seal rectangle"},
		{"CA certificate as seal", func(s *SealSigning) {
			s.Certificate, s.Signer, s.Chain = p.issuing, opaqueSigner{p.issuingKey}, []*x509.Certificate{p.root}
		}, "digitalSignature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, memo := range []*issuedPairs{nil, warm} {
				s := p.signing(t, r)
				s.issued = memo
				tc.edit(&s)
				_, err := Sign(context.Background(), unsigned, s)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("memo %v: error %v, want one mentioning %q", memo != nil, err, tc.want)
				}
			}
		})
	}
	if _, err := Sign(context.Background(), []byte("%PDF-1.7\nnot really"), p.signing(t, r)); err == nil {
		t.Error("signed something that is not a PDF")
	}
}

func TestSignatureReserve(t *testing.T) {
	p := newTestPKI(t, keyECDSA, keyRSA2048, "")
	if n, err := signatureReserve(p.sealKey.Public()); err != nil || n != 1024+256 {
		t.Errorf("RSA-2048: %d, %v", n, err)
	}
	ec := newTestPKI(t, keyECDSA, keyECDSA, "").sealKey.Public().(*ecdsa.PublicKey)
	if n, err := signatureReserve(ec); err != nil || n < 1024+72 {
		t.Errorf("P-256: %d, %v", n, err)
	}
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := signatureReserve(pub); err == nil {
		t.Error("Ed25519 accepted")
	}
}

// checkSigned catches what a broken or altered file looks like.
func TestCheckSignedCatches(t *testing.T) {
	r, unsigned := renderSample(t)
	p := newTestPKI(t, keyECDSA, keyECDSA, "")
	signed, err := Sign(context.Background(), unsigned, p.signing(t, r))
	if err != nil {
		t.Fatal(err)
	}
	good := signed.PDF
	contents := bytes.Index(good, []byte("/Contents<")) + len("/Contents<")
	other := newTestPKI(t, keyECDSA, keyECDSA, "")
	for _, tc := range []struct {
		name string
		file []byte
		cert *x509.Certificate
		want string
	}{
		{"byte changed in the page content", tamper(t, good), p.seal, "does not verify"},
		{"byte changed in the signature", flip(good, contents+200), p.seal, ""},
		{"bytes appended", append(bytes.Clone(good), "\n% more\n"...), p.seal, "does not cover"},
		{"truncated", good[:len(good)-20], p.seal, ""},
		{"unsigned", unsigned, p.seal, "no signature field"},
		{"signed by another certificate", good, other.seal, "not by the seal certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkSigned(tc.file, tc.cert, false, keys.TimestampTrust{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	if err := checkSigned(good, p.seal, false, keys.TimestampTrust{}); err != nil {
		t.Fatalf("good file refused: %v", err)
	}
	// The gap must be the signature's own /Contents: moving the ByteRange
	// elsewhere is caught even if it still spans the file.
	br := regexp.MustCompile(`/ByteRange \[0 (\d+) (\d+) (\d+)\]`).FindSubmatchIndex(good)
	moved := bytes.Clone(good)
	copy(moved[br[0]:br[1]], fixedWidth(string(good[br[0]:br[1]]), "/ByteRange [0 10 20 "+strconv.Itoa(len(good)-20)+"]"))
	if err := checkSigned(moved, p.seal, false, keys.TimestampTrust{}); err == nil {
		t.Error("a ByteRange that leaves out other bytes was accepted")
	}
}

func flip(b []byte, i int) []byte {
	out := bytes.Clone(b)
	out[i] ^= 0x01
	if out[i] == '>' || out[i] == '<' {
		out[i] ^= 0x03
	}
	return out
}

func fixedWidth(old, repl string) string {
	return repl + strings.Repeat(" ", len(old)-len(repl))
}

func TestPrepareAppearance(t *testing.T) {
	a := testAppearance(t)
	w, h := a.Size()
	if w != appearanceSide && h != appearanceSide || w > appearanceSide || h > appearanceSide {
		t.Errorf("prepared seal is %dx%d", w, h)
	}
	img, err := png.Decode(bytes.NewReader(a.PNG()))
	if err != nil {
		t.Fatal(err)
	}
	// pdfsign writes an SMask only for *image.NRGBA / *image.RGBA.
	n, ok := img.(*image.NRGBA)
	if !ok {
		t.Fatalf("prepared seal decodes as %T, want *image.NRGBA", img)
	}
	var clear, ink int
	for i := 3; i < len(n.Pix); i += 4 {
		switch n.Pix[i] {
		case 0:
			clear++
		case 255:
			ink++
		default:
			t.Fatalf("alpha %d: want only 0 or 255", n.Pix[i])
		}
	}
	if clear == 0 || ink == 0 {
		t.Errorf("%d transparent and %d ink pixels", clear, ink)
	}
	// Corners of a round seal are clear; the centre (the star) is ink.
	if n.NRGBAAt(0, 0).A != 0 || n.NRGBAAt(w/2, h/2).A != 255 {
		t.Error("a round seal's corner is not clear or its centre not ink")
	}

	// A scan on white paper: the white becomes transparent, the ink is
	// cropped to.
	scan := image.NewRGBA(image.Rect(0, 0, 800, 700))
	for i := range scan.Pix {
		scan.Pix[i] = 0xFF
	}
	for y := 200; y < 360; y++ {
		for x := 300; x < 540; x++ {
			scan.Set(x, y, color.RGBA{0xC0, 0x10, 0x10, 0xFF})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, scan); err != nil {
		t.Fatal(err)
	}
	sa, err := PrepareAppearance(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if w, h := sa.Size(); w != 240 || h != 160 {
		t.Errorf("scan cropped to %dx%d, want 240x160", w, h)
	}

	// Large imprints are scaled down.
	big := image.NewNRGBA(image.Rect(0, 0, 1000, 1000))
	for i := 0; i < len(big.Pix); i += 4 {
		copy(big.Pix[i:], []byte{0xD0, 0x16, 0x1B, 0xFF})
	}
	buf.Reset()
	if err := png.Encode(&buf, big); err != nil {
		t.Fatal(err)
	}
	ba, err := PrepareAppearance(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if w, h := ba.Size(); w != appearanceSide || h != appearanceSide {
		t.Errorf("1000 px imprint prepared at %dx%d, want %dx%[3]d", w, h, appearanceSide)
	}
}

func TestPrepareAppearanceRefuses(t *testing.T) {
	blank := image.NewNRGBA(image.Rect(0, 0, 200, 200))
	var buf bytes.Buffer
	if err := png.Encode(&buf, blank); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "is missing"},
		{"JPEG", readTestdata(t, "photo.jpg"), "must be a PNG"},
		{"nothing drawn", buf.Bytes(), "shows no imprint"},
		{"too small", encodePNG(t, 32, 32), "each side must be"},
		{"header claims a huge image", pngClaiming(t, 50000, 50000), "each side must be"},
		{"truncated", buf.Bytes()[:len(buf.Bytes())-30], "damaged PNG"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := PrepareAppearance(tc.b)
			if registry.CodeOf(err) != registry.CodeInvalid || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "imprint_png") {
				t.Fatalf("error %v, want an invalid imprint_png error mentioning %q", err, tc.want)
			}
		})
	}
}

func FuzzPrepareAppearance(f *testing.F) {
	f.Add(readTestdata(f, "seal.png"))
	f.Add(encodePNG(f, 64, 64))
	f.Add(pngClaiming(f, 120, 300))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := PrepareAppearance(b)
		if err != nil {
			if registry.CodeOf(err) != registry.CodeInvalid {
				t.Fatalf("error is not an invalid-input error: %v", err)
			}
			return
		}
		if w, h := a.Size(); w < 1 || h < 1 || w > appearanceSide || h > appearanceSide {
			t.Fatalf("prepared size %dx%d", w, h)
		}
	})
}
