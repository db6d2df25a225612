package signer

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultTemplate(t *testing.T) {
	tpl := DefaultTemplate()
	if tpl.PageWidth != 595.28 || tpl.PageHeight != 841.89 {
		t.Errorf("page %gx%g, want A4 portrait 595.28x841.89", tpl.PageWidth, tpl.PageHeight)
	}
	placed := map[string]Field{}
	for _, f := range tpl.Fields {
		placed[f.Field] = f
	}
	// The labels of the 式样, each with its value box.
	for field, label := range map[string]string{
		FieldName: "姓　　名", FieldGender: "性　　别", FieldIDNumber: "身份证号", FieldSeries: "职称系列（专业）名称",
		FieldSpecialty: "从事专业", FieldLevel: "职称层级", FieldPost: "评聘岗位", FieldTerm: "聘用期限",
		FieldCommittee: "评聘委员会名称", FieldNumber: "证书编号", FieldPublicationNumber: "公布文号", FieldVerifyURL: "证书查询",
	} {
		if placed[field].Label != label {
			t.Errorf("field %s has label %q, want %q", field, placed[field].Label, label)
		}
	}
	var texts []string
	for _, x := range tpl.Texts {
		texts = append(texts, x.Text)
	}
	for _, want := range []string{"山东省职称自主评聘单位", "评聘证书", ValidityLine, "自主评聘单位（章）"} {
		if !strings.Contains(strings.Join(texts, "|"), want) {
			t.Errorf("default template lacks the text %s", want)
		}
	}
	if tpl.QR.W < 25*72/25.4 {
		t.Errorf("QR box %v is under 25 mm", tpl.QR)
	}
	// The seal sits over 自主评聘单位（章）, as a stamp does.
	for _, x := range tpl.Texts {
		if x.Text == "自主评聘单位（章）" && !overlaps(x.Box, tpl.Seal) {
			t.Errorf("seal box %v is not at 自主评聘单位（章） %v", tpl.Seal, x.Box)
		}
	}
}

// The 式样's rows are evenly spaced, each label on one line beside its
// value, and the 式样's brackets are full-width, as Chinese text has them.
func TestDefaultTemplateRows(t *testing.T) {
	tpl := DefaultTemplate()
	fc, err := newFace(DefaultFont())
	if err != nil {
		t.Fatal(err)
	}
	var rows []Field
	for _, f := range tpl.Fields {
		if f.Label != "" {
			rows = append(rows, f)
		}
	}
	if len(rows) != 12 {
		t.Fatalf("%d labelled rows, want the 式样's 12", len(rows))
	}
	for i, f := range rows {
		if f.LabelBox.Y != f.Box.Y || f.LabelBox.H != f.Box.H || f.Box.H != rows[0].Box.H {
			t.Errorf("%s: label %v and value %v are not one row of the others' height %g", f.Field, f.LabelBox, f.Box, rows[0].Box.H)
		}
		if i > 0 {
			if gap, first := f.Box.Y-rows[i-1].Box.Y, rows[1].Box.Y-rows[0].Box.Y; gap != first {
				t.Errorf("%s is %g below %s; rows are %g apart", f.Field, gap, rows[i-1].Field, first)
			}
		}
		if w := fc.advance(f.Label) * f.labelSize(); w > f.LabelBox.W {
			t.Errorf("label %q is %g wide, its box %g: it wraps", f.Label, w, f.LabelBox.W)
		}
		if f.LabelBox.X+f.LabelBox.W > f.Box.X {
			t.Errorf("label %q runs into its value", f.Label)
		}
	}
	for _, x := range append(tpl.Texts, Text{Text: rows[3].Label}) {
		if strings.ContainsAny(x.Text, "()") {
			t.Errorf("%q has half-width brackets; the 式样 prints （）", x.Text)
		}
	}
}

func overlaps(a, b Box) bool {
	return a.X < b.X+b.W && b.X < a.X+a.W && a.Y < b.Y+b.H && b.Y < a.Y+a.H
}

func TestSealRect(t *testing.T) {
	tpl := Template{PageHeight: 800, Seal: Box{X: 100, Y: 600, W: 120, H: 110}}
	got := tpl.SealRect()
	want := Rect{LLX: 100, LLY: 90, URX: 220, URY: 200}
	if got != want {
		t.Errorf("SealRect = %+v, want %+v", got, want)
	}
}

// edit returns the default template changed by f.
func edit(f func(t *Template)) Template {
	t := DefaultTemplate()
	t.Texts = append([]Text(nil), t.Texts...)
	t.Fields = append([]Field(nil), t.Fields...)
	f(&t)
	return t
}

func fieldIndex(t *Template, name string) int {
	for i, f := range t.Fields {
		if f.Field == name {
			return i
		}
	}
	panic("no field " + name)
}

func TestTemplateValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		tpl  Template
		want string // in the error; "" = valid
	}{
		{"default", DefaultTemplate(), ""},
		{"no page", edit(func(t *Template) { t.PageWidth = 0 }), "is not a page"},
		{"box off the page", edit(func(t *Template) { t.Photo.X = t.PageWidth - 10 }), "photo box"},
		{"negative box", edit(func(t *Template) { t.Fields[0].Box.Y = -1 }), `fields[0] "name" box`},
		{"empty seal box", edit(func(t *Template) { t.Seal = Box{} }), "seal box"},
		{"QR under 25 mm", edit(func(t *Template) { t.QR.W, t.QR.H = 60, 60 }), "smaller than 25 mm"},
		{"required field missing", edit(func(t *Template) {
			i := fieldIndex(t, FieldIDNumber)
			t.Fields = append(t.Fields[:i], t.Fields[i+1:]...)
		}), `required field "id_number"`},
		{"seal line optional", edit(func(t *Template) {
			i := fieldIndex(t, FieldSealLine)
			t.Fields = append(t.Fields[:i], t.Fields[i+1:]...)
		}), ""},
		{"field twice", edit(func(t *Template) { t.Fields = append(t.Fields, t.Fields[0]) }), "placed twice"},
		{"unknown field", edit(func(t *Template) { t.Fields[0].Field = "nickname" }), "unknown field"},
		{"label box without label", edit(func(t *Template) { t.Fields[0].Label = "" }), "label box but no label"},
		{"bad colour", edit(func(t *Template) { t.Texts[0].Color = "red" }), "not #RRGGBB"},
		{"bad hex colour", edit(func(t *Template) { t.Texts[0].Color = "#12345G" }), "not #RRGGBB"},
		{"bad align", edit(func(t *Template) { t.Texts[0].Align = "justify" }), "align"},
		{"size below minimum", edit(func(t *Template) { t.Fields[0].Size = 3 }), "size 3"},
		{"label size below minimum", edit(func(t *Template) { t.Fields[0].LabelSize = 2 }), "label size 2"},
		{"min font size", edit(func(t *Template) { t.MinFontSize = 1 }), "min_font_size"},
		{"line spacing", edit(func(t *Template) { t.LineSpacing = 0.5 }), "line_spacing"},
		{"no validity line", edit(func(t *Template) {
			for i := range t.Texts {
				t.Texts[i].Text = strings.ReplaceAll(t.Texts[i].Text, ValidityLine, "有效")
			}
		}), ValidityLine},
		{"line off the page", edit(func(t *Template) { t.Lines = []Line{{X1: 0, Y1: 0, X2: 9999, Y2: 0, Width: 1}} }), "lines[0] is off the page"},
		{"frame width", edit(func(t *Template) { t.Frames = []Frame{{Box: Box{X: 1, Y: 1, W: 10, H: 10}}} }), "frames[0] width"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.tpl.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("valid template refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestParseTemplate(t *testing.T) {
	good, err := json.Marshal(DefaultTemplate())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseTemplate(good); err != nil {
		t.Fatalf("round trip of the default template: %v", err)
	}
	for _, tc := range []struct {
		name, json, want string
	}{
		{"unknown key (typo)", strings.Replace(string(good), `"min_font_size"`, `"min_fontsize"`, 1), "unknown field"},
		{"trailing data", string(good) + "{}", "trailing data"},
		{"not JSON", "page: A4", "template"},
		{"empty object", "{}", "is not a page"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseTemplate([]byte(tc.json))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}

func TestLoadTemplate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "t.json")
	tpl := edit(func(t *Template) { t.Name = "operator layout"; t.Photo.W = 90 })
	b, _ := json.Marshal(tpl)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadTemplate(path)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "operator layout" || got.Photo.W != 90 {
		t.Errorf("loaded %q photo %v", got.Name, got.Photo)
	}
	if _, err := LoadTemplate(filepath.Join(dir, "missing.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	big := filepath.Join(dir, "big.json")
	if err := os.WriteFile(big, make([]byte, maxTemplateBytes+10), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadTemplate(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("oversized file: %v", err)
	}
}

// NewRenderer checks what Validate cannot: fixed texts must be printable in
// the font and fit their boxes.
func TestNewRendererChecksTextsAgainstFont(t *testing.T) {
	for _, tc := range []struct {
		name string
		tpl  Template
		want string
	}{
		{"text outside the font", edit(func(t *Template) { t.Texts[0].Text = "山东省𠀀" }), "U+20000"},
		{"text too long for its box", edit(func(t *Template) {
			t.Texts[0].Text = strings.Repeat("山东省职称自主评聘单位", 40)
		}), "too long"},
		{"label too long", edit(func(t *Template) {
			t.Fields[0].Label = strings.Repeat("姓名", 80)
		}), "label of name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewRenderer(tc.tpl, DefaultFont())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := NewRenderer(DefaultTemplate(), []byte("not a font")); err == nil {
		t.Error("NewRenderer accepted a font that is not a font")
	}
}

func FuzzParseTemplate(f *testing.F) {
	f.Add(defaultTemplateJSON)
	f.Add([]byte(`{"page_width": 100, "page_height": 100}`))
	f.Add([]byte(`{"fields": [{"field": "name", "box": {"x": 1e308}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tpl, err := ParseTemplate(b)
		if err != nil {
			return
		}
		// Whatever parses must pass its own validation and give boxes on
		// the page.
		if err := tpl.Validate(); err != nil {
			t.Fatalf("parsed template fails Validate: %v", err)
		}
		r := tpl.SealRect()
		if r.LLX < 0 || r.LLY < 0 || r.URX > tpl.PageWidth || r.URY > tpl.PageHeight {
			t.Fatalf("seal rect %+v off the page", r)
		}
	})
}
