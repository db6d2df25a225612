package gopdf

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"encoding/hex"
	"io"
	"os"
	"regexp"
	"strconv"
	"testing"
)

// The certificate font of certseal, whose module this copy is tested from.
const patchTestFont = "../../../signer/font/wqy-microhei-gb2312.ttf"

// TestSubsetGlyphIDsCompact holds certseal patch 4: the embedded subset has
// the glyphs used and .notdef, numbered 0..n, and every character drawn
// (content stream, through the ToUnicode CMap) is a glyph whose outline and
// advance are the original font's glyph for that character. Two documents
// from one FontContainer, as certseal draws them, each get their own.
func TestSubsetGlyphIDsCompact(t *testing.T) {
	ttf, err := os.ReadFile(patchTestFont)
	if err != nil {
		t.Fatal(err)
	}
	orig := parseTestTTF(t, ttf)
	var fonts FontContainer
	if err := fonts.AddTTFFontData("f", ttf); err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{
		"证书编号 372025000001230 威海示范大学高级职称评聘委员会，副教授。",
		"Zz 中文 (2024)〔15〕号 张三丰 张三丰 ~!@#$%^&*",
	} {
		checkSubsetText(t, &fonts, orig, text)
	}
}

// TestSubsetGlyphIDsComposite is the same with composite glyphs, whose
// components are renumbered too, some of them composites themselves. The
// font is DejaVu Sans from the system (Debian: fonts-dejavu-core), as
// certseal's font has no composites: skipped without it, but under
// CI=true (certseal's .ci/run installs it).
func TestSubsetGlyphIDsComposite(t *testing.T) {
	ttf, err := os.ReadFile("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%v (apt-get install fonts-dejavu-core)", err)
		}
		t.Skipf("%v (apt-get install fonts-dejavu-core)", err)
	}
	var fonts FontContainer
	if err := fonts.AddTTFFontData("f", ttf); err != nil {
		t.Fatal(err)
	}
	used, components := checkSubsetText(t, &fonts, parseTestTTF(t, ttf), "ÀÉîõüÇ ǺǻǼ ΐΰ ῗ ŉ Tiếng Việt ặẫờợữựỷỹ")
	if components == 0 {
		t.Errorf("%d glyphs used, no components added: not a test of composites", used)
	}
}

// checkSubsetText draws text in a document of its own with font "f" of
// fonts, and compares the embedded subset with orig. It returns how many
// glyphs the text uses and how many more the subset has for components of
// composites.
func checkSubsetText(t *testing.T, fonts *FontContainer, orig *testTTF, text string) (used, components int) {
	t.Helper()
	pdf := GoPdf{}
	pdf.Start(Config{Unit: UnitPT, PageSize: *PageSizeA4})
	pdf.SetNoCompression()
	if err := pdf.AddTTFFontFromFontContainer("f", fonts); err != nil {
		t.Fatal(err)
	}
	pdf.AddPage()
	if err := pdf.SetFont("f", "", 12); err != nil {
		t.Fatal(err)
	}
	if err := pdf.Text(text); err != nil {
		t.Fatal(err)
	}
	out, err := pdf.GetBytesPdfReturnErr()
	if err != nil {
		t.Fatal(err)
	}
	cmap := pdf.curr.FontISubset

	glyphs := map[uint]bool{}
	for _, r := range text {
		g, err := cmap.CharCodeToGlyphIndex(r)
		if err != nil || g == 0 {
			t.Fatalf("%q is not in the test font", r)
		}
		glyphs[g] = true
	}
	used = len(glyphs)
	for g := range glyphs {
		orig.addComponents(glyphs, g)
	}
	components = len(glyphs) - used
	sub := parseTestTTF(t, testFontStream(t, out))
	if n := len(glyphs); sub.numGlyphs != n+1 || sub.numHMetrics != n+1 {
		t.Fatalf("%q: subset of %d glyphs, %d horizontal metrics; want %d (.notdef, %d used, %d components)",
			text, sub.numGlyphs, sub.numHMetrics, n+1, used, components)
	}

	cids := testToUnicode(t, out)
	m := regexp.MustCompile(`\[<([0-9A-F]*)>\] TJ`).FindSubmatch(out)
	if m == nil {
		t.Fatal("no TJ in the content stream")
	}
	codes, _ := hex.DecodeString(string(m[1]))
	var drawn []rune
	for i := 0; i+1 < len(codes); i += 2 {
		drawn = append(drawn, cids[uint(binary.BigEndian.Uint16(codes[i:]))])
	}
	if string(drawn) != text {
		t.Fatalf("content stream through ToUnicode reads %q, want %q", string(drawn), text)
	}
	for i, r := range text {
		cid := uint(binary.BigEndian.Uint16(codes[2*len([]rune(text[:i])):]))
		g, _ := cmap.CharCodeToGlyphIndex(r)
		if !sameGlyph(sub, cid, orig, g) || len(orig.glyph(g)) == 0 && r != ' ' {
			t.Errorf("%q: subset glyph %d is not the font's glyph %d", r, cid, g)
		}
		if sub.advance(cid) != orig.advance(g) {
			t.Errorf("%q: subset advance %d, font %d", r, sub.advance(cid), orig.advance(g))
		}
		w := regexp.MustCompile(`/W \[.*\b` + strconv.Itoa(int(cid)) + `\[(\d+)\]`).FindSubmatch(out)
		if w == nil || string(w[1]) != strconv.Itoa(int(cmap.GlyphIndexToPdfWidth(g))) {
			t.Errorf("%q: no /W entry %d[%d]", r, cid, cmap.GlyphIndexToPdfWidth(g))
		}
	}
	return used, components
}

