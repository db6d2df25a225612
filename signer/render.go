// Package signer turns an appointment into the one-page certificate PDF
// (template as data, embedded CJK font, photo, QR code) and signs it with
// the unit's seal: a visible PDF signature whose appearance is the seal
// imprint at 自主评聘单位（章）.
package signer

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/certseal/certseal/registry"
	"github.com/signintech/gopdf"
	qrcode "github.com/skip2/go-qrcode"
)

// Document is what one certificate prints.
type Document struct {
	// Appointment carries the holder's data and Photo. The ID number is
	// printed in full, as on the 式样: the certificate is the holder's own
	// document (the public verification page masks it). The photo must
	// have passed CheckPhoto: Render checks its format and size again but
	// does not decode a JPEG's pixels a second time.
	Appointment registry.Appointment
	Number      string // 证书编号
	VerifyURL   string // {base}/v/{number}?k={token}: printed under 证书查询 and encoded in the QR code
	// SealLine is an optional small line under the seal (for example which
	// seal version signed and when); printed only if the template places
	// the seal_line field.
	SealLine string
}

// Renderer draws certificates with one template and one font. It is safe
// for concurrent use; build one per template and reuse it: the font is
// parsed and the fixed texts are laid out once, here.
type Renderer struct {
	tpl     Template
	face    *face
	fonts   *gopdf.FontContainer
	spacing float64
	static  []block // titles, fixed lines and field labels
	fields  []fieldSlot
	kind    layoutKind
}

type fieldSlot struct {
	Field
	color rgb
	align align
}

const (
	fontFamily = "cert"
	// minQRModule is the smallest QR module printed: 0.4 mm, which phone
	// cameras read off an office print.
	minQRModule = 0.4 * 72 / 25.4
)

// NewRenderer validates the template against the font (every fixed text
// and label must be printable in it and fit its box) and prepares both.
// fontTTF is DefaultFont() unless the operator supplies another TrueType
// font.
func NewRenderer(t Template, fontTTF []byte) (*Renderer, error) {
	return newRenderer(t, fontTTF, certificateLayout)
}

func newRenderer(t Template, fontTTF []byte, kind layoutKind) (*Renderer, error) {
	if err := t.validate(kind); err != nil {
		return nil, fmt.Errorf("signer: template: %w", err)
	}
	fc, err := newFace(fontTTF)
	if err != nil {
		return nil, fmt.Errorf("signer: font: %w", err)
	}
	fonts := &gopdf.FontContainer{}
	if err := fonts.AddTTFFontData(fontFamily, fontTTF); err != nil {
		return nil, fmt.Errorf("signer: font: %w", err)
	}
	r := &Renderer{tpl: t, face: fc, fonts: fonts, spacing: t.lineSpacing(), kind: kind}
	for i, x := range t.Texts {
		b, err := r.layout(fmt.Sprintf("texts[%d]", i), x.Text, x.Box, x.Size, x.Align, x.Color)
		if err != nil {
			return nil, fmt.Errorf("signer: template: %w", err)
		}
		r.static = append(r.static, b)
	}
	for _, f := range t.Fields {
		if f.Label != "" {
			b, err := r.layout("label of "+f.Field, f.Label, f.LabelBox, f.labelSize(), "", f.Color)
			if err != nil {
				return nil, fmt.Errorf("signer: template: %w", err)
			}
			r.static = append(r.static, b)
		}
		c, _ := parseColor(f.Color) // validated above
		a, _ := parseAlign(f.Align)
		r.fields = append(r.fields, fieldSlot{Field: f, color: c, align: a})
	}
	return r, nil
}

// Template is (a copy of) the layout this renderer draws, for SealRect
// when signing.
func (r *Renderer) Template() Template {
	t := r.tpl
	t.Frames, t.Lines = slices.Clone(t.Frames), slices.Clone(t.Lines)
	t.Texts, t.Fields = slices.Clone(t.Texts), slices.Clone(t.Fields)
	return t
}

func (r *Renderer) layout(what, text string, b Box, size float64, al, color string) (block, error) {
	a, err := parseAlign(al)
	if err != nil {
		return block{}, err
	}
	c, err := parseColor(color)
	if err != nil {
		return block{}, err
	}
	out, err := r.face.fit(what, text, b, size, r.tpl.MinFontSize, r.spacing, a)
	out.color = c
	return out, err
}

