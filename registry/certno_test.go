package registry

import (
	"errors"
	"strconv"
	"testing"
)

func TestCertSeqName(t *testing.T) {
	if got := CertSeqName(2026); got != "cert-2026" {
		t.Fatalf("CertSeqName(2026) = %q", got)
	}
	if CertSeqName(2026) == CertSeqName(2027) {
		t.Fatal("two years share a sequence")
	}
}

func TestFormatCertNumber(t *testing.T) {
	// Expected check characters computed independently (weighted sum with
	// weights 2^k mod 11, in Python).
	for _, tc := range []struct {
		year int
		seq  int64
		want string
	}{
		{2026, 1, "372026000000013"},
		{2026, 3, "37202600000003X"},
		{2026, 1234, "372026000012348"},
		{2023, 99_999_999, "372023999999999"},
		{2030, 12_345_678, "372030123456784"},
	} {
		got, err := FormatCertNumber(tc.year, tc.seq)
		if err != nil || got != tc.want {
			t.Errorf("FormatCertNumber(%d, %d) = %q, %v; want %q", tc.year, tc.seq, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		year int
		seq  int64
	}{
		{2026, 0}, {2026, -1}, {2026, 100_000_000}, {1999, 1}, {10000, 1}, {0, 1},
	} {
		if got, err := FormatCertNumber(tc.year, tc.seq); err == nil {
			t.Errorf("FormatCertNumber(%d, %d) = %q, want an error", tc.year, tc.seq, got)
		} else if CodeOf(err) != "" {
			t.Errorf("FormatCertNumber(%d, %d): %v is a domain error; a bad sequence is the server's fault", tc.year, tc.seq, err)
		}
	}
}

func TestParseCertNumber(t *testing.T) {
	for _, tc := range []struct {
		name, in, want, err string
	}{
		{"plain", "372026000000013", "372026000000013", ""},
		{"check X", "37202600000003X", "37202600000003X", ""},
		{"lower-case x", "37202600000003x", "37202600000003X", ""},
		{"spaces around", "  372026000000013 \n", "372026000000013", ""},
		{"grouped with hyphens", "37-2026-00000001-3", "372026000000013", ""},
		{"grouped with spaces", "37 2026 0000 0001 3", "372026000000013", ""},
		{"en dash and full-width space", "37–2026\u300000000001–3", "372026000000013", ""},
		{"full-width digits", "３７２０２６０００００００１３", "372026000000013", ""},
		{"full-width x", "37202600000003ｘ", "37202600000003X", ""},

		{"empty", "", "", "got 0"},
		{"only separators", " - ", "", "got 0"},
		{"too short", "37202600000001", "", "a certificate number has 15 characters (37, year, 8-digit sequence, check character), got 14"},
		{"too long", "3720260000000013", "", "got 16"},
		{"letter O for zero", "3720260000O0013", "", "character 11 ('O') is not a digit"},
		{"X inside", "3720X6000000013", "", "character 5 ('X') is not a digit"},
		{"non-ASCII inside", "37202600000é013", "", "character 12 ('é') is not a digit"},
		{"bad last character", "37202600000001Y", "", "the last character ('Y') must be a digit or X"},
		{"mistyped digit", "372026000000023", "", "check character does not match"},
		{"swapped digits", "372026000000103", "", "check character does not match"},
		{"wrong check character", "372026000000014", "", "check character does not match"},
		// Well-formed MOD 11-2 numbers that FormatCertNumber never makes.
		{"another province", "44202600000001" + string(mod11_2("44202600000001")), "", "start with 37"},
		{"year before 2000", "37199900000001" + string(mod11_2("37199900000001")), "", "characters 3-6 must be the year of issue, 2000 or later"},
		{"sequence zero", "37202600000000" + string(mod11_2("37202600000000")), "", "characters 7-14 are the sequence, which starts at 00000001"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseCertNumber(tc.in)
			if tc.err != "" {
				if err == nil {
					t.Fatalf("ParseCertNumber(%q) = %q, want error %q", tc.in, got, tc.err)
				}
				assertFieldErr(t, err, "number", tc.err)
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseCertNumber(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

// certSample is a spread of numbers: every check character value occurs,
// and years and sequences vary in every position.
func certSample(t *testing.T) []string {
	t.Helper()
	var out []string
	for year := 2023; year <= 2040; year += 3 {
		for seq := int64(1); seq <= 99_999_999; seq = seq*7 + 3 {
			n, err := FormatCertNumber(year, seq)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, n)
		}
	}
	for seq := int64(1); seq <= 200; seq++ {
		n, _ := FormatCertNumber(2026, seq)
		out = append(out, n)
	}
	return out
}

// Exhaustively on the sample: every number re-parses to itself, and every
// single substitution (any position, any of 0-9 and X) and every swap of
// two different neighbours is refused before any lookup.
func TestCertNumberDetectsTypos(t *testing.T) {
	checks := map[byte]bool{}
	sample := certSample(t)
	for _, num := range sample {
		checks[num[len(num)-1]] = true
		if got, err := ParseCertNumber(num); err != nil || got != num {
			t.Fatalf("ParseCertNumber(%s) = %q, %v", num, got, err)
		}
		for i := range len(num) {
			for _, c := range "0123456789X" {
				typo := num[:i] + string(c) + num[i+1:]
				if typo == num {
					continue
				}
				if _, err := ParseCertNumber(typo); err == nil {
					t.Errorf("%s with character %d changed: %s accepted", num, i+1, typo)
				}
			}
			if i+1 < len(num) && num[i] != num[i+1] {
				swapped := num[:i] + num[i+1:i+2] + num[i:i+1] + num[i+2:]
				if _, err := ParseCertNumber(swapped); err == nil {
					t.Errorf("%s with characters %d and %d swapped: %s accepted", num, i+1, i+2, swapped)
				}
			}
		}
	}
	if len(checks) != 11 {
		t.Fatalf("sample of %d numbers has only %d check character values", len(sample), len(checks))
	}
}

func FuzzParseCertNumber(f *testing.F) {
	for _, s := range []string{
		"372026000000013", "37202600000003x", "37-2026-00000001-3", "３７２０２６０００００００１３",
		"372026000000023", "3720260000O0013", "372023999999999", "37199900000001" + string(mod11_2("37199900000001")),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		num, err := ParseCertNumber(s)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeInvalid || e.Field != "number" || e.Msg == "" {
				t.Fatalf("ParseCertNumber(%q): error %v is not an invalid-input error on number", s, err)
			}
			return
		}
		if again, err := ParseCertNumber(num); err != nil || again != num {
			t.Fatalf("ParseCertNumber(%q) = %q, but that re-parses to %q, %v", s, num, again, err)
		}
		year, _ := strconv.Atoi(num[2:6])
		seq, _ := strconv.ParseInt(num[6:14], 10, 64)
		if formatted, err := FormatCertNumber(year, seq); err != nil || formatted != num {
			t.Fatalf("ParseCertNumber(%q) = %q, but FormatCertNumber(%d, %d) = %q, %v", s, num, year, seq, formatted, err)
		}
		for i := range len(num) {
			for _, c := range "0123456789X" {
				typo := num[:i] + string(c) + num[i+1:]
				if _, err := ParseCertNumber(typo); typo != num && err == nil {
					t.Fatalf("%s with character %d changed: %s accepted", num, i+1, typo)
				}
			}
		}
	})
}
