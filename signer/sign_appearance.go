package signer

import (
	"bytes"
	"image"
	"image/color"
	"image/png"

	"github.com/digitorus/pdfsign/sign"

	"github.com/certseal/certseal/registry"
)

// Limits on a seal imprint image (印模).
const (
	MaxImprintBytes = 2 << 20
	MaxImprintSide  = 4000
	MinImprintSide  = 64
	// appearanceSide bounds the prepared imprint: 384 px across the 42 mm
	// seal box is about 230 dpi, enough for print. It is prepared once per
	// seal version (pdfsign is patched to take it prepared: see
	// internal/third_party/pdfsign/PATCHES.md), so the size costs a
	// certificate only bytes: 53 KB a PDF against 50 KB at 256 px.
	appearanceSide = 384
)

// Appearance is a seal imprint prepared for signing: cropped to the ink,
// background made transparent, scaled down, and decoded and compressed for
// the PDF once. Prepare it once per seal version and reuse it for every
// signature.
type Appearance struct {
	png           []byte // 8-bit RGBA PNG
	prepared      *sign.PreparedImage
	width, height int
}

// Size is the prepared imprint's size in pixels.
func (a *Appearance) Size() (width, height int) { return a.width, a.height }

// PNG is the prepared imprint (for showing to a reviewer).
func (a *Appearance) PNG() []byte { return bytes.Clone(a.png) }

// PrepareAppearance turns an imprint PNG into the signature appearance.
//
// Pixels that are transparent (alpha below half) or near-white (a scanned
// imprint on white paper) become fully transparent, so the seal lets the
// text 自主评聘单位（章） under it show through; every other pixel becomes
// fully opaque. Alpha is made binary on purpose: pdfsign writes the
// colour premultiplied by alpha, which would draw half-transparent edge
// pixels darker than the ink.
func PrepareAppearance(imprintPNG []byte) (*Appearance, error) {
	const field = "imprint_png"
	if len(imprintPNG) == 0 {
		return nil, registry.FieldErr(field, "is missing")
	}
	if len(imprintPNG) > MaxImprintBytes {
		return nil, registry.FieldErr(field, "is %d bytes; at most %d are accepted", len(imprintPNG), MaxImprintBytes)
	}
	if !bytes.HasPrefix(imprintPNG, pngMagic) {
		return nil, registry.FieldErr(field, "must be a PNG image")
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(imprintPNG))
	if err != nil {
		return nil, registry.FieldErr(field, "is not a readable PNG image: %v", err)
	}
	if cfg.Width > MaxImprintSide || cfg.Height > MaxImprintSide || cfg.Width < MinImprintSide || cfg.Height < MinImprintSide {
		return nil, registry.FieldErr(field, "is %dx%d pixels; each side must be %d to %d", cfg.Width, cfg.Height, MinImprintSide, MaxImprintSide)
	}
	src, err := png.Decode(bytes.NewReader(imprintPNG))
	if err != nil {
		return nil, registry.FieldErr(field, "is a damaged PNG image: %v", err)
	}

	ink := inkMask(src)
	box := ink.bounds()
	if box.Empty() {
		return nil, registry.FieldErr(field, "shows no imprint (every pixel is transparent or white)")
	}
	w, h := box.Dx(), box.Dy()
	if long := max(w, h); long > appearanceSide {
		w, h = max(1, (w*appearanceSide+long/2)/long), max(1, (h*appearanceSide+long/2)/long)
	}
	out := resample(src, ink, box, w, h)

	var buf bytes.Buffer
	if err := png.Encode(&buf, out); err != nil {
		return nil, err
	}
	prepared, err := sign.PrepareImage(buf.Bytes())
	if err != nil {
		return nil, err
	}
	return &Appearance{png: buf.Bytes(), prepared: prepared, width: out.Bounds().Dx(), height: out.Bounds().Dy()}, nil
}

// mask says, per pixel of the source, whether it is ink.
type mask struct {
	r    image.Rectangle
	bits []bool
}

func inkMask(img image.Image) mask {
	r := img.Bounds()
	m := mask{r: r, bits: make([]bool, r.Dx()*r.Dy())}
	i := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			m.bits[i] = c.A >= 128 && !(c.R >= 235 && c.G >= 235 && c.B >= 235)
			i++
		}
	}
	return m
}

func (m mask) at(x, y int) bool { return m.bits[(y-m.r.Min.Y)*m.r.Dx()+(x-m.r.Min.X)] }

// bounds is the smallest rectangle holding all ink.
func (m mask) bounds() image.Rectangle {
	out := image.Rectangle{}
	for y := m.r.Min.Y; y < m.r.Max.Y; y++ {
		for x := m.r.Min.X; x < m.r.Max.X; x++ {
			if m.at(x, y) {
				out = out.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	return out
}

// resample shrinks (or copies) box of src to w x h with a box filter: a
// target pixel is ink if at least half the source pixels it covers are,
// coloured with the mean of those ink pixels.
func resample(src image.Image, ink mask, box image.Rectangle, w, h int) *image.NRGBA {
	out := image.NewNRGBA(image.Rect(0, 0, w, h))
	span := func(t, n, srcN, origin int) (int, int) {
		lo, hi := origin+t*srcN/n, origin+(t+1)*srcN/n
		return lo, max(hi, lo+1)
	}
	for ty := 0; ty < h; ty++ {
		y0, y1 := span(ty, h, box.Dy(), box.Min.Y)
		for tx := 0; tx < w; tx++ {
			x0, x1 := span(tx, w, box.Dx(), box.Min.X)
			var r, g, b, n, total uint32
			for sy := y0; sy < y1; sy++ {
				for sx := x0; sx < x1; sx++ {
					total++
					if !ink.at(sx, sy) {
						continue
					}
					c := color.NRGBAModel.Convert(src.At(sx, sy)).(color.NRGBA)
					r, g, b, n = r+uint32(c.R), g+uint32(c.G), b+uint32(c.B), n+1
				}
			}
			if n > 0 && n*2 >= total {
				out.SetNRGBA(tx, ty, color.NRGBA{uint8(r / n), uint8(g / n), uint8(b / n), 255})
			}
		}
	}
	return out
}

// appearanceRect is the largest rectangle with the imprint's aspect ratio
// inside the seal box, centred: pdfsign stretches the image to the widget.
func (a *Appearance) rect(r Rect) Rect {
	b := fitBox(Box{X: r.LLX, Y: r.LLY, W: r.URX - r.LLX, H: r.URY - r.LLY}, a.width, a.height)
	return Rect{LLX: b.X, LLY: b.Y, URX: b.X + b.W, URY: b.Y + b.H}
}
