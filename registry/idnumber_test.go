package registry

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// gb11643Check is the check character exactly as GB 11643-1999 writes it
// (explicit weights and map), an oracle for the shared mod11_2.
func gb11643Check(first17 string) byte {
	weights := [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
	sum := 0
	for i, w := range weights {
		sum += int(first17[i]-'0') * w
	}
	return "10X98765432"[sum%11]
}

func TestMod11_2MatchesGB11643(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var b [17]byte
		for i := range b {
			b[i] = byte('0' + r.IntN(10))
		}
		if got, want := mod11_2(string(b[:])), gb11643Check(string(b[:])); got != want {
			t.Fatalf("mod11_2(%s) = %c, GB 11643 gives %c", b, got, want)
		}
	}
}

// idWithCheck completes 17 digits with the GB 11643 check character.
func idWithCheck(first17 string) string { return first17 + string(gb11643Check(first17)) }

var idToday = Date{2026, time.March, 15}

// assertNoIDInMessage: error messages are logged, so no 8 consecutive
// characters of the number (its birth date, say) may appear in them.
func assertNoIDInMessage(t *testing.T, in string, err error) {
	t.Helper()
	id := strings.ToUpper(strings.TrimSpace(in))
	msg := err.Error()
	for i := 0; i+8 <= len(id); i++ {
		if strings.Contains(msg, id[i:i+8]) {
			t.Fatalf("error %q quotes part of the ID number (%q)", msg, id[i:i+8])
		}
	}
}

func TestCheckIDNumber(t *testing.T) {
	type want struct {
		id   string
		kind IDKind
		err  string // part of the message; "" means accepted
	}
	male1980 := idWithCheck("37010219800101001")
	cases := []struct {
		name string
		in   string
		g    Gender
		want want
	}{
		{"GB 11643 example", "11010519491231002X", Female, want{id: "11010519491231002X", kind: IDResident}},
		{"lower-case x", "11010519491231002x", Female, want{id: "11010519491231002X", kind: IDResident}},
		{"surrounding spaces", " \t11010519491231002X\u3000", Female, want{id: "11010519491231002X", kind: IDResident}},
		{"male", male1980, Male, want{id: male1980, kind: IDResident}},
		{"gender not asked", male1980, "", want{id: male1980, kind: IDResident}},
		{"born 1900-01-01", idWithCheck("37010219000101002"), Female, want{id: idWithCheck("37010219000101002"), kind: IDResident}},
		{"born today", idWithCheck("37010220260315002"), Female, want{id: idWithCheck("37010220260315002"), kind: IDResident}},
		{"leap day", idWithCheck("37010220000229001"), Male, want{id: idWithCheck("37010220000229001"), kind: IDResident}},
		{"Hong Kong permit", idWithCheck("81000019900101003"), Male, want{id: idWithCheck("81000019900101003"), kind: IDResidencePermit}},
		{"Macao permit", idWithCheck("82000019900101004"), Female, want{id: idWithCheck("82000019900101004"), kind: IDResidencePermit}},
		{"Taiwan permit", idWithCheck("83000019900101005"), Male, want{id: idWithCheck("83000019900101005"), kind: IDResidencePermit}},
		{"permanent residence", idWithCheck("93784019850704001"), Male, want{id: idWithCheck("93784019850704001"), kind: IDPermanentResidence}},
		{"permanent residence female", idWithCheck("91115619921120012"), Female, want{id: idWithCheck("91115619921120012"), kind: IDPermanentResidence}},

		{"empty", "", Male, want{err: "must be 18 characters, got 0"}},
		{"17 digits", "11010519491231002", Female, want{err: "must be 18 characters, got 17"}},
		{"19 characters", "11010519491231002X1", Female, want{err: "must be 18 characters, got 19"}},
		{"first-generation 15 digits", "110105491231002", Female, want{err: "15-digit numbers"}},
		{"inner space", "110105 19491231002X", Female, want{err: "must be 18 characters, got 19"}},
		{"letter inside", "1101A519491231002X", Female, want{err: "character 5 is not a digit"}},
		{"X inside", "11010519491231X02X", Female, want{err: "character 15 is not a digit"}},
		{"full-width digit", "11010519491231002１", Female, want{err: "the last character must be a digit or X"}},
		{"last character letter", "11010519491231002Y", Female, want{err: "the last character must be a digit or X"}},
		{"check character wrong", "110105194912310021", Female, want{err: "check character does not match"}},
		{"adjacent digits swapped", "11010519492131002X", Female, want{err: "check character does not match"}},
		{"February 30", idWithCheck("37010219900230002"), Female, want{err: "characters 7-14 are not a real birth date"}},
		{"month 13", idWithCheck("37010219901301002"), Female, want{err: "characters 7-14 are not a real birth date"}},
		{"not a leap year", idWithCheck("37010219000229002"), Female, want{err: "characters 7-14 are not a real birth date"}},
		{"GB 11643 example born 1880", "440524188001010014", Male, want{err: "birth date (characters 7-14) is before 1900"}},
		{"born tomorrow", idWithCheck("37010220260316002"), Female, want{err: "birth date (characters 7-14) is in the future"}},
		{"province 00", idWithCheck("00010219900101002"), Female, want{err: "characters 1-2 are not a province code"}},
		{"province 71", idWithCheck("71010219900101002"), Female, want{err: "characters 1-2 are not a province code"}},
		{"8 but not a permit prefix", idWithCheck("84000019900101003"), Male, want{err: "must start 810000 (Hong Kong), 820000 (Macao) or 830000 (Taiwan)"}},
		{"permit prefix with a city", idWithCheck("81010019900101003"), Male, want{err: "must start 810000"}},
		{"woman given as man", "11010519491231002X", Male, want{err: "does not agree with the gender given"}},
		{"man given as woman", male1980, Female, want{err: "does not agree with the gender given"}},
		{"permit gender", idWithCheck("81000019900101003"), Female, want{err: "does not agree with the gender given"}},
		{"permanent residence gender", idWithCheck("93784019850704001"), Female, want{err: "does not agree with the gender given"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, kind, err := CheckIDNumber(tc.in, tc.g, idToday)
			if tc.want.err != "" {
				if err == nil {
					t.Fatalf("CheckIDNumber accepted %q as %s", tc.in, kind)
				}
				assertFieldErr(t, err, "id_number", tc.want.err)
				assertNoIDInMessage(t, tc.in, err)
				return
			}
			if err != nil {
				t.Fatalf("CheckIDNumber(%q, %q): %v", tc.in, tc.g, err)
			}
			if id != tc.want.id || kind != tc.want.kind {
				t.Fatalf("CheckIDNumber(%q) = %q, %s; want %q, %s", tc.in, id, kind, tc.want.id, tc.want.kind)
			}
		})
	}
}

