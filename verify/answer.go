package verify

import (
	"bytes"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/certseal/certseal/registry"
)

// Indications, as ETSI EN 319 102-1 names the outcome of a validation.
const (
	Passed        = "passed"
	Failed        = "failed"
	Indeterminate = "indeterminate"
)

// Answer is what the public learns about one certificate version.
type Answer struct {
	Indication        string             `json:"indication"`
	SubIndication     string             `json:"sub_indication,omitempty"`
	Status            registry.CertState `json:"status"`
	StatusText        string             `json:"status_text"`
	Detail            string             `json:"detail,omitempty"`
	Number            string             `json:"number,omitempty"`
	Version           int                `json:"version,omitempty"`
	CurrentVersion    int                `json:"current_version,omitempty"`
	Name              string             `json:"name,omitempty"`
	Gender            registry.Gender    `json:"gender,omitempty"`
	MaskedIDNumber    string             `json:"id_number_masked,omitempty"`
	Series            string             `json:"series,omitempty"`
	Specialty         string             `json:"specialty,omitempty"`
	Level             registry.Level     `json:"level,omitempty"`
	Post              string             `json:"post,omitempty"`
	TermFrom          registry.Date      `json:"term_from,omitzero"`
	TermTo            registry.Date      `json:"term_to,omitzero"`
	Unit              string             `json:"unit,omitempty"`
	Committee         string             `json:"committee,omitempty"`
	PublicationNumber string             `json:"publication_number,omitempty"`
	SealVersion       int                `json:"seal_version,omitempty"`
	SealState         registry.SealState `json:"seal_state,omitempty"`
	IssuedAt          *time.Time         `json:"issued_at,omitempty"`
	RevokedAt         *time.Time         `json:"revoked_at,omitempty"`
	RevokeCategory    string             `json:"revoke_category,omitempty"`
	ServerTime        time.Time          `json:"server_time"`
	Platform          string             `json:"platform"`

	photo []byte // only on the QR (token) page, never in JSON
}

var statusText = map[registry.CertState]string{
	registry.CertValid:      "有效",
	registry.CertRevoked:    "已撤销",
	registry.CertExpired:    "已过期",
	registry.CertSuperseded: "已更正",
	registry.CertUnknown:    "不存在",
}

var categoryText = map[registry.RevokeCategory]string{
	registry.RevokeError:   "误发",
	registry.RevokeForgery: "伪造",
	registry.RevokeTamper:  "篡改",
	registry.RevokeAbuse:   "滥用",
	registry.RevokeOther:   "其他",
}

var sealStateText = map[registry.SealState]string{
	registry.SealActive:     "在用",
	registry.SealSuperseded: "已变更（签发时有效）",
	registry.SealRevoked:    "已注销",
}

// unknownAnswer is the one answer for every lookup that finds nothing,
// whatever the reason, so numbers cannot be enumerated.
func unknownAnswer(platform string, now time.Time) Answer {
	return Answer{Indication: Failed, SubIndication: "NOT_FOUND", Status: registry.CertUnknown,
		StatusText: statusText[registry.CertUnknown], Detail: "未找到与所填信息相符的证书。请核对证书编号与姓名，或扫描证书上的二维码。",
		ServerTime: now, Platform: platform}
}

