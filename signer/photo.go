package signer

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"io"

	xdraw "golang.org/x/image/draw"

	"github.com/certseal/certseal/registry"
)

// Limits on the holder's photo (照片).
const (
	photoField     = "photo"
	MaxPhotoBytes  = 2 << 20
	MaxPhotoSide   = 4000
	MinPhotoWidth  = 100
	MinPhotoHeight = 120
)

// What is kept of a photo: a larger one is scaled down when the
// certificate is issued. The certificate prints it about 30 mm wide (600
// px is 500 dpi there) and the verification page at a few hundred pixels;
// more would be weight that every page view and every cache entry carries.
const (
	StoredPhotoWidth  = 600
	StoredPhotoHeight = 800
	storedPhotoBytes  = 256 << 10
)

// PhotoInfo describes an accepted photo.
type PhotoInfo struct {
	Format string // "jpeg" or "png"
	Width  int
	Height int
	Bytes  int
}

var (
	zeroRun   = bytes.Repeat([]byte("0"), 256)
	jpegMagic = []byte{0xFF, 0xD8, 0xFF}
	pngMagic  = []byte("\x89PNG\r\n\x1a\n")
)

// CheckPhoto accepts a JPEG or PNG photo within the size limits. It sniffs
// the format from the magic bytes, checks the dimensions from the header
// before decoding (so a small file cannot claim a huge bitmap), then
// decodes it fully, so a truncated or corrupt image is refused here and not
// printed half-grey on a certificate.
func CheckPhoto(b []byte) (PhotoInfo, error) {
	info, _, err := checkPhotoHeader(b)
	if err != nil {
		return info, err
	}
	_, err = decodePhoto(b, info)
	return info, err
}

