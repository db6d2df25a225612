package signer

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	_ "embed"
	"encoding/base32"
	"errors"
	"fmt"
	"time"

	"github.com/certseal/certseal/keys"
	"github.com/certseal/certseal/registry"
)

// Fields a receipt template places (besides FieldNumber and FieldName).
const (
	FieldReceiptSerial = "receipt_serial"
	FieldStatus        = "status"
	FieldUnit          = "unit"
	FieldSeal          = "seal"
	FieldVerifiedAt    = "verified_at"
	FieldReceiptURL    = "receipt_url" // printed and in the QR code
)

// ReceiptTitle must appear among a receipt template's texts.
const ReceiptTitle = "验证回执"

var receiptLayout = layoutKind{
	fields:   []string{FieldReceiptSerial, FieldNumber, FieldName, FieldStatus, FieldUnit, FieldSeal, FieldVerifiedAt, FieldReceiptURL},
	mustText: ReceiptTitle,
}

//go:embed templates/receipt.json
var receiptTemplateJSON []byte

// NewReceiptRenderer draws verification receipts with the embedded receipt
// layout (templates/receipt.json) in the certificates' font.
func NewReceiptRenderer(fontTTF []byte) (*Renderer, error) {
	t, err := parseTemplate(receiptTemplateJSON, receiptLayout)
	if err != nil {
		return nil, fmt.Errorf("signer: receipt template: %w", err)
	}
	return newRenderer(t, fontTTF, receiptLayout)
}

// ReceiptPath is where a receipt is verified: {base}/r/{serial}.
const ReceiptPath = "/r/"

// RenderReceipt draws one receipt; url is its own verification address.
func (r *Renderer) RenderReceipt(rc registry.Receipt, statusText, url string) ([]byte, error) {
	if r.kind.photo {
		return nil, errors.New("signer: this renderer draws certificates, not receipts")
	}
	blocks, err := r.layoutValues(map[string]string{
		FieldReceiptSerial: rc.Serial,
		FieldNumber:        rc.Number + fmt.Sprintf("（第 %d 版）", rc.Version),
		FieldName:          rc.HolderName,
		FieldStatus:        statusText,
		FieldUnit:          rc.Unit,
		FieldSeal:          fmt.Sprintf("第 %d 版职称专用章", rc.SealVersion),
		FieldVerifiedAt:    rc.VerifiedAt.In(registry.ChinaTZ).Format("2006-01-02 15:04:05") + "（北京时间）",
		FieldReceiptURL:    url,
	})
	if err != nil {
		return nil, err
	}
	return r.draw(blocks, url, nil)
}

// PlatformKey is the platform's document signer (keys.DocSigner).
type PlatformKey interface {
	Signer() crypto.Signer
	Chain() []*x509.Certificate // its certificate first, then the issuing CA
}

// SignPlatform signs a PDF the platform itself vouches for (a receipt)
// with its document signer: an invisible approval signature, time-stamped
// when tsa is set, with dss in the signed revision when set.
func SignPlatform(ctx context.Context, unsigned []byte, key PlatformKey, at time.Time, tsa Timestamper, trust keys.TimestampTrust, dss *DSS) (Signed, error) {
	chain := key.Chain()
	return signDocument(ctx, unsigned, docSigning{signer: key.Signer(), cert: chain[0], chain: chain[1:], time: at,
		name: "certseal platform", reason: "Verification receipt", tsa: tsa, tsaTrust: trust, dss: dss})
}

// Receipts makes signed verification receipts.
type Receipts struct {
	d ReceiptsDeps
}

// ReceiptsDeps is what Receipts work with. TSA and Revocation are
// optional, as for certificates.
type ReceiptsDeps struct {
	Store      registry.Store
	Renderer   *Renderer // NewReceiptRenderer
	Key        PlatformKey
	TSA        Timestamper
	TSATrust   keys.TimestampTrust
	TSACerts   []*x509.Certificate
	Revocation Revocation
	BaseURL    string // of the receipts' addresses ({base}/r/{serial})
	Now        func() time.Time
}

// NewReceipts wires the receipt maker.
func NewReceipts(d ReceiptsDeps) *Receipts { return &Receipts{d: d} }

// IssuedReceipt is a recorded receipt in its two signed forms.
type IssuedReceipt struct {
	Receipt registry.Receipt
	URL     string
	PDF     []byte
	JWS     string
}

// Issue signs and records a receipt of what a verification found (rc's
// Number, Version, HolderName, Status, SealVersion, Unit, Kind and
// VerifiedAt); it gives it a serial. statusText is the status in words.
func (rs *Receipts) Issue(ctx context.Context, rc registry.Receipt, statusText, requestID string) (IssuedReceipt, error) {
	serial, err := newReceiptSerial()
	if err != nil {
		return IssuedReceipt{}, err
	}
	rc.Serial, rc.RequestID = serial, requestID
	url := rs.d.BaseURL + ReceiptPath + serial
	unsigned, err := rs.d.Renderer.RenderReceipt(rc, statusText, url)
	if err != nil {
		return IssuedReceipt{}, err
	}
	var dss *DSS
	if rs.d.Revocation != nil {
		chain := rs.d.Key.Chain()
		dss = &DSS{}
		if err := dss.addVouched(rs.d.Revocation, append(chain[:len(chain):len(chain)], rs.d.TSACerts...)); err != nil {
			return IssuedReceipt{}, err
		}
	}
	signed, err := SignPlatform(ctx, unsigned, rs.d.Key, rs.d.Now(), rs.d.TSA, rs.d.TSATrust, dss)
	if err != nil {
		return IssuedReceipt{}, err
	}
	jws, err := SignReceiptJWS(rs.d.Key, rc)
	if err != nil {
		return IssuedReceipt{}, err
	}
	// Through the commands' Writer, as every write; a receipt changes
	// nothing kept elsewhere, so it notes no change.
	err = registry.Writing(rs.d.Store).Write(ctx, func(tx registry.Tx, _ *registry.Changes) error {
		if err := tx.CreateReceipt(ctx, &rc, signed.PDF, jws); err != nil {
			return err
		}
		return appendEvent(ctx, tx, Request{Actor: "public", RequestID: requestID}, "receipt.sign", rc.Number, map[string]any{
			"serial": rc.Serial, "number": rc.Number, "version": rc.Version, "status": rc.Status,
			"pdf_sha256": fmt.Sprintf("%x", signed.SHA256), "jws_sha256": fmt.Sprintf("%x", rc.JWSSHA256),
		})
	})
	if err != nil {
		return IssuedReceipt{}, err
	}
	return IssuedReceipt{Receipt: rc, URL: url, PDF: signed.PDF, JWS: jws}, nil
}

// newReceiptSerial is 80 random bits in four groups of base32: printed on
// the receipt and in its address, and not guessable, since the address
// shows the holder's name.
func newReceiptSerial() (string, error) {
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("signer: receipt serial: %w", err)
	}
	s := base32.StdEncoding.EncodeToString(b) // 16 characters, no padding
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16], nil
}