// Render draws one certificate and returns the unsigned PDF. Bad input
// (a missing field, a character the font lacks, text too long for its box,
// a bad photo) is a *registry.Error naming the field.
func (r *Renderer) Render(doc Document) ([]byte, error) {
	blocks, err := r.layoutFields(doc, true)
	if err != nil {
		return nil, err
	}
	info, cfg, err := checkPhotoHeader(doc.Appointment.Photo)
	if err != nil {
		return nil, err
	}
	photo, err := photoForPDF(doc.Appointment.Photo, info, cfg)
	if err != nil {
		return nil, err
	}
	pb := fitBox(r.tpl.Photo, info.Width, info.Height)
	return r.draw(blocks, doc.VerifyURL, func(pdf *gopdf.GoPdf) error {
		holder, err := gopdf.ImageHolderByBytes(photo)
		if err != nil {
			return fmt.Errorf("signer: photo: %w", err)
		}
		if err := pdf.ImageByHolderWithOptions(holder, gopdf.ImageOptions{X: pb.X, Y: pb.Y, Rect: &gopdf.Rect{W: pb.W, H: pb.H}}); err != nil {
			return fmt.Errorf("signer: photo: %w", err)
		}
		return nil
	})
}

// draw makes the page: the template's decoration and fixed texts, the laid
// out values, extra (the photo; nil for none) and a QR code of qrText.
func (r *Renderer) draw(blocks []block, qrText string, extra func(*gopdf.GoPdf) error) ([]byte, error) {
	qr, err := qrcode.New(qrText, qrcode.Medium)
	if err != nil {
		return nil, registry.FieldErr(FieldVerifyURL, "cannot be put in a QR code: %v", err)
	}
	bits := qr.Bitmap()
	if m := min(r.tpl.QR.W, r.tpl.QR.H) / float64(len(bits)); m < minQRModule {
		return nil, registry.FieldErr(FieldVerifyURL, "is too long for a QR code readable from paper (%d characters)", len(qrText))
	}

	t := r.tpl
	pdf := &gopdf.GoPdf{}
	pdf.Start(gopdf.Config{Unit: gopdf.UnitPT, PageSize: gopdf.Rect{W: t.PageWidth, H: t.PageHeight}})
	pdf.SetInfo(gopdf.PdfInfo{Creator: "certseal", Producer: "certseal (gopdf)"})
	if err := pdf.AddTTFFontFromFontContainer(fontFamily, r.fonts); err != nil {
		return nil, fmt.Errorf("signer: font: %w", err)
	}
	pdf.AddPage()

	for _, f := range t.Frames {
		c, _ := parseColor(f.Color)
		pdf.SetStrokeColor(c.r, c.g, c.b)
		pdf.SetLineWidth(f.Width)
		pdf.RectFromUpperLeftWithStyle(f.Box.X, f.Box.Y, f.Box.W, f.Box.H, "D")
	}
	for _, l := range t.Lines {
		c, _ := parseColor(l.Color)
		pdf.SetStrokeColor(c.r, c.g, c.b)
		pdf.SetLineWidth(l.Width)
		pdf.Line(l.X1, l.Y1, l.X2, l.Y2)
	}
	pdf.SetStrokeColor(0x99, 0x99, 0x99)
	pdf.SetLineWidth(0.5)
	for _, f := range r.fields {
		if f.Underline {
			y := f.Box.Y + f.Box.H
			pdf.Line(f.Box.X, y, f.Box.X+f.Box.W, y)
		}
	}

	for _, b := range r.static {
		if err := drawBlock(pdf, b); err != nil {
			return nil, err
		}
	}
	for _, b := range blocks {
		if err := drawBlock(pdf, b); err != nil {
			return nil, err
		}
	}
	if extra != nil {
		if err := extra(pdf); err != nil {
			return nil, err
		}
	}

	drawQR(pdf, bits, t.QR)

	out, err := pdf.GetBytesPdfReturnErr()
	if err != nil {
		return nil, fmt.Errorf("signer: write pdf: %w", err)
	}
	return out, nil
}

