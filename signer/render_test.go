package signer

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/certseal/certseal/registry"
	"github.com/signintech/gopdf"
	"golang.org/x/text/encoding/simplifiedchinese"
)

// The embedded font must hold every hanzi of GB2312 (levels 1 and 2,
// rows B0-F7: 6763 characters): make-font.sh subsets to them.
func TestFontCoversGB2312(t *testing.T) {
	fc, err := newFace(DefaultFont())
	if err != nil {
		t.Fatal(err)
	}
	dec := simplifiedchinese.GBK.NewDecoder()
	n := 0
	for hi := 0xB0; hi <= 0xF7; hi++ {
		for lo := 0xA1; lo <= 0xFE; lo++ {
			if hi == 0xD7 && lo >= 0xFA {
				continue // unassigned in GB2312
			}
			s, err := dec.Bytes([]byte{byte(hi), byte(lo)})
			if err != nil {
				t.Fatal(err)
			}
			r := []rune(string(s))[0]
			n++
			if !fc.has(r) {
				t.Errorf("GB2312 %02X%02X %q (U+%04X) is not in the font", hi, lo, r, r)
			}
		}
	}
	if n != 6763 {
		t.Errorf("enumerated %d hanzi, GB2312 has 6763", n)
	}
	for r := rune(0x20); r < 0x7F; r++ {
		if !fc.has(r) {
			t.Errorf("ASCII %q is not in the font", r)
		}
	}
	for _, r := range "，。、；：？！（）《》“”‘’〔〕【】—…·　" {
		if !fc.has(r) {
			t.Errorf("punctuation %q (U+%04X) is not in the font", r, r)
		}
	}
}

// gopdf on its own prints a space for a character its font lacks, without
// an error: this is why the renderer checks every character first.
func TestGopdfDropsMissingGlyphsSilently(t *testing.T) {
	pdf := &gopdf.GoPdf{}
	pdf.Start(gopdf.Config{Unit: gopdf.UnitPT, PageSize: *gopdf.PageSizeA4})
	if err := pdf.AddTTFFontData("f", DefaultFont()); err != nil {
		t.Fatal(err)
	}
	pdf.AddPage()
	if err := pdf.SetFont("f", "", 12); err != nil {
		t.Fatal(err)
	}
	if err := pdf.Text("张𠀀"); err != nil {
		t.Skipf("gopdf now refuses missing glyphs itself (%v); the renderer's own check is still right", err)
	}
	r := testRenderer(t)
	doc := testDocument(t)
	doc.Appointment.Name = "张𠀀"
	if _, err := r.Render(doc); err == nil {
		t.Fatal("Render accepted a character gopdf would drop")
	}
}

func TestRenderRefusesCharactersOutsideTheFont(t *testing.T) {
	r := testRenderer(t)
	for _, tc := range []struct {
		name  string
		edit  func(d *Document)
		field string
		want  string
	}{
		{"supplementary-plane hanzi in the name", func(d *Document) { d.Appointment.Name = "王𠀀" }, "name", `character '𠀀' (U+20000) is not in the certificate font`},
		{"BMP hanzi outside GB2312 in the name", func(d *Document) { d.Appointment.Name = "刘䶮" }, "name", "U+4DAE"},
		{"rare character in the committee", func(d *Document) { d.Appointment.Committee = "威海𡈼评聘委员会" }, "committee", "U+2123C"},
		{"emoji in the post", func(d *Document) { d.Appointment.Post = "教授😀" }, "post", "U+1F600"},
		{"control character", func(d *Document) { d.Appointment.Specialty = "材料\n工程" }, "specialty", "control character U+000A"},
		{"zero-width joiner", func(d *Document) { d.Appointment.Name = "张\u200d三" }, "name", "U+200D"},
		{"invalid UTF-8", func(d *Document) { d.Appointment.Series = "高校\xff教师" }, "series", "UTF-8"},
		{"empty name", func(d *Document) { d.Appointment.Name = "  " }, "name", "is empty"},
		{"no number", func(d *Document) { d.Number = "" }, "number", "is empty"},
		{"no verify address", func(d *Document) { d.VerifyURL = "" }, "verify_url", "is empty"},
		{"no term start", func(d *Document) { d.Appointment.TermFrom = registry.Date{} }, "term_from", "missing"},
		{"term ends before it starts", func(d *Document) { d.Appointment.TermTo = registry.Date{Year: 2020, Month: 1, Day: 1} }, "term_to", "before"},
		{"no photo", func(d *Document) { d.Appointment.Photo = nil }, "photo", "missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := testDocument(t)
			tc.edit(&doc)
			_, err := r.Render(doc)
			var re *registry.Error
			if !errors.As(err, &re) || !errors.Is(err, registry.ErrInvalid) {
				t.Fatalf("error %v, want a registry invalid-input error", err)
			}
			if re.Field != tc.field || !strings.Contains(re.Error(), tc.want) {
				t.Fatalf("error field %q %q, want field %q mentioning %q", re.Field, re.Error(), tc.field, tc.want)
			}
		})
	}
}

