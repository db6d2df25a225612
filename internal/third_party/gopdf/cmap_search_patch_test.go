package gopdf

import (
	"os"
	"testing"

	"github.com/signintech/gopdf/fontmaker/core"
)

// TestCmapBinarySearch holds certseal patch 5: for every character of the
// Basic Multilingual Plane, the glyph found by binary search over the
// format 4 cmap's segments is the one upstream's linear scan finds (the
// same font read with EndCountSorted false), error for error.
func TestCmapBinarySearch(t *testing.T) {
	fonts := []string{patchTestFont, "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"}
	for _, file := range fonts {
		ttf, err := os.ReadFile(file)
		if err != nil {
			if file == patchTestFont || os.Getenv("CI") == "true" {
				t.Fatal(err)
			}
			t.Logf("skipped: %v (apt-get install fonts-dejavu-core)", err)
			continue
		}
		var p core.TTFParser
		if err := p.ParseFontData(ttf); err != nil {
			t.Fatal(err)
		}
		if !p.EndCountSorted {
			t.Fatalf("%s: segments not found sorted", file)
		}
		binary := SubsetFontObj{ttfp: p}
		p.EndCountSorted = false
		linear := SubsetFontObj{ttfp: p}
		found := 0
		for r := rune(0); r <= 0xFFFF; r++ {
			gb, errb := binary.charCodeToGlyphIndexFormat4(r)
			gl, errl := linear.charCodeToGlyphIndexFormat4(r)
			if gb != gl || errb != errl {
				t.Fatalf("%s: %U: glyph %d (%v) by binary search, %d (%v) by scan", file, r, gb, errb, gl, errl)
			}
			if errb == nil && gb != 0 {
				found++
			}
		}
		t.Logf("%s: %d characters with a glyph, %d segments", file, found, p.SegCount)
	}
}
