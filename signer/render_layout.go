package signer

import (
	"strings"
	"unicode/utf8"

	"github.com/certseal/certseal/registry"
)

// placedLine is one line of text ready for gopdf's Text: it starts at x on
// the given baseline.
type placedLine struct {
	text     string
	x        float64
	baseline float64
	width    float64 // in points
}

// block is text laid out inside a box.
type block struct {
	size  float64
	color rgb
	lines []placedLine
}

// shrinkStep is how much the font size drops per attempt when text does
// not fit its box.
const shrinkStep = 0.5

// fit lays s out inside b: wrapped at size if that fits, otherwise at the
// largest smaller size (in steps of shrinkStep, down to min) that does. The
// lines never leave the box: every line is at most b.W wide and the block,
// from the first line's ascent to the last line's descent, is at most b.H
// tall, centred vertically. Text that does not fit even at min is an error
// naming the field; it is never cut or allowed to overflow.
func (fc *face) fit(field, s string, b Box, size, min, spacing float64, al align) (block, error) {
	if strings.TrimSpace(s) == "" {
		return block{}, registry.FieldErr(field, "is empty")
	}
	if err := fc.check(field, s); err != nil {
		return block{}, err
	}
	units := breakUnits(s)
	for sz := size; sz >= min-1e-9; sz = nextSize(sz, min) {
		lines, ok := fc.wrap(units, b.W/sz)
		if !ok {
			continue
		}
		n := float64(len(lines))
		h := ((n-1)*spacing + fc.ascent + fc.descent) * sz
		if h > b.H+1e-9 {
			continue
		}
		top := b.Y + (b.H-h)/2
		out := block{size: sz, lines: make([]placedLine, len(lines))}
		for i, l := range lines {
			w := fc.advance(l) * sz
			x := b.X
			switch al {
			case alignCenter:
				x += (b.W - w) / 2
			case alignRight:
				x += b.W - w
			}
			out.lines[i] = placedLine{text: l, x: x, baseline: top + fc.ascent*sz + float64(i)*spacing*sz, width: w}
		}
		return out, nil
	}
	return block{}, registry.FieldErr(field, "is too long for its place on the certificate (%d characters do not fit even at %g pt)", utf8.RuneCountInString(s), min)
}

// nextSize is the next smaller size to try; it lands on min exactly so the
// smallest allowed size is always tried.
func nextSize(sz, min float64) float64 {
	if sz > min && sz-shrinkStep < min {
		return min
	}
	return sz - shrinkStep
}

// Punctuation that must not begin a line (closing) or end one (opening),
// after the usual Chinese typesetting rule (避头尾).
const (
	noLineStart = "，。、；：？！）》」』】〕〉’”…—,.;:!?)]}%"
	noLineEnd   = "（《「『【〔〈‘“([{"
)

// breakUnits splits s into pieces that a line break may separate: each CJK
// character alone, each run of Latin letters/digits (a word, a number, a
// URL) whole, each space alone; closing punctuation stays with what
// precedes it and opening punctuation with what follows.
func breakUnits(s string) []string {
	var units []string
	var cur strings.Builder
	wide, afterOpen := false, false
	flush := func() {
		if cur.Len() > 0 {
			units = append(units, cur.String())
			cur.Reset()
		}
	}
	for _, r := range s {
		switch {
		case afterOpen:
			cur.WriteRune(r)
			wide = isWide(r)
		case strings.ContainsRune(noLineStart, r):
			cur.WriteRune(r)
			wide = wide || isWide(r) // a break may follow 〕 or ，, not a Latin "." or ":"
		case r == ' ':
			flush()
			units = append(units, " ")
			wide = false
		case strings.ContainsRune(noLineEnd, r):
			flush()
			cur.WriteRune(r)
		case isWide(r):
			flush()
			cur.WriteRune(r)
			wide = true
		default: // a letter of a Latin word, number or URL
			if wide {
				flush()
			}
			cur.WriteRune(r)
			wide = false
		}
		afterOpen = strings.ContainsRune(noLineEnd, r)
	}
	flush()
	return units
}

// isWide: CJK ideographs, kana, hangul, CJK and full-width punctuation.
func isWide(r rune) bool { return r >= 0x2E80 }

// wrap breaks units into lines at most maxW wide (maxW in em, i.e. at size
// 1). A unit wider than a line is broken between characters. ok is false
// when a single character is wider than the line.
func (fc *face) wrap(units []string, maxW float64) (lines []string, ok bool) {
	const eps = 1e-9
	var cur strings.Builder
	curW := 0.0
	flush := func() {
		if l := strings.TrimRight(cur.String(), " "); l != "" {
			lines = append(lines, l)
		}
		cur.Reset()
		curW = 0
	}
	for _, u := range units {
		w := fc.advance(u)
		switch {
		case curW+w <= maxW+eps:
			if u == " " && cur.Len() == 0 {
				continue // no line starts with a space
			}
			cur.WriteString(u)
			curW += w
		case u == " ":
			flush()
		case w <= maxW+eps:
			flush()
			cur.WriteString(u)
			curW = w
		default: // longer than a whole line: break it anywhere
			for _, r := range u {
				rw := fc.advance(string(r))
				if rw > maxW+eps {
					return nil, false
				}
				if curW+rw > maxW+eps {
					flush()
				}
				cur.WriteRune(r)
				curW += rw
			}
		}
	}
	flush()
	return lines, len(lines) > 0
}
