// Command driver signs a PDF with pdfsign as certseal does (a visible
// approval signature with an image, RSA, SHA-256, no time-stamp, no DSS),
// with the patch hooks unused, so that the patched copy's output can be
// compared with upstream's. The test builds it twice: against upstream and
// against internal/third_party/pdfsign.
//
//	driver IN.pdf KEY.der CERT.der IMAGE.png OUT.pdf
package main

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"log"
	"os"
	"time"

	"github.com/digitorus/pdf"
	"github.com/digitorus/pdfsign/sign"
)

func main() {
	if len(os.Args) != 6 {
		log.Fatal("usage: driver IN.pdf KEY.der CERT.der IMAGE.png OUT.pdf")
	}
	in, keyDER, certDER, img := read(os.Args[1]), read(os.Args[2]), read(os.Args[3]), read(os.Args[4])
	key, err := x509.ParsePKCS8PrivateKey(keyDER)
	if err != nil {
		log.Fatal(err)
	}
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		log.Fatal(err)
	}
	rdr, err := pdf.NewReader(bytes.NewReader(in), int64(len(in)))
	if err != nil {
		log.Fatal(err)
	}
	var out bytes.Buffer
	err = sign.Sign(bytes.NewReader(in), &out, rdr, int64(len(in)), sign.SignData{
		Signature: sign.SignDataSignature{
			CertType: sign.ApprovalSignature,
			Info: sign.SignDataSignatureInfo{Name: "Seal NTRCN-TEST v1", Reason: "Certificate issued by TEST",
				Date: time.Date(2026, 1, 15, 9, 30, 0, 0, time.UTC)},
		},
		Signer:            key.(crypto.Signer),
		DigestAlgorithm:   crypto.SHA256,
		Certificate:       cert,
		CertificateChains: [][]*x509.Certificate{{cert}},
		Appearance: appearance(sign.Appearance{Visible: true, Page: 1, LowerLeftX: 400, LowerLeftY: 100, UpperRightX: 520, UpperRightY: 220,
			Image: img}),
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(os.Args[5], out.Bytes(), 0o600); err != nil {
		log.Fatal(err)
	}
}

// appearance is the appearance as given; built with -tags prepared (only
// against the patched copy) it uses patch 1's prepared image instead.
var appearance = func(a sign.Appearance) sign.Appearance { return a }

func read(name string) []byte {
	b, err := os.ReadFile(name)
	if err != nil {
		log.Fatal(err)
	}
	return b
}
