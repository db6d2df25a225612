package sign

import (
	"crypto"
	"crypto/x509"
	"io"
	"time"

	"github.com/digitorus/pdf"
	"github.com/digitorus/pdfsign/revocation"
	"github.com/mattetti/filebuffer"
)

type CatalogData struct {
	ObjectId   uint32
	RootString string
}

type TSA struct {
	URL      string
	Username string
	Password string

	// Stamp, when set, is used instead of an HTTP request to URL: it
	// answers a DER TimeStampReq with a DER TimeStampResp (certseal
	// patch: certseal's own TSA runs in process, without an HTTP hop).
	// The token in a granted answer is embedded as it is, its signature
	// unchecked: the caller checks it in the signed file, against its own
	// trust (certseal patch 7).
	Stamp func(request []byte) ([]byte, error)
	// ReserveBytes is the space reserved for the token (0: 9000). (certseal
	// patch: its tokens take about 2 KB, and the reservation is hashed
	// with every signature.)
	ReserveBytes int
}

func (t TSA) enabled() bool { return t.URL != "" || t.Stamp != nil }

// DSS is revocation data for the Document Security Store (ETSI EN
// 319 142-1, 5.4.2), DER each. (certseal patch.) When set, the revision
// that holds the signature also writes these as streams and points the
// catalog's /DSS at them, carrying over the entries of a DSS the file
// already has; the signature (or document timestamp) then covers them.
type DSS struct {
	Certs, OCSPs, CRLs [][]byte
}

type RevocationFunction func(cert, issuer *x509.Certificate, i *revocation.InfoArchival) error

type SignData struct {
	Signature          SignDataSignature
	Signer             crypto.Signer
	DigestAlgorithm    crypto.Hash
	Certificate        *x509.Certificate
	CertificateChains  [][]*x509.Certificate
	TSA                TSA
	RevocationData     revocation.InfoArchival
	RevocationFunction RevocationFunction
	Appearance         Appearance
	DSS                *DSS // certseal patch, see DSS

	dssObjectID uint32

	objectId uint32
}

// Appearance represents the appearance of the signature
type Appearance struct {
	Visible bool

	Page        uint32
	LowerLeftX  float64
	LowerLeftY  float64
	UpperRightX float64
	UpperRightY float64

	Image            []byte // Image data to use as signature appearance
	ImageAsWatermark bool   // If true, the text will be drawn over the image

	// Prepared, when set, is used instead of Image: the image decoded
	// and compressed once by PrepareImage, for any number of signatures.
	// (certseal patch: decoding and compressing the image took half the
	// CPU of signing a one-page certificate.)
	Prepared *PreparedImage
}

type VisualSignData struct {
	pageObjectId uint32
	objectId     uint32
}

type InfoData struct {
	ObjectId uint32
}

//go:generate stringer -type=CertType
type CertType uint

const (
	CertificationSignature CertType = iota + 1
	ApprovalSignature
	UsageRightsSignature
	TimeStampSignature
)

//go:generate stringer -type=DocMDPPerm
type DocMDPPerm uint

const (
	DoNotAllowAnyChangesPerms DocMDPPerm = iota + 1
	AllowFillingExistingFormFieldsAndSignaturesPerms
	AllowFillingExistingFormFieldsAndSignaturesAndCRUDAnnotationsPerms
)

type SignDataSignature struct {
	CertType   CertType
	DocMDPPerm DocMDPPerm
	Info       SignDataSignatureInfo
}

type SignDataSignatureInfo struct {
	Name        string
	Location    string
	Reason      string
	ContactInfo string
	Date        time.Time
}

type SignContext struct {
	InputFile              io.ReadSeeker
	OutputFile             io.Writer
	OutputBuffer           *filebuffer.Buffer
	SignData               SignData
	CatalogData            CatalogData
	VisualSignData         VisualSignData
	InfoData               InfoData
	PDFReader              *pdf.Reader
	NewXrefStart           int64
	ByteRangeValues        []int64
	SignatureMaxLength     uint32
	SignatureMaxLengthBase uint32

	existingSignatures []SignData
	lastXrefID         uint32
	newXrefEntries     []xrefEntry
	updatedXrefEntries []xrefEntry
}