func TestCheckIDNumberArguments(t *testing.T) {
	_, _, err := CheckIDNumber("11010519491231002X", "F", idToday)
	if err == nil {
		t.Fatal("gender F accepted")
	}
	assertFieldErr(t, err, "gender", `must be "男" or "女"`)

	_, _, err = CheckIDNumber("11010519491231002X", Female, Date{})
	if err == nil || CodeOf(err) != "" {
		t.Fatalf("zero today: error %v, want a programming error, not a domain one", err)
	}
}

// Every single substitution and every adjacent transposition of a valid ID
// number is rejected, whatever its kind.
func TestIDNumberDetectsTypos(t *testing.T) {
	for _, id := range []string{
		"11010519491231002X",
		idWithCheck("37010219800101001"),
		idWithCheck("37068719751130452"),
		idWithCheck("81000019900101003"),
		idWithCheck("93784019850704001"),
	} {
		if _, _, err := CheckIDNumber(id, "", idToday); err != nil {
			t.Fatalf("sample %s: %v", id, err)
		}
		for i := range len(id) {
			for _, c := range "0123456789X" {
				typo := id[:i] + string(c) + id[i+1:]
				if typo == id {
					continue
				}
				if _, _, err := CheckIDNumber(typo, "", idToday); err == nil {
					t.Errorf("%s with character %d changed: %s accepted", id, i+1, typo)
				}
			}
			if i+1 < len(id) && id[i] != id[i+1] {
				swapped := id[:i] + id[i+1:i+2] + id[i:i+1] + id[i+2:]
				if _, _, err := CheckIDNumber(swapped, "", idToday); err == nil {
					t.Errorf("%s with characters %d and %d swapped: %s accepted", id, i+1, i+2, swapped)
				}
			}
		}
	}
}

func FuzzCheckIDNumber(f *testing.F) {
	for _, s := range []string{
		"11010519491231002X", "11010519491231002x", "440524188001010014", "110105491231002",
		idWithCheck("37010219800101001"), idWithCheck("81000019900101003"), idWithCheck("93784019850704001"),
		idWithCheck("37010219900230002"), idWithCheck("37010220260316002"), " 1101051949123100２X",
	} {
		f.Add(s, uint8(0))
		f.Add(s, uint8(1))
		f.Add(s, uint8(2))
	}
	genders := [3]Gender{"", Male, Female}
	f.Fuzz(func(t *testing.T, s string, gi uint8) {
		g := genders[gi%3]
		id, kind, err := CheckIDNumber(s, g, idToday)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code != CodeInvalid || e.Field != "id_number" || e.Msg == "" {
				t.Fatalf("CheckIDNumber: error %v is not an invalid-input error on id_number", err)
			}
			assertNoIDInMessage(t, s, err)
			return
		}
		if len(id) != 18 || strings.ToUpper(id) != id || (kind != IDResident && kind != IDResidencePermit && kind != IDPermanentResidence) {
			t.Fatalf("CheckIDNumber(%q) = %q, %q", s, id, kind)
		}
		for _, again := range []string{id, strings.ToLower(id), " " + id + " "} {
			if id2, kind2, err := CheckIDNumber(again, g, idToday); err != nil || id2 != id || kind2 != kind {
				t.Fatalf("CheckIDNumber(%q) = %q, %s but CheckIDNumber(%q) = %q, %s, %v", s, id, kind, again, id2, kind2, err)
			}
		}
		for i := range 18 {
			for _, c := range "0123456789X" {
				typo := id[:i] + string(c) + id[i+1:]
				if _, _, err := CheckIDNumber(typo, "", idToday); typo != id && err == nil {
					t.Fatalf("%s with character %d changed: %s accepted", id, i+1, typo)
				}
			}
		}
	})
}