// answerFor applies the status rules of DESIGN.md §7 to one version.
// current is the newest version of the same number.
func answerFor(c registry.Certificate, current int, unit registry.Unit, seal registry.Seal, platform string, now time.Time) Answer {
	status := registry.CertStatusOn(c, registry.Today(now))
	issued := c.IssuedAt
	a := Answer{Status: status, Number: c.Number, Version: c.Version, Name: c.Appointment.Name, Gender: c.Appointment.Gender,
		MaskedIDNumber: registry.MaskIDNumber(c.Appointment.IDNumber), Series: c.Appointment.Series,
		Specialty: c.Appointment.Specialty, Level: c.Appointment.Level, Post: c.Appointment.Post,
		TermFrom: c.Appointment.TermFrom, TermTo: c.Appointment.TermTo, Unit: unit.Name, Committee: c.Appointment.Committee,
		PublicationNumber: c.Appointment.PublicationNumber, SealVersion: seal.Version, SealState: seal.State, IssuedAt: &issued,
		ServerTime: now, Platform: platform, photo: c.Appointment.Photo}
	switch status {
	case registry.CertValid:
		a.Indication = Passed
	case registry.CertRevoked:
		a.Indication, a.SubIndication = Failed, "REVOKED"
		a.RevokedAt, a.RevokeCategory = c.RevokedAt, string(c.Category)
		a.Detail = fmt.Sprintf("该证书已于 %s 撤销（%s）。", localDay(c.RevokedAt), categoryText[c.Category])
	case registry.CertExpired:
		a.Indication, a.SubIndication = Failed, "EXPIRED"
		a.Detail = "聘期已于 " + c.Appointment.TermTo.String() + " 结束。"
	case registry.CertSuperseded:
		a.Indication, a.SubIndication = Failed, "SUPERSEDED"
		a.CurrentVersion = current
		a.Detail = fmt.Sprintf("该证书已更正，现行为第 %d 版，本版本不再有效。请向持证人索取新版证书。", current)
	}
	// A compromised seal key takes down what it signed from the suspected
	// date on; the certificate itself may still be valid on record.
	if a.Indication == Passed && !registry.SignatureTrusted(seal, c.IssuedAt) {
		a.Indication, a.SubIndication, a.Status = Failed, "SEAL_KEY_COMPROMISED", registry.CertRevoked
		a.Detail = "签发该证书的电子印章密钥已注销（疑似泄露），本证书不再可信。"
	}
	a.StatusText = statusText[a.Status]
	return a
}

func localDay(t *time.Time) string {
	if t == nil {
		return ""
	}
	return registry.Today(*t).String()
}

//go:embed templates/page.html
var pageHTML string

var pageTemplate = template.Must(template.New("page").Parse(pageHTML))

// pageView adds what only the HTML page needs.
type pageView struct {
	Answer
	PhotoDataURI   template.URL
	SealStateText  string
	IssuedAtText   string
	ServerTimeText string
	OfferPDF       bool
	TokenPage      bool // the QR code's page: a receipt form posts back to it
}

// Format of a rendered answer. Which one a request gets is internal/api's
// decision (answerFormat), made once for the answer and its problems.
type Format int

const (
	HTML Format = iota
	JSON
)

// ContentType of a format.
func (f Format) ContentType() string {
	if f == JSON {
		return "application/json; charset=utf-8"
	}
	return "text/html; charset=utf-8"
}

// render writes an answer in a format. withPhoto puts the photo on the HTML
// page (QR lookups only), offerPDF the button that downloads the PDF.
func render(a Answer, f Format, withPhoto, offerPDF bool) ([]byte, error) {
	if f == JSON {
		b, err := json.Marshal(a)
		return append(b, '\n'), err // as the API's own answers end, so curl output ends its line
	}
	v := pageView{Answer: a, SealStateText: sealStateText[a.SealState], OfferPDF: offerPDF, TokenPage: withPhoto,
		ServerTimeText: a.ServerTime.In(registry.ChinaTZ).Format("2006-01-02 15:04:05")}
	if a.IssuedAt != nil {
		v.IssuedAtText = a.IssuedAt.In(registry.ChinaTZ).Format("2006-01-02 15:04")
	}
	if withPhoto && len(a.photo) > 0 {
		v.PhotoDataURI = template.URL("data:" + http.DetectContentType(a.photo) + ";base64," + base64.StdEncoding.EncodeToString(a.photo))
	}
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, v); err != nil {
		return nil, fmt.Errorf("verify: render page: %w", err)
	}
	return b.Bytes(), nil
}
