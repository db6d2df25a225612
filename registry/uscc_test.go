package registry

import (
	"bufio"
	"errors"
	"os"
	"strings"
	"testing"
)

// publishedUSCCs reads testdata/ids_uscc.txt: real codes whose check
// characters were computed independently of this package.
func publishedUSCCs(tb testing.TB) []string {
	tb.Helper()
	f, err := os.Open("testdata/ids_uscc.txt")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var codes []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		codes = append(codes, strings.Fields(line)[0])
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	if len(codes) < 10 {
		tb.Fatalf("only %d codes in testdata/ids_uscc.txt", len(codes))
	}
	return codes
}

func TestParseUSCCPublished(t *testing.T) {
	for _, code := range publishedUSCCs(t) {
		u, err := ParseUSCC(code)
		if err != nil || u != (USCC{Code: code}) {
			t.Errorf("ParseUSCC(%s) = %+v, %v; want well formed, not legacy", code, u, err)
		}
		c, err := USCCCheckChar(code[:17])
		if err != nil || c != code[17] {
			t.Errorf("USCCCheckChar(%s) = %q, %v; want %q", code[:17], c, err, code[17])
		}
	}
}

// withUSCCCheck completes 17 characters with their check character.
func withUSCCCheck(t *testing.T, first17 string) string {
	t.Helper()
	c, err := USCCCheckChar(first17)
	if err != nil {
		t.Fatalf("USCCCheckChar(%s): %v", first17, err)
	}
	return first17 + string(c)
}

func TestParseUSCC(t *testing.T) {
	type want struct {
		code   string
		legacy bool
		err    string // part of the message; "" means accepted
	}
	cases := []struct {
		name string
		in   string
		want want
	}{
		{"published", "91350100M000100Y43", want{code: "91350100M000100Y43"}},
		{"lower case and spaces", "  91350100m000100y43\t", want{code: "91350100M000100Y43"}},
		{"full-width space trimmed", "\u300091350100M000100Y43\u3000", want{code: "91350100M000100Y43"}},
		{"check character X", "91110000710925462X", want{code: "91110000710925462X"}},
		{"check character wrong: legacy", "91350100M000100Y44", want{code: "91350100M000100Y44", legacy: true}},
		{"code from the brief, check character should be 1: legacy", "911100001000195980", want{code: "911100001000195980", legacy: true}},
		{"empty", "", want{err: "must be 18 characters, got 0"}},
		{"17 characters", "91350100M000100Y4", want{err: "must be 18 characters, got 17"}},
		{"19 characters", "91350100M000100Y431", want{err: "must be 18 characters, got 19"}},
		{"inner space", "91350100 M000100Y43", want{err: "must be 18 characters, got 19"}},
		{"letter I", "91350100MI00100Y43", want{err: "character 10 ('I') is not allowed"}},
		{"letter O hints 0", "91350100M0O0100Y43", want{err: "character 11 ('O') is not allowed: a USCC uses digits and capital letters except I, O, Z, S and V (did you mean 0?)"}},
		{"letter V", "91350100M000100V43", want{err: "character 16 ('V') is not allowed"}},
		{"check character S", "91350100M000100Y4S", want{err: "character 18 ('S') is not allowed"}},
		{"punctuation", "91350100M000-00Y43", want{err: "character 13 ('-') is not allowed"}},
		{"non-ASCII counted as one", "91350100M000１00Y43", want{err: "character 13 ('１') is not allowed"}},
		{"dotless i does not become I", "91350100Mı00100Y43", want{err: "character 10 ('ı') is not allowed"}},
		{"invalid UTF-8", "91350100M\xff00100Y43", want{err: "character 10"}},
		{"unknown authority", "B1350100M000100Y43", want{err: "character 1 ('B') is not a registration authority code"}},
		{"authority 0", "01350100M000100Y43", want{err: "character 1 ('0') is not a registration authority code"}},
		{"category of another authority", "94350100M000100Y43", want{err: "character 2 ('4') is not an organisation category of registration authority 9 (工商): expected one of 1, 2, 3"}},
		{"民政 has no category 4", "54350100M000100Y43", want{err: "character 2 ('4') is not an organisation category of registration authority 5 (民政): expected one of 1, 2, 3, 9"}},
		{"category letter", "1A100000400000624D", want{err: "character 2 ('A') is not an organisation category of registration authority 1"}},
		{"Y has only category 1", "Y2350100M000100Y43", want{err: "registration authority Y (其他): expected one of 1"}},
		{"division not digits", "9135A100M000100Y43", want{err: "character 5 ('A') must be a digit: characters 3-8 are the administrative division code"}},
		{"division position 8", "9135010AM000100Y43", want{err: "character 8 ('A') must be a digit"}},
	}
	// Codes of the other registration authorities, with check characters
	// computed here: the published codes above prove the computation.
	for _, first17 := range []string{
		"12370000MB0000000", // 机构编制, 事业单位 (Shandong)
		"21110000MC0000000", // 外交
		"31370000MD0000000", // 司法行政, 律师执业机构
		"35370100ME0000000", // 司法行政, 仲裁委员会
		"41110000MF0000000", // 文化
		"52371000MJ0000000", // 民政, 民办非企业单位
		"62110000MK0000000", // 旅游, 港澳台代表机构
		"72370000ML0000000", // 宗教, 宗教院校
		"81370000MM0000000", // 工会
		"93370000MN0000000", // 工商, 农民专业合作社
		"A1110000MP0000000", // 军队事业单位
		"N2371002MQ0000000", // 农业, 村级集体经济组织
		"Y1370000MR0000000", // 其他
	} {
		code := withUSCCCheck(t, first17)
		cases = append(cases, struct {
			name string
			in   string
			want want
		}{"authority " + first17[:2], code, want{code: code}})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u, err := ParseUSCC(tc.in)
			if tc.want.err != "" {
				if err == nil {
					t.Fatalf("ParseUSCC(%q) = %+v, want error %q", tc.in, u, tc.want.err)
				}
				assertFieldErr(t, err, "uscc", tc.want.err)
				return
			}
			if err != nil {
				t.Fatalf("ParseUSCC(%q): %v", tc.in, err)
			}
			if u.Code != tc.want.code || u.Legacy != tc.want.legacy {
				t.Fatalf("ParseUSCC(%q) = %+v, want code %s legacy %v", tc.in, u, tc.want.code, tc.want.legacy)
			}
		})
	}
}