// CheckText checks, without drawing anything, that every printed field of
// an appointment is printable in the font and fits its box (batches check
// all rows before issuing any). Render checks the same again, plus the
// number and verification address, which are known only when issuing.
func (r *Renderer) CheckText(a registry.Appointment) error {
	_, err := r.layoutFields(Document{Appointment: a}, false)
	return err
}

// layoutFields checks and places every printed value. It runs before any
// PDF work so that bad input costs little. Without issued, the fields that
// issuing supplies (number, verify_url, seal_line) are skipped.
func (r *Renderer) layoutFields(doc Document, issued bool) ([]block, error) {
	if !r.kind.photo {
		return nil, errors.New("signer: this renderer draws receipts, not certificates")
	}
	a := doc.Appointment
	term, err := formatTerm(a.TermFrom, a.TermTo)
	if err != nil {
		return nil, err
	}
	values := map[string]string{
		FieldName:              a.Name,
		FieldGender:            string(a.Gender),
		FieldIDNumber:          a.IDNumber,
		FieldSeries:            a.Series,
		FieldSpecialty:         a.Specialty,
		FieldLevel:             string(a.Level),
		FieldPost:              a.Post,
		FieldTerm:              term,
		FieldCommittee:         a.Committee,
		FieldPublicationNumber: a.PublicationNumber,
	}
	if issued {
		values[FieldNumber] = doc.Number
		values[FieldVerifyURL] = doc.VerifyURL
		values[FieldSealLine] = doc.SealLine
	}
	return r.layoutValues(values)
}

// layoutValues places the values of the fields the template places;
// optional fields may be empty.
func (r *Renderer) layoutValues(values map[string]string) ([]block, error) {
	blocks := make([]block, 0, len(r.fields))
	for _, f := range r.fields {
		v, ok := values[f.Field.Field]
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if v == "" && slices.Contains(r.kind.optional, f.Field.Field) {
			continue // optional
		}
		b, err := r.face.fit(f.Field.Field, v, f.Box, f.Size, r.tpl.MinFontSize, r.spacing, f.align)
		if err != nil {
			return nil, err
		}
		b.color = f.color
		blocks = append(blocks, b)
	}
	return blocks, nil
}

// formatTerm prints 聘用期限 the Chinese way: 2024年1月1日至2028年12月31日.
func formatTerm(from, to registry.Date) (string, error) {
	switch {
	case from.IsZero():
		return "", registry.FieldErr("term_from", "is missing")
	case to.IsZero():
		return "", registry.FieldErr("term_to", "is missing")
	case to.Before(from):
		return "", registry.FieldErr("term_to", "%s is before term_from %s", to, from)
	}
	day := func(d registry.Date) string { return fmt.Sprintf("%d年%d月%d日", d.Year, int(d.Month), d.Day) }
	return day(from) + "至" + day(to), nil
}

func drawBlock(pdf *gopdf.GoPdf, b block) error {
	if err := pdf.SetFont(fontFamily, "", b.size); err != nil {
		return fmt.Errorf("signer: font: %w", err)
	}
	pdf.SetTextColor(b.color.r, b.color.g, b.color.b)
	for _, l := range b.lines {
		pdf.SetXY(l.x, l.baseline)
		if err := pdf.Text(l.text); err != nil {
			return fmt.Errorf("signer: text: %w", err)
		}
	}
	return nil
}

// drawQR draws the code as filled vector rectangles (one per horizontal
// run of dark modules): sharp at any print resolution, and cheaper than
// encoding and embedding a bitmap. The bitmap includes the 4-module quiet
// zone.
func drawQR(pdf *gopdf.GoPdf, bits [][]bool, b Box) {
	n := len(bits)
	m := min(b.W, b.H) / float64(n)
	x0 := b.X + (b.W-m*float64(n))/2
	y0 := b.Y + (b.H-m*float64(n))/2
	// Rows overlap by a hair so that anti-aliasing rasterisers leave no
	// light seams between them.
	const seam = 0.02
	pdf.SetFillColor(0, 0, 0)
	for y, row := range bits {
		for x := 0; x < n; {
			if !row[x] {
				x++
				continue
			}
			start := x
			for x < n && row[x] {
				x++
			}
			h := m
			if y < n-1 {
				h += seam
			}
			pdf.RectFromUpperLeftWithStyle(x0+float64(start)*m, y0+float64(y)*m, float64(x-start)*m, h, "F")
		}
	}
}