// sameGlyph reports whether subset glyph cid is the font's glyph g: the
// same bytes but for the glyph ids of a composite's components, which are
// the same glyphs in turn.
func sameGlyph(sub *testTTF, cid uint, orig *testTTF, g uint) bool {
	if int(cid) >= sub.numGlyphs || int(g) >= orig.numGlyphs {
		return false
	}
	a, b := append([]byte(nil), sub.glyph(cid)...), orig.glyph(g)
	if len(a) != len(b) {
		return false
	}
	same := true
	glyphComponents(b, func(at int) {
		same = same && sameGlyph(sub, uint(binary.BigEndian.Uint16(a[at:])), orig, uint(binary.BigEndian.Uint16(b[at:])))
		copy(a[at:at+2], b[at:])
	})
	return same && bytes.Equal(a, b)
}

// testFontStream is the decompressed FontFile2 stream of a PDF gopdf wrote.
func testFontStream(t *testing.T, pdf []byte) []byte {
	t.Helper()
	m := regexp.MustCompile(`<</Length (\d+)\n/Filter /FlateDecode\n/Length1 \d+\n>>\nstream\n`).FindSubmatchIndex(pdf)
	if m == nil {
		t.Fatal("no font stream")
	}
	n, _ := strconv.Atoi(string(pdf[m[2]:m[3]]))
	zr, err := zlib.NewReader(bytes.NewReader(pdf[m[1] : m[1]+n]))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testToUnicode maps each code of the ToUnicode CMap to its character.
func testToUnicode(t *testing.T, pdf []byte) map[uint]rune {
	t.Helper()
	m := map[uint]rune{}
	for _, r := range regexp.MustCompile(`<([0-9A-F]{4})><([0-9A-F]{4})><([0-9A-F]{4})>\n`).FindAllSubmatch(pdf, -1) {
		lo, _ := strconv.ParseUint(string(r[1]), 16, 16)
		hi, _ := strconv.ParseUint(string(r[2]), 16, 16)
		u, _ := strconv.ParseUint(string(r[3]), 16, 16)
		for c := lo; c <= hi; c++ {
			m[uint(c)] = rune(u + c - lo)
		}
	}
	if len(m) == 0 {
		t.Fatal("no ToUnicode ranges")
	}
	return m
}

// testTTF reads the tables of a TrueType font the test compares, on its
// own rather than with the parser under test.
type testTTF struct {
	data                   []byte
	glyf, loca, hmtx       []byte
	numGlyphs, numHMetrics int
	longLoca               bool
}

func parseTestTTF(t *testing.T, b []byte) *testTTF {
	t.Helper()
	tables := map[string][]byte{}
	for i := 0; i < int(binary.BigEndian.Uint16(b[4:])); i++ {
		e := b[12+16*i:]
		off, n := binary.BigEndian.Uint32(e[8:]), binary.BigEndian.Uint32(e[12:])
		tables[string(e[:4])] = b[off : off+n]
	}
	for _, tag := range []string{"head", "hhea", "maxp", "loca", "glyf", "hmtx"} {
		if tables[tag] == nil {
			t.Fatalf("font has no %s table", tag)
		}
	}
	f := &testTTF{data: b, glyf: tables["glyf"], loca: tables["loca"], hmtx: tables["hmtx"],
		numGlyphs:   int(binary.BigEndian.Uint16(tables["maxp"][4:])),
		numHMetrics: int(binary.BigEndian.Uint16(tables["hhea"][34:])),
		longLoca:    binary.BigEndian.Uint16(tables["head"][50:]) == 1}
	entries := len(f.loca) / 2
	if f.longLoca {
		entries = len(f.loca) / 4
	}
	if entries != f.numGlyphs+1 || len(f.hmtx) != 4*f.numHMetrics+2*(f.numGlyphs-f.numHMetrics) {
		t.Fatalf("loca of %d entries, hmtx of %d bytes for %d glyphs, %d metrics", entries, len(f.hmtx), f.numGlyphs, f.numHMetrics)
	}
	return f
}

func (f *testTTF) offset(g uint) int {
	if f.longLoca {
		return int(binary.BigEndian.Uint32(f.loca[4*g:]))
	}
	return 2 * int(binary.BigEndian.Uint16(f.loca[2*g:]))
}

func (f *testTTF) glyph(g uint) []byte { return f.glyf[f.offset(g):f.offset(g+1)] }

// addComponents adds the components of glyph g to glyphs, and theirs.
func (f *testTTF) addComponents(glyphs map[uint]bool, g uint) {
	data := f.glyph(g)
	glyphComponents(data, func(at int) {
		c := uint(binary.BigEndian.Uint16(data[at:]))
		if !glyphs[c] {
			glyphs[c] = true
			f.addComponents(glyphs, c)
		}
	})
}

func (f *testTTF) advance(g uint) uint16 {
	if int(g) >= f.numHMetrics {
		g = uint(f.numHMetrics - 1)
	}
	return binary.BigEndian.Uint16(f.hmtx[4*g:])
}

// TestGlyphComponents: patch 4 finds the glyph ids of a composite's
// components past each one's flags, arguments and transform.
func TestGlyphComponents(t *testing.T) {
	glyph := []byte{0xFF, 0xFF, 0, 0, 0, 0, 0, 9, 0, 9}                                   // -1 contours, bbox
	glyph = append(glyph, 0, moreComponents|arg1and2areWords, 0, 7, 0, 1, 0, 2)           // words
	glyph = append(glyph, 0, moreComponents|hasScale, 0, 8, 1, 2, 0x40, 0)                // bytes, scale
	glyph = append(glyph, 0, moreComponents|xAndYScale, 0, 9, 1, 2, 0x40, 0, 0x40, 0)     // x and y scale
	glyph = append(glyph, 0, twoByTwo, 1, 0, 1, 2, 0x40, 0, 0, 0, 0, 0, 0x40, 0, 0, 3, 4) // 2x2, instructions after
	var got []int
	glyphComponents(glyph, func(at int) { got = append(got, int(binary.BigEndian.Uint16(glyph[at:]))) })
	if want := []int{7, 8, 9, 256}; len(got) != len(want) || got[0] != 7 || got[1] != 8 || got[2] != 9 || got[3] != 256 {
		t.Fatalf("components %v, want %v", got, want)
	}
	glyphComponents(glyph[:20], func(at int) {}) // cut short: no panic
	glyphComponents([]byte{0, 1, 0, 0, 0, 0, 0, 9, 0, 9}, func(int) { t.Error("a simple glyph has no components") })
}