// NormalizePhoto checks a photo as CheckPhoto does and returns what is
// kept: the photo itself when it fits StoredPhotoWidth×StoredPhotoHeight
// and storedPhotoBytes, otherwise a JPEG of it scaled down to fit (in
// quality too, for the rare photo that is still too heavy).
func NormalizePhoto(b []byte) ([]byte, error) {
	info, _, err := checkPhotoHeader(b)
	if err != nil {
		return nil, err
	}
	img, err := decodePhoto(b, info)
	if err != nil {
		return nil, err
	}
	if info.Width <= StoredPhotoWidth && info.Height <= StoredPhotoHeight && len(b) <= storedPhotoBytes {
		return b, nil
	}
	scale := min(float64(StoredPhotoWidth)/float64(info.Width), float64(StoredPhotoHeight)/float64(info.Height), 1)
	var out bytes.Buffer
	for {
		w, h := int(float64(info.Width)*scale+0.5), int(float64(info.Height)*scale+0.5)
		if w < MinPhotoWidth || h < MinPhotoHeight {
			// Refused here, not by the renderer after a batch reserved a
			// number for it: an ID photo is not that long or that heavy.
			return nil, registry.FieldErr(photoField, "is %dx%d pixels and %d bytes: kept within %dx%d and %d bytes it would be %dx%d, under the %dx%d needed; send an ID photo",
				info.Width, info.Height, len(b), StoredPhotoWidth, StoredPhotoHeight, storedPhotoBytes, w, h, MinPhotoWidth, MinPhotoHeight)
		}
		small := image.NewRGBA(image.Rect(0, 0, w, h))
		draw.Draw(small, small.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
		xdraw.CatmullRom.Scale(small, small.Bounds(), img, img.Bounds(), draw.Over, nil)
		for _, q := range []int{90, 75} {
			out.Reset()
			if err := jpeg.Encode(&out, small, &jpeg.Options{Quality: q}); err != nil {
				return nil, fmt.Errorf("signer: photo: %w", err)
			}
			if out.Len() <= storedPhotoBytes {
				return out.Bytes(), nil
			}
		}
		scale *= 0.75 // terminates: the minimum size stops it
	}
}

// checkPhotoHeader is the cheap part of CheckPhoto: format and size from
// the header, no pixel data decoded.
func checkPhotoHeader(b []byte) (PhotoInfo, image.Config, error) {
	if len(b) == 0 {
		return PhotoInfo{}, image.Config{}, registry.FieldErr(photoField, "is missing")
	}
	if len(b) > MaxPhotoBytes {
		return PhotoInfo{}, image.Config{}, registry.FieldErr(photoField, "is %d bytes; at most %d are accepted", len(b), MaxPhotoBytes)
	}
	var format string
	var decodeConfig func(io.Reader) (image.Config, error)
	switch {
	case bytes.HasPrefix(b, jpegMagic):
		format, decodeConfig = "jpeg", jpeg.DecodeConfig
	case bytes.HasPrefix(b, pngMagic):
		format, decodeConfig = "png", png.DecodeConfig
	default:
		return PhotoInfo{}, image.Config{}, registry.FieldErr(photoField, "must be a JPEG or PNG image")
	}
	cfg, err := decodeConfig(bytes.NewReader(b))
	if err != nil {
		return PhotoInfo{}, image.Config{}, registry.FieldErr(photoField, "is not a readable %s image: %v", format, err)
	}
	if cfg.Width > MaxPhotoSide || cfg.Height > MaxPhotoSide {
		return PhotoInfo{}, image.Config{}, registry.FieldErr(photoField, "is %dx%d pixels; at most %dx%d are accepted", cfg.Width, cfg.Height, MaxPhotoSide, MaxPhotoSide)
	}
	if cfg.Width < MinPhotoWidth || cfg.Height < MinPhotoHeight {
		return PhotoInfo{}, image.Config{}, registry.FieldErr(photoField, "is %dx%d pixels; at least %dx%d are needed", cfg.Width, cfg.Height, MinPhotoWidth, MinPhotoHeight)
	}
	return PhotoInfo{Format: format, Width: cfg.Width, Height: cfg.Height, Bytes: len(b)}, cfg, nil
}

// decodePhoto decodes the pixel data, so a truncated or corrupt image is
// refused and not printed half-grey.
func decodePhoto(b []byte, info PhotoInfo) (image.Image, error) {
	decode := png.Decode
	if info.Format == "jpeg" {
		decode = jpeg.Decode
	}
	img, err := decode(bytes.NewReader(b))
	if err != nil {
		return nil, registry.FieldErr(photoField, "is a damaged %s image: %v", info.Format, err)
	}
	if s := img.Bounds().Size(); s.X != info.Width || s.Y != info.Height {
		return nil, registry.FieldErr(photoField, "is a damaged %s image: header says %dx%d, data is %dx%d", info.Format, info.Width, info.Height, s.X, s.Y)
	}
	return img, nil
}

// photoForPDF returns the bytes gopdf embeds. A baseline or progressive
// JPEG in YCbCr or grey goes in as it is (PDF's DCTDecode reads it, no
// recompression, no quality loss), without decoding its pixels here: the
// photo has passed CheckPhoto on the way in, and decoding it again would
// cost a sixth of a certificate's time. Anything else (PNG, CMYK JPEG) is
// decoded and re-encoded as JPEG on a white background: gopdf's own PNG
// reader rejects interlaced and 16-bit files, and a photo needs no
// transparency.
//
// A JPEG carrying a long run of ASCII '0' bytes (possible in a comment
// segment) is re-encoded too: pdfsign finds its signature placeholder by
// searching the file for such a run and would write the signature into
// the photo.
func photoForPDF(b []byte, info PhotoInfo, cfg image.Config) ([]byte, error) {
	if info.Format == "jpeg" && !bytes.Contains(b, zeroRun) && (cfg.ColorModel == color.YCbCrModel || cfg.ColorModel == color.GrayModel) {
		return b, nil
	}
	img, err := decodePhoto(b, info)
	if err != nil {
		return nil, err
	}
	flat := image.NewRGBA(img.Bounds())
	draw.Draw(flat, flat.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.Draw(flat, flat.Bounds(), img, img.Bounds().Min, draw.Over)
	var out bytes.Buffer
	if err := jpeg.Encode(&out, flat, &jpeg.Options{Quality: 92}); err != nil {
		return nil, fmt.Errorf("signer: photo: %w", err)
	}
	return out.Bytes(), nil
}

// fitBox is the largest box with the aspect ratio w:h that fits in b,
// centred in it.
func fitBox(b Box, w, h int) Box {
	scale := min(b.W/float64(w), b.H/float64(h))
	fw, fh := float64(w)*scale, float64(h)*scale
	return Box{X: b.X + (b.W-fw)/2, Y: b.Y + (b.H-fh)/2, W: fw, H: fh}
}