func TestFormatTerm(t *testing.T) {
	got, err := formatTerm(registry.Date{Year: 2024, Month: 1, Day: 1}, registry.Date{Year: 2028, Month: 12, Day: 31})
	if err != nil || got != "2024年1月1日至2028年12月31日" {
		t.Errorf("formatTerm = %q, %v", got, err)
	}
	// A one-day term is a term.
	d := registry.Date{Year: 2025, Month: 6, Day: 30}
	if _, err := formatTerm(d, d); err != nil {
		t.Errorf("one-day term: %v", err)
	}
}

func TestBreakUnits(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"副教授", []string{"副", "教", "授"}},
		{"职称系列(专业)名称", []string{"职", "称", "系", "列", "(专", "业)", "名", "称"}},
		{"2025年1月1日", []string{"2025", "年", "1", "月", "1", "日"}},
		{"Senior Engineer", []string{"Senior", " ", "Engineer"}},
		{"教授，博导。", []string{"教", "授，", "博", "导。"}},
		{"“高级”工程师", []string{"“高", "级”", "工", "程", "师"}},
		{"https://x.cn/v/1?k=a", []string{"https://x.cn/v/1?k=a"}},
		{"威示大人字〔2024〕15号", []string{"威", "示", "大", "人", "字", "〔2024〕", "15", "号"}},
	} {
		if got := breakUnits(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("breakUnits(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// inBox checks that every line lies inside box: from the first line's
// ascent to the last line's descent, from the left to the right edge.
func inBox(t *testing.T, fc *face, what string, b block, box Box) {
	t.Helper()
	const eps = 1e-6
	for _, l := range b.lines {
		top, bottom := l.baseline-fc.ascent*b.size, l.baseline+fc.descent*b.size
		if l.x < box.X-eps || l.x+l.width > box.X+box.W+eps || top < box.Y-eps || bottom > box.Y+box.H+eps {
			t.Errorf("%s: line %q at x %.2f..%.2f y %.2f..%.2f (size %g) leaves box %v",
				what, l.text, l.x, l.x+l.width, top, bottom, b.size, box)
		}
		if got := fc.advance(l.text) * b.size; got-l.width > eps || l.width-got > eps {
			t.Errorf("%s: line %q width %.3f, measured %.3f", what, l.text, l.width, got)
		}
	}
}

func TestLongValuesWrapAndShrinkInsideTheirBoxes(t *testing.T) {
	r := testRenderer(t)
	box := func(field string) Field { return r.tpl.Fields[fieldIndex(&r.tpl, field)] }
	longPost := "高等学校教师岗位（专业技术二级）兼任材料科学与工程学院学术委员会副主任委员"
	longCommittee := "威海示范大学高等学校教师系列（含实验技术、思想政治教育、图书资料、档案、出版、工程技术等专业）高级专业技术职务暨岗位聘用评聘委员会"
	for _, tc := range []struct {
		name      string
		edit      func(d *Document)
		field     string
		wantLines int     // at least
		maxSize   float64 // 0: the template's size
	}{
		{"short post: one line, full size", func(d *Document) {}, FieldPost, 1, 0},
		{"long post wraps at full size", func(d *Document) { d.Appointment.Post = longPost }, FieldPost, 2, 0},
		{"longer committee wraps and shrinks", func(d *Document) { d.Appointment.Committee = longCommittee }, FieldCommittee, 2, 11.5},
		{"long name shrinks", func(d *Document) {
			// Three lines at full size do not fit the row.
			d.Appointment.Name = "阿卜杜热合曼·买买提艾力·阿不都热西提·吐尔逊·阿卜杜热合曼·买买提艾力·阿不都热西提·吐尔逊"
		}, FieldName, 1, 11.5},
		{"verify address wraps", func(d *Document) {}, FieldVerifyURL, 2, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := testDocument(t)
			tc.edit(&doc)
			blocks, err := r.layoutFields(doc, true)
			if err != nil {
				t.Fatal(err)
			}
			// Every field, not only the one under test, stays in its box.
			for i, f := range r.fields {
				inBox(t, r.face, f.Field.Field, blocks[i], f.Box)
			}
			f := box(tc.field)
			b := blocks[fieldIndex(&r.tpl, tc.field)]
			if len(b.lines) < tc.wantLines {
				t.Errorf("%d lines, want at least %d", len(b.lines), tc.wantLines)
			}
			want := tc.maxSize
			if want == 0 {
				want = f.Size
			}
			if b.size > want || b.size < r.tpl.MinFontSize {
				t.Errorf("size %g, want at most %g and at least %g", b.size, want, r.tpl.MinFontSize)
			}
			var text strings.Builder
			for _, l := range b.lines {
				text.WriteString(l.text)
			}
			if got := strings.ReplaceAll(text.String(), " ", ""); got != strings.ReplaceAll(valueOf(doc, tc.field), " ", "") {
				t.Errorf("lines %q lose or add text", got)
			}
			if _, err := r.Render(doc); err != nil {
				t.Errorf("Render: %v", err)
			}
		})
	}
	// The fixed texts too.
	for i, x := range r.tpl.Texts {
		inBox(t, r.face, x.Text, r.static[i], x.Box)
	}

	// Past the minimum size: a clear error, never an overflow.
	doc := testDocument(t)
	doc.Appointment.Post = strings.Repeat(longPost, 10)
	_, err := r.Render(doc)
	var re *registry.Error
	if !errors.As(err, &re) || re.Field != FieldPost || !strings.Contains(re.Msg, "too long") {
		t.Fatalf("error %v, want a too-long error for post", err)
	}
}

func valueOf(d Document, field string) string {
	switch field {
	case FieldPost:
		return d.Appointment.Post
	case FieldCommittee:
		return d.Appointment.Committee
	case FieldName:
		return d.Appointment.Name
	case FieldVerifyURL:
		return d.VerifyURL
	}
	panic(field)
}

func TestFitAlignment(t *testing.T) {
	fc, err := newFace(DefaultFont())
	if err != nil {
		t.Fatal(err)
	}
	box := Box{X: 100, Y: 50, W: 200, H: 30}
	for _, tc := range []struct {
		al    align
		wantX func(w float64) float64
	}{
		{alignLeft, func(w float64) float64 { return 100 }},
		{alignCenter, func(w float64) float64 { return 100 + (200-w)/2 }},
		{alignRight, func(w float64) float64 { return 300 - w }},
	} {
		b, err := fc.fit("f", "评聘证书", box, 12, 6, 1.25, tc.al)
		if err != nil {
			t.Fatal(err)
		}
		l := b.lines[0]
		if want := tc.wantX(l.width); l.x != want {
			t.Errorf("align %d: x %g, want %g", tc.al, l.x, want)
		}
		if l.width != 48 { // four full-width characters at 12 pt
			t.Errorf("width %g, want 48", l.width)
		}
	}
	// The smallest size is always tried, even when it is not on the step.
	b, err := fc.fit("f", strings.Repeat("中", 30), Box{W: 30*6.3 + 0.01, H: 10}, 12, 6.3, 1.25, alignLeft)
	if err != nil || b.size != 6.3 {
		t.Errorf("fit at the minimum: size %g, %v", b.size, err)
	}
}

func TestRenderPNGPhoto(t *testing.T) {
	r := testRenderer(t)
	doc := testDocument(t)
	img := image.NewNRGBA(image.Rect(0, 0, 300, 400))
	for i := range img.Pix {
		img.Pix[i] = 0x80 // half-transparent grey: flattened onto white
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	doc.Appointment.Photo = buf.Bytes()
	pdf, err := r.Render(doc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(pdf, []byte("/DCTDecode")) {
		t.Error("PNG photo not embedded as JPEG")
	}
	if bytes.Contains(pdf, []byte("/SMask")) {
		t.Error("photo carries a transparency mask")
	}
}

func TestPhotoForPDF(t *testing.T) {
	embed := func(b []byte) []byte {
		t.Helper()
		info, cfg, err := checkPhotoHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		out, err := photoForPDF(b, info, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	b := readTestdata(t, "photo.jpg")
	if !bytes.Equal(embed(b), b) {
		t.Error("a plain JPEG was re-encoded")
	}
	// A JPEG comment full of '0' would attract pdfsign's placeholder search.
	withZeros := append([]byte{0xFF, 0xD8, 0xFF, 0xFE, 0x01, 0x02}, bytes.Repeat([]byte("0"), 256)...)
	withZeros = append(withZeros, b[2:]...)
	if out := embed(withZeros); bytes.Contains(out, zeroRun) || !bytes.HasPrefix(out, jpegMagic) {
		t.Error("a JPEG with a run of '0' went in as it was")
	}
	// CMYK JPEGs and PNGs become plain JPEGs.
	cmyk := readTestdata(t, "photo-cmyk.jpg")
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(cmyk)); err != nil || cfg.ColorModel != color.CMYKModel {
		t.Fatalf("../testdata/photo-cmyk.jpg is not CMYK: %v %v", cfg.ColorModel, err)
	}
	for name, in := range map[string][]byte{"CMYK JPEG": cmyk, "PNG": encodePNG(t, 120, 150)} {
		out := embed(in)
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(out))
		if err != nil || cfg.ColorModel != color.YCbCrModel && cfg.ColorModel != color.GrayModel {
			t.Errorf("%s embedded as %v, %v", name, cfg.ColorModel, err)
		}
	}
}

func TestFitBoxKeepsAspect(t *testing.T) {
	for _, tc := range []struct {
		w, h int
		want Box
	}{
		{100, 140, Box{X: 10, Y: 20, W: 100, H: 140}},
		{200, 140, Box{X: 10, Y: 20 + 35, W: 100, H: 70}},
		{50, 140, Box{X: 10 + 25, Y: 20, W: 50, H: 140}},
	} {
		if got := fitBox(Box{X: 10, Y: 20, W: 100, H: 140}, tc.w, tc.h); got != tc.want {
			t.Errorf("fitBox %dx%d = %v, want %v", tc.w, tc.h, got, tc.want)
		}
	}
}

// One Renderer serves many goroutines (run with -race).
func TestRenderConcurrently(t *testing.T) {
	r := testRenderer(t)
	doc := testDocument(t)
	want, err := r.Render(doc)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := doc
			if i%2 == 1 {
				d.Appointment.Name = "李四"
			}
			got, err := r.Render(d)
			if err == nil && i%2 == 0 && !bytes.Equal(got, want) {
				err = errors.New("same document rendered differently")
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

func TestLoadFont(t *testing.T) {
	dir := t.TempDir()
	good := dir + "/f.ttf"
	if err := os.WriteFile(good, DefaultFont(), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFont(good); err != nil {
		t.Errorf("LoadFont(default font): %v", err)
	}
	bad := dir + "/bad.ttf"
	if err := os.WriteFile(bad, []byte("OTTO not really"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFont(bad); err == nil {
		t.Error("LoadFont accepted garbage")
	}
}

// CheckText refuses what Render would, for the appointment's own fields,
// before a number or address exists.
func TestCheckText(t *testing.T) {
	r := testRenderer(t)
	a := testDocument(t).Appointment
	if err := r.CheckText(a); err != nil {
		t.Fatalf("good appointment refused: %v", err)
	}
	a.Committee = "威海𡈼评聘委员会"
	err := r.CheckText(a)
	var re *registry.Error
	if !errors.As(err, &re) || re.Field != FieldCommittee || !strings.Contains(re.Msg, "U+2123C") {
		t.Fatalf("error %v, want the committee's missing character", err)
	}
	a = testDocument(t).Appointment
	a.Post = strings.Repeat("专业技术岗位", 100)
	if err := r.CheckText(a); registry.CodeOf(err) != registry.CodeInvalid || !strings.Contains(err.Error(), "too long") {
		t.Fatalf("error %v, want too long", err)
	}
}

// A QR code with modules under 0.4 mm is refused, not printed unreadable.
func TestRenderRefusesDenseQRCode(t *testing.T) {
	tpl := edit(func(t *Template) { t.Fields[fieldIndex(t, FieldVerifyURL)].Box.H = 120 })
	r, err := NewRenderer(tpl, DefaultFont())
	if err != nil {
		t.Fatal(err)
	}
	doc := testDocument(t)
	doc.VerifyURL = "https://certseal.example.cn/v/1?k=" + strings.Repeat("A", 200)
	if _, err := r.Render(doc); err != nil {
		t.Fatalf("a 234-character address: %v", err)
	}
	doc.VerifyURL = "https://certseal.example.cn/v/1?k=" + strings.Repeat("A", 600)
	_, err = r.Render(doc)
	var re *registry.Error
	if !errors.As(err, &re) || re.Field != FieldVerifyURL || !strings.Contains(re.Msg, "QR code") {
		t.Fatalf("error %v, want verify_url too long for a QR code", err)
	}
}
