package signer

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/certseal/certseal/registry"
	"github.com/signintech/gopdf"
)

// defaultFontTTF is WenQuanYi Micro Hei subset to GB2312 + ASCII + CJK
// punctuation (font/make-font.sh; licence in font/LICENSE).
//
//go:embed font/wqy-microhei-gb2312.ttf
var defaultFontTTF []byte

// DefaultFont is the embedded certificate font. The slice is shared: do not
// modify it.
func DefaultFont() []byte { return defaultFontTTF }

// LoadFont reads an operator's TrueType font (for example a fuller CJK font
// for rare characters in names) and checks that gopdf can use it.
func LoadFont(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signer: font: %w", err)
	}
	if _, err := newFace(b); err != nil {
		return nil, fmt.Errorf("signer: font %s: %w", path, err)
	}
	return b, nil
}

// face answers the layout's questions about the font: does it have this
// character, how wide is this text. It uses gopdf's own parser and cmap
// lookup, so what it accepts is exactly what gopdf will draw.
type face struct {
	f         *gopdf.SubsetFontObj
	numGlyphs uint
	ascent    float64 // above the baseline, in em
	descent   float64 // below the baseline, in em (positive)
	// glyphs remembers the font's glyph index of each character found in
	// it (rune -> uint): gopdf walks the cmap's segments on every lookup,
	// which was a tenth of drafting a certificate. Bounded by the font.
	glyphs sync.Map
}

func newFace(ttf []byte) (*face, error) {
	f := new(gopdf.SubsetFontObj)
	f.SetTtfFontOption(gopdf.TtfOption{})
	if err := f.SetTTFData(ttf); err != nil {
		return nil, fmt.Errorf("not a TrueType font gopdf can read: %w", err)
	}
	p := f.GetTTFParser()
	if _, ok := p.GetTables()["glyf"]; !ok {
		return nil, errors.New("font has no glyf table (CFF/OpenType outlines are not supported)")
	}
	upm := float64(p.UnitsPerEm())
	if upm == 0 || p.NumGlyphs() == 0 || len(p.Widths()) == 0 {
		return nil, errors.New("font has no glyphs")
	}
	asc, desc := float64(f.GetAscender())/upm, float64(f.GetDescender())/upm
	if desc < 0 {
		desc = -desc
	}
	if !(asc > 0 && asc < 3 && desc < 3) {
		return nil, fmt.Errorf("font metrics out of range (ascent %g, descent %g em)", asc, desc)
	}
	fc := &face{f: f, numGlyphs: p.NumGlyphs(), ascent: asc, descent: desc}
	for _, r := range "中文Aa0" {
		if !fc.has(r) {
			return nil, fmt.Errorf("font lacks the basic character %q", r)
		}
	}
	return fc, nil
}

// has reports whether the font maps r to a real glyph (not .notdef).
// gopdf would silently print a space for anything else.
func (fc *face) has(r rune) bool {
	g, err := fc.glyph(r)
	return err == nil && g != 0 && g < fc.numGlyphs
}

// glyph is gopdf's glyph index of r.
func (fc *face) glyph(r rune) (uint, error) {
	if g, ok := fc.glyphs.Load(r); ok {
		return g.(uint), nil
	}
	g, err := fc.f.CharCodeToGlyphIndex(r)
	if err == nil && g != 0 { // what is not in the font is not kept
		fc.glyphs.Store(r, g)
	}
	return g, err
}

// check refuses text the certificate cannot print faithfully: characters
// outside the font, control characters, invalid UTF-8.
func (fc *face) check(field, s string) error {
	if !utf8.ValidString(s) {
		return registry.FieldErr(field, "is not valid UTF-8 text")
	}
	for _, r := range s {
		switch {
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			return registry.FieldErr(field, "contains the control character U+%04X", r)
		case !fc.has(r):
			return registry.FieldErr(field, "character %q (U+%04X) is not in the certificate font", r, r)
		}
	}
	return nil
}

// advance is the width of s at size 1, in the same rounded 1/1000 em units
// gopdf writes to the font's /W array, so measured and drawn widths agree.
func (fc *face) advance(s string) float64 {
	var w uint
	for _, r := range s {
		g, _ := fc.glyph(r)
		w += fc.f.GlyphIndexToPdfWidth(g)
	}
	return float64(w) / 1000
}
