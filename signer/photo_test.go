package signer

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"

	"github.com/certseal/certseal/registry"
)

func encodePNG(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, w, h))
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func encodeJPEG(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pngClaiming is a PNG whose header claims w x h but whose data is tiny:
// the size must be refused before decoding.
func pngClaiming(t testing.TB, w, h uint32) []byte {
	t.Helper()
	b := encodePNG(t, 120, 150)
	ihdr := b[8+8 : 8+8+13] // after signature, length and type
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	binary.BigEndian.PutUint32(b[8+8+13:], crc32.ChecksumIEEE(b[8+4:8+8+13]))
	return b
}

func TestCheckPhoto(t *testing.T) {
	sample := readTestdata(t, "photo.jpg")
	var gifBuf bytes.Buffer
	if err := gif.Encode(&gifBuf, image.NewPaletted(image.Rect(0, 0, 200, 200), []color.Color{color.Black}), nil); err != nil {
		t.Fatal(err)
	}
	jpg := encodeJPEG(t, 300, 400)
	for _, tc := range []struct {
		name string
		b    []byte
		want string // in the error; "" = accepted
		info PhotoInfo
	}{
		{"sample JPEG", sample, "", PhotoInfo{Format: "jpeg", Width: 358, Height: 441, Bytes: len(sample)}},
		{"PNG", encodePNG(t, 120, 160), "", PhotoInfo{Format: "png", Width: 120, Height: 160}},
		{"smallest", encodeJPEG(t, MinPhotoWidth, MinPhotoHeight), "", PhotoInfo{Format: "jpeg", Width: MinPhotoWidth, Height: MinPhotoHeight}},
		{"empty", nil, "is missing", PhotoInfo{}},
		{"GIF", gifBuf.Bytes(), "must be a JPEG or PNG", PhotoInfo{}},
		{"PDF pretending", []byte("%PDF-1.7\n"), "must be a JPEG or PNG", PhotoInfo{}},
		{"too narrow", encodePNG(t, 99, 200), "at least 100x120", PhotoInfo{}},
		{"too short", encodePNG(t, 200, 119), "at least 100x120", PhotoInfo{}},
		{"too many pixels", encodePNG(t, MaxPhotoSide+1, 130), "at most 4000x4000", PhotoInfo{}},
		{"header claims a huge image", pngClaiming(t, 60000, 60000), "at most 4000x4000", PhotoInfo{}},
		{"too many bytes", append(bytes.Clone(jpg), make([]byte, MaxPhotoBytes)...), "bytes; at most", PhotoInfo{}},
		{"truncated JPEG", jpg[:len(jpg)/2], "damaged jpeg", PhotoInfo{}},
		{"JPEG magic, then junk", append([]byte{0xFF, 0xD8, 0xFF}, "not a jpeg at all"...), "not a readable jpeg", PhotoInfo{}},
		{"PNG header claims more rows than it has", pngClaiming(t, 120, 300), "damaged png", PhotoInfo{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, err := CheckPhoto(tc.b)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				tc.info.Bytes = len(tc.b)
				if info != tc.info {
					t.Errorf("info %+v, want %+v", info, tc.info)
				}
				return
			}
			var re *registry.Error
			if !errors.As(err, &re) || re.Field != "photo" || re.Code != registry.CodeInvalid || !strings.Contains(re.Msg, tc.want) {
				t.Fatalf("error %v, want an invalid photo error mentioning %q", err, tc.want)
			}
		})
	}
}

func FuzzCheckPhoto(f *testing.F) {
	f.Add(readTestdata(f, "photo.jpg"))
	f.Add(encodePNG(f, 120, 150))
	f.Add(pngClaiming(f, 120, 300))
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xE0})
	f.Fuzz(func(t *testing.T, b []byte) {
		info, err := CheckPhoto(b)
		if err != nil {
			if registry.CodeOf(err) != registry.CodeInvalid {
				t.Fatalf("error is not an invalid-input error: %v", err)
			}
			return
		}
		if info.Width < MinPhotoWidth || info.Height < MinPhotoHeight || info.Width > MaxPhotoSide || info.Height > MaxPhotoSide || info.Bytes != len(b) {
			t.Fatalf("accepted out of limits: %+v", info)
		}
	})
}

// What is kept of a photo: a small one as it came, a large one (in pixels
// or in bytes) scaled down into StoredPhotoWidth×StoredPhotoHeight with its
// shape, as a JPEG.
func TestNormalizePhoto(t *testing.T) {
	noisy := func(w, h int) []byte { // a photo heavy in bytes for its size
		img := image.NewRGBA(image.Rect(0, 0, w, h))
		for i := range img.Pix {
			img.Pix[i] = byte(i*7919 + i/3)
		}
		var b bytes.Buffer
		if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 100}); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	tests := []struct {
		name  string
		in    []byte
		same  bool
		w, h  int
		limit int
	}{
		{"small jpeg", encodeJPEG(t, 358, 441), true, 358, 441, 0},
		{"small png", encodePNG(t, 300, 400), true, 300, 400, 0},
		{"tall jpeg", encodeJPEG(t, 1200, 2400), false, 400, 800, storedPhotoBytes},
		{"wide png", encodePNG(t, 3000, 1500), false, 600, 300, storedPhotoBytes},
		{"small but heavy", noisy(590, 790), false, 0, 0, storedPhotoBytes}, // any size, as long as it fits the bytes
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.w == 0 && len(tc.in) <= storedPhotoBytes {
				t.Fatalf("the heavy fixture has %d bytes: it tests nothing", len(tc.in))
			}
			out, err := NormalizePhoto(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if same := bytes.Equal(out, tc.in); same != tc.same {
				t.Fatalf("kept as it came: %v, want %v", same, tc.same)
			}
			cfg, format, err := image.DecodeConfig(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			if (tc.w != 0 && (cfg.Width != tc.w || cfg.Height != tc.h)) || cfg.Width > StoredPhotoWidth || cfg.Height > StoredPhotoHeight || (!tc.same && format != "jpeg") {
				t.Errorf("kept %s %dx%d, want %dx%d", format, cfg.Width, cfg.Height, tc.w, tc.h)
			}
			if tc.limit > 0 && len(out) > tc.limit {
				t.Errorf("kept %d bytes, more than %d", len(out), tc.limit)
			}
		})
	}
	if _, err := NormalizePhoto([]byte("GIF89a")); err == nil {
		t.Error("a GIF was accepted")
	}
	// A photo that would fall under the minimum once kept is refused here
	// (the renderer would refuse it later, after a batch reserved a number).
	if _, err := NormalizePhoto(encodeJPEG(t, 800, 150)); err == nil || !strings.Contains(err.Error(), "under the 100x120 needed") {
		t.Errorf("an 800x150 photo: %v", err)
	}
}
