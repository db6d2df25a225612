package signer

import (
	"bytes"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// Box is a rectangle on the page in points (1/72 inch) with its origin at
// the top-left corner of the page, y growing downwards, as gopdf draws.
type Box struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
	W float64 `json:"w"`
	H float64 `json:"h"`
}

func (b Box) String() string { return fmt.Sprintf("[x %g y %g w %g h %g]", b.X, b.Y, b.W, b.H) }

// Rect is a rectangle in PDF user space: origin at the bottom-left corner,
// y growing upwards. It is what a signature widget's /Rect takes.
type Rect struct {
	LLX, LLY, URX, URY float64
}

// Text is fixed text printed on every certificate: the titles, the line
// 本证书在规定聘期内有效, the caption of the seal.
type Text struct {
	Text  string  `json:"text"`
	Box   Box     `json:"box"`
	Size  float64 `json:"size"`            // font size in points; shrinks (to MinFontSize) if the text does not fit
	Align string  `json:"align,omitempty"` // left (default), center, right
	Color string  `json:"color,omitempty"` // #RRGGBB, default black
}

// Field is one printed value with its label (姓名: 张三).
type Field struct {
	Field     string  `json:"field"` // one of FieldNames
	Label     string  `json:"label,omitempty"`
	LabelBox  Box     `json:"label_box,omitempty"`
	LabelSize float64 `json:"label_size,omitempty"` // default: Size
	Box       Box     `json:"box"`                  // the value is wrapped, then shrunk, to stay inside
	Size      float64 `json:"size"`
	Align     string  `json:"align,omitempty"`
	Color     string  `json:"color,omitempty"`
	Underline bool    `json:"underline,omitempty"` // a thin rule along the bottom of the value box
}

// Line is a straight rule (decoration).
type Line struct {
	X1    float64 `json:"x1"`
	Y1    float64 `json:"y1"`
	X2    float64 `json:"x2"`
	Y2    float64 `json:"y2"`
	Width float64 `json:"width"`
	Color string  `json:"color,omitempty"`
}

// Frame is an unfilled rectangle (decoration: borders).
type Frame struct {
	Box   Box     `json:"box"`
	Width float64 `json:"width"`
	Color string  `json:"color,omitempty"`
}

// Template is the layout of the certificate page, as data: the default is
// templates/default.json; an operator may supply another file with the same
// shape (LoadTemplate).
type Template struct {
	Name        string  `json:"name"`
	PageWidth   float64 `json:"page_width"`
	PageHeight  float64 `json:"page_height"`
	MinFontSize float64 `json:"min_font_size"`          // no text is printed smaller than this
	LineSpacing float64 `json:"line_spacing,omitempty"` // baseline distance / font size; default 1.25
	Frames      []Frame `json:"frames,omitempty"`
	Lines       []Line  `json:"lines,omitempty"`
	Texts       []Text  `json:"texts"`
	Fields      []Field `json:"fields"`
	Photo       Box     `json:"photo"`
	QR          Box     `json:"qr"`
	Seal        Box     `json:"seal"` // the seal imprint (the signature's appearance) goes here
}

// Names of the printed fields a template places.
const (
	FieldName              = "name"
	FieldGender            = "gender"
	FieldIDNumber          = "id_number"
	FieldSeries            = "series"
	FieldSpecialty         = "specialty"
	FieldLevel             = "level"
	FieldPost              = "post"
	FieldTerm              = "term"
	FieldCommittee         = "committee"
	FieldNumber            = "number"
	FieldPublicationNumber = "publication_number"
	FieldVerifyURL         = "verify_url"
	FieldSealLine          = "seal_line" // optional: which seal version signed, printed under the seal
)

// FieldNames lists every field a template may place; all but seal_line are
// required (they are the fields of the 式样).
var FieldNames = []string{
	FieldName, FieldGender, FieldIDNumber, FieldSeries, FieldSpecialty, FieldLevel, FieldPost,
	FieldTerm, FieldCommittee, FieldNumber, FieldPublicationNumber, FieldVerifyURL, FieldSealLine,
}

// ValidityLine must appear among a template's texts: the 式样 prints it and
// it is what limits the certificate to the term.
const ValidityLine = "本证书在规定聘期内有效"

