package signer

import (
	"bytes"
	"image"
	"image/png"
	"math"
	"os"
	"testing"
)

// The sample imprints (testdata/make-samples.sh; the demo embeds one) keep
// a band of paper between the unit's name and the ring, as a real 职称专用章
// does: at least an eighth of the ring's inner radius, about 2.3 mm at the
// seal's 42 mm. A narrower band (the samples once had 1.6 mm) blurs into
// the ring on screen and in a phone's photo.
func TestSampleImprintsKeepTheNameOffTheRing(t *testing.T) {
	for _, path := range []string{"../testdata/seal.png", "../testdata/seal-binhai.png", "../cmd/certseal/demodata/seal.png"} {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		inner, text := ringGap(img)
		if band := inner - text; band < inner/8 {
			t.Errorf("%s: the ring's inner edge is at radius %.0f px and the text reaches %.0f px: a band of %.1f px, want at least %.1f",
				path, inner, text, band, inner/8)
		} else {
			t.Logf("%s: band of %.1f px inside a ring of inner radius %.0f px", path, band, inner)
		}
	}
}

// ringGap measures a round imprint centred in img: the radius of the
// ring's inner edge (the smallest, over many rays, at which the outermost
// run of ink starts) and the largest radius of any ink inside it.
func ringGap(img image.Image) (inner, text float64) {
	ink := inkMask(img)
	r := img.Bounds()
	cx, cy := float64(r.Min.X+r.Max.X)/2, float64(r.Min.Y+r.Max.Y)/2
	outer := math.Min(float64(r.Dx()), float64(r.Dy())) / 2
	inner = outer
	for deg := 0; deg < 360; deg += 3 {
		sin, cos := math.Sincos(float64(deg) * math.Pi / 180)
		at := func(rad float64) bool {
			x, y := int(cx+rad*sin), int(cy-rad*cos)
			return image.Pt(x, y).In(r) && ink.at(x, y)
		}
		rad := outer - 1
		for rad > 0 && !at(rad) { // outside the ring
			rad--
		}
		for rad > 0 && at(rad) { // the ring itself
			rad--
		}
		inner = math.Min(inner, rad+1)
	}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if rad := math.Hypot(float64(x)+0.5-cx, float64(y)+0.5-cy); ink.at(x, y) && rad < inner-1 {
				text = math.Max(text, rad)
			}
		}
	}
	return inner, text
}