// assertFieldErr checks err is an invalid-input error on field whose
// message contains msg.
func assertFieldErr(t *testing.T, err error, field, msg string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrInvalid) || e.Field != field {
		t.Fatalf("error %v: want an invalid-input error on field %q", err, field)
	}
	if !strings.Contains(e.Msg, msg) {
		t.Fatalf("error message %q does not contain %q", e.Msg, msg)
	}
}

func TestUSCCCheckCharErrors(t *testing.T) {
	for _, tc := range []struct{ in, msg string }{
		{"91350100M000100Y", "must be 17 characters, got 16"},
		{"91350100M000100Y43", "must be 17 characters, got 18"},
		{"91350100m000100Y4", "character 9 ('m') is not allowed"}, // no normalisation here
		{"91350100M000100Z4", "character 16 ('Z') is not allowed: a USCC uses digits and capital letters except I, O, Z, S and V (did you mean 2?)"},
	} {
		_, err := USCCCheckChar(tc.in)
		if err == nil {
			t.Fatalf("USCCCheckChar(%q): no error", tc.in)
		}
		assertFieldErr(t, err, "uscc", tc.msg)
	}
}

// Every single substitution and every adjacent transposition of a valid
// code is caught: weights 3^k are never 0 mod 31, and neighbours' weights
// differ by a factor 3, so (a-b)·w·(3-1) is never 0 mod 31 either.
func TestUSCCDetectsTypos(t *testing.T) {
	for _, code := range publishedUSCCs(t) {
		for i := range len(code) {
			for j := range len(usccAlphabet) {
				typo := code[:i] + usccAlphabet[j:j+1] + code[i+1:]
				if typo == code {
					continue
				}
				if u, err := ParseUSCC(typo); err == nil && !u.Legacy {
					t.Errorf("%s with character %d changed: %s accepted as valid", code, i+1, typo)
				}
			}
			if i+1 < len(code) && code[i] != code[i+1] {
				swapped := code[:i] + code[i+1:i+2] + code[i:i+1] + code[i+2:]
				if u, err := ParseUSCC(swapped); err == nil && !u.Legacy {
					t.Errorf("%s with characters %d and %d swapped: %s accepted as valid", code, i+1, i+2, swapped)
				}
			}
		}
	}
}

func FuzzParseUSCC(f *testing.F) {
	for _, code := range publishedUSCCs(f) {
		f.Add(code)
		f.Add(strings.ToLower(code))
	}
	f.Add("91350100M000100Y44")
	f.Add(" 91350100MI00100Y43 ")
	f.Add("Y1370000MR0000000X")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseUSCC(s)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeInvalid || e.Field != "uscc" || e.Msg == "" {
				t.Fatalf("ParseUSCC(%q): error %v is not an invalid-input error on uscc", s, err)
			}
			return
		}
		if len(u.Code) != 18 || u.Code != strings.TrimSpace(upperASCII(u.Code)) {
			t.Fatalf("ParseUSCC(%q) = %q: not 18 upper-case characters", s, u.Code)
		}
		for _, again := range []string{u.Code, strings.ToLower(u.Code), " " + u.Code + " "} {
			if v, err := ParseUSCC(again); err != nil || v != u {
				t.Fatalf("ParseUSCC(%q) = %+v, %v; ParseUSCC(%q) = %+v", s, u, err, again, v)
			}
		}
		c, err := USCCCheckChar(u.Code[:17])
		if err != nil || (c == u.Code[17]) == u.Legacy {
			t.Fatalf("ParseUSCC(%q) = %+v but USCCCheckChar = %q, %v", s, u, c, err)
		}
		if u.Legacy {
			return
		}
		for i := range 18 {
			for j := range len(usccAlphabet) {
				typo := u.Code[:i] + usccAlphabet[j:j+1] + u.Code[i+1:]
				if v, err := ParseUSCC(typo); typo != u.Code && err == nil && !v.Legacy {
					t.Fatalf("%s with character %d changed: %s accepted as valid", u.Code, i+1, typo)
				}
			}
		}
	})
}