const (
	defaultLineSpacing = 1.25
	minQRSide          = 25 * 72 / 25.4 // 25 mm: a phone reads it off paper
	maxTemplateBytes   = 1 << 20
)

//go:embed templates/default.json
var defaultTemplateJSON []byte

// DefaultTemplate is the embedded layout (A4 portrait, like the 式样).
func DefaultTemplate() Template {
	t, err := ParseTemplate(defaultTemplateJSON)
	if err != nil {
		// The embedded file is tested; failing here is a build defect.
		panic("signer: embedded default template is invalid: " + err.Error())
	}
	return t
}

// LoadTemplate reads and validates an operator's template file.
func LoadTemplate(path string) (Template, error) {
	f, err := os.Open(path)
	if err != nil {
		return Template{}, fmt.Errorf("signer: template: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTemplateBytes+1))
	if err != nil {
		return Template{}, fmt.Errorf("signer: template %s: %w", path, err)
	}
	t, err := ParseTemplate(b)
	if err != nil {
		return Template{}, fmt.Errorf("signer: template %s: %w", path, err)
	}
	return t, nil
}

// ParseTemplate decodes a template (unknown keys are refused, so a typo does
// not silently drop a setting) and validates it.
func ParseTemplate(b []byte) (Template, error) { return parseTemplate(b, certificateLayout) }

func parseTemplate(b []byte, k layoutKind) (Template, error) {
	if len(b) > maxTemplateBytes {
		return Template{}, fmt.Errorf("template is larger than %d bytes", maxTemplateBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var t Template
	if err := dec.Decode(&t); err != nil {
		return Template{}, fmt.Errorf("template: %w", err)
	}
	if dec.More() {
		return Template{}, errors.New("template: trailing data after the JSON object")
	}
	if err := t.validate(k); err != nil {
		return Template{}, err
	}
	return t, nil
}

// layoutKind is what one kind of page (a certificate, a receipt) must
// place: the same template shape draws both.
type layoutKind struct {
	fields   []string // every field the page may place
	optional []string // of them, those it may leave out
	mustText string   // a fixed text the page must carry
	photo    bool     // it places the holder's photo, and the seal imprint
}

var certificateLayout = layoutKind{fields: FieldNames, optional: []string{FieldSealLine}, mustText: ValidityLine, photo: true}

// Validate checks that the layout can be drawn: every box on the page,
// every required field placed once, sizes and colours well-formed, the QR
// code large enough to scan from paper. Whether texts fit their boxes in
// the chosen font is checked by NewRenderer.
func (t Template) Validate() error { return t.validate(certificateLayout) }

func (t Template) validate(k layoutKind) error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	if !(t.PageWidth > 0 && t.PageWidth <= 14400 && t.PageHeight > 0 && t.PageHeight <= 14400) {
		bad("page size %gx%g is not a page", t.PageWidth, t.PageHeight)
		return errors.Join(errs...) // boxes cannot be checked against it
	}
	if !(t.MinFontSize >= 4 && t.MinFontSize <= 72) {
		bad("min_font_size %g must be between 4 and 72", t.MinFontSize)
	}
	if t.LineSpacing != 0 && !(t.LineSpacing >= 1 && t.LineSpacing <= 3) {
		bad("line_spacing %g must be between 1 and 3", t.LineSpacing)
	}
	box := func(what string, b Box) {
		if !(b.W > 0 && b.H > 0 && b.X >= 0 && b.Y >= 0 && b.X+b.W <= t.PageWidth && b.Y+b.H <= t.PageHeight) {
			bad("%s box %v is empty or off the page", what, b)
		}
	}
	size := func(what string, s float64) {
		if !(s >= t.MinFontSize && s <= 200) {
			bad("%s size %g must be between min_font_size and 200", what, s)
		}
	}
	color := func(what, c string) {
		if _, err := parseColor(c); err != nil {
			bad("%s: %v", what, err)
		}
	}
	align := func(what, a string) {
		if _, err := parseAlign(a); err != nil {
			bad("%s: %v", what, err)
		}
	}
	onPage := func(x, y float64) bool { return x >= 0 && y >= 0 && x <= t.PageWidth && y <= t.PageHeight }

	for i, f := range t.Frames {
		what := fmt.Sprintf("frames[%d]", i)
		box(what, f.Box)
		color(what, f.Color)
		if !(f.Width > 0 && f.Width <= 20) {
			bad("%s width %g must be in (0, 20]", what, f.Width)
		}
	}
	for i, l := range t.Lines {
		what := fmt.Sprintf("lines[%d]", i)
		if !onPage(l.X1, l.Y1) || !onPage(l.X2, l.Y2) {
			bad("%s is off the page", what)
		}
		color(what, l.Color)
		if !(l.Width > 0 && l.Width <= 20) {
			bad("%s width %g must be in (0, 20]", what, l.Width)
		}
	}
	validity := false
	for i, x := range t.Texts {
		what := fmt.Sprintf("texts[%d] %q", i, x.Text)
		if strings.TrimSpace(x.Text) == "" {
			bad("texts[%d] is empty", i)
		}
		validity = validity || strings.Contains(x.Text, k.mustText)
		box(what, x.Box)
		size(what, x.Size)
		color(what, x.Color)
		align(what, x.Align)
	}
	if !validity {
		bad("no text carries the line %s", k.mustText)
	}
	seen := map[string]bool{}
	for i, f := range t.Fields {
		what := fmt.Sprintf("fields[%d] %q", i, f.Field)
		if !slices.Contains(k.fields, f.Field) {
			bad("%s: unknown field (known: %s)", what, strings.Join(k.fields, ", "))
		}
		if seen[f.Field] {
			bad("%s: placed twice", what)
		}
		seen[f.Field] = true
		box(what, f.Box)
		if f.Label != "" {
			box(what+" label", f.LabelBox)
		} else if f.LabelBox != (Box{}) {
			bad("%s has a label box but no label", what)
		}
		size(what, f.Size)
		if f.LabelSize != 0 {
			size(what+" label", f.LabelSize)
		}
		color(what, f.Color)
		align(what, f.Align)
	}
	for _, name := range k.fields {
		if !slices.Contains(k.optional, name) && !seen[name] {
			bad("required field %q is not placed", name)
		}
	}
	if k.photo {
		box("photo", t.Photo)
		box("seal", t.Seal)
	} else if t.Photo != (Box{}) || t.Seal != (Box{}) {
		bad("this page has no photo and no seal imprint, but the template places them")
	}
	box("qr", t.QR)
	if t.QR.W < minQRSide-0.01 || t.QR.H < minQRSide-0.01 {
		bad("qr box %v is smaller than 25 mm (%.1f pt): too small to scan from paper", t.QR, minQRSide)
	}
	return errors.Join(errs...)
}

// SealRect is the seal box in PDF coordinates, for SealSigning.Rect.
func (t Template) SealRect() Rect {
	return Rect{LLX: t.Seal.X, LLY: t.PageHeight - t.Seal.Y - t.Seal.H, URX: t.Seal.X + t.Seal.W, URY: t.PageHeight - t.Seal.Y}
}

func (f Field) labelSize() float64 {
	if f.LabelSize == 0 {
		return f.Size
	}
	return f.LabelSize
}

func (t Template) lineSpacing() float64 {
	if t.LineSpacing == 0 {
		return defaultLineSpacing
	}
	return t.LineSpacing
}

type rgb struct{ r, g, b uint8 }

func parseColor(s string) (rgb, error) {
	if s == "" {
		return rgb{}, nil
	}
	if len(s) != 7 || s[0] != '#' {
		return rgb{}, fmt.Errorf("colour %q is not #RRGGBB", s)
	}
	v, err := hex.DecodeString(s[1:])
	if err != nil {
		return rgb{}, fmt.Errorf("colour %q is not #RRGGBB", s)
	}
	return rgb{v[0], v[1], v[2]}, nil
}

type align int

const (
	alignLeft align = iota
	alignCenter
	alignRight
)

func parseAlign(s string) (align, error) {
	switch s {
	case "", "left":
		return alignLeft, nil
	case "center":
		return alignCenter, nil
	case "right":
		return alignRight, nil
	}
	return 0, fmt.Errorf("align %q is not left, center or right", s)
}
