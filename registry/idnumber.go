package registry

import (
	"errors"
	"strings"
	"time"
	"unicode/utf8"
)

// IDKind is the kind of identity document an 18-character ID number belongs
// to. All three share the GB 11643-1999 layout and check character.
type IDKind string

const (
	// IDResident is a resident identity card (居民身份证): 6-digit address
	// code starting with a mainland province code, birth date, 3-digit
	// sequence (odd for men), check character.
	IDResident IDKind = "resident"
	// IDResidencePermit is a residence permit for Hong Kong, Macao or Taiwan
	// residents (港澳台居民居住证): address code 810000, 820000 or 830000,
	// then as a resident card.
	IDResidencePermit IDKind = "residence_permit"
	// IDPermanentResidence is the foreigners' permanent residence ID card of
	// 2023 (外国人永久居留身份证): "9", 2-digit province code of the accepting
	// office, 3-digit nationality code, birth date (characters 7-14),
	// sequence whose last digit (character 17) is odd for men, check
	// character. Only the first digit, the date, the gender digit and the
	// check character are verified. The older 15-character cards (three
	// letters and twelve digits) are not accepted.
	IDPermanentResidence IDKind = "permanent_residence"
)

// CheckIDNumber checks an 18-character ID number: surrounding spaces are
// trimmed and a final lower-case x becomes X. The birth date (characters
// 7-14) must be a real day from 1900-01-01 to today; the 17th digit must
// agree with g (odd 男, even 女). g == "" skips that comparison, for people
// whose gender is not asked (a seal application's handler).
//
// Errors say what is wrong but never quote the number or any part of it:
// it is personal data, and errors are logged.
func CheckIDNumber(s string, g Gender, today Date) (normalised string, kind IDKind, err error) {
	if g != "" && g != Male && g != Female {
		return "", "", FieldErr("gender", "must be %q or %q", Male, Female)
	}
	if today.IsZero() {
		return "", "", errors.New("registry: CheckIDNumber needs today's date")
	}
	id := upperASCII(strings.TrimSpace(s))
	n := utf8.RuneCountInString(id)
	if n == 15 && isDigits(id) {
		return "", "", FieldErr("id_number", "15-digit numbers (first-generation cards) are not accepted: give the 18-character number of the current card")
	}
	if n != 18 {
		return "", "", FieldErr("id_number", "must be 18 characters, got %d", n)
	}
	pos := 0
	for _, r := range id {
		pos++
		switch {
		case pos == 18 && r != 'X' && (r < '0' || r > '9'):
			return "", "", FieldErr("id_number", "the last character must be a digit or X")
		case pos < 18 && (r < '0' || r > '9'):
			return "", "", FieldErr("id_number", "character %d is not a digit: the first 17 characters are digits", pos)
		}
	}
	switch {
	case id[0] == '9':
		kind = IDPermanentResidence
	case id[0] == '8':
		if id[2:6] != "0000" || id[1] < '1' || id[1] > '3' {
			return "", "", FieldErr("id_number", "a number starting with 8 must start 810000 (Hong Kong), 820000 (Macao) or 830000 (Taiwan)")
		}
		kind = IDResidencePermit
	default:
		if !isProvinceCode(id[:2]) {
			return "", "", FieldErr("id_number", "characters 1-2 are not a province code")
		}
		kind = IDResident
	}
	if mod11_2(id[:17]) != id[17] {
		return "", "", FieldErr("id_number", "check character does not match: a digit is mistyped or two are swapped")
	}
	birth, ok := parseDigitsDate(id[6:14])
	switch {
	case !ok:
		return "", "", FieldErr("id_number", "characters 7-14 are not a real birth date")
	case birth.Before(Date{1900, time.January, 1}):
		return "", "", FieldErr("id_number", "birth date (characters 7-14) is before 1900")
	case birth.After(today):
		return "", "", FieldErr("id_number", "birth date (characters 7-14) is in the future")
	}
	male := (id[16]-'0')%2 == 1
	if g != "" && male != (g == Male) {
		return "", "", FieldErr("id_number", "does not agree with the gender given (the 17th digit is odd for 男, even for 女)")
	}
	return id, kind, nil
}

// mod11_2 is the ISO 7064 MOD 11-2 check character ('0'-'9' or 'X') of a
// string of ASCII digits, as in GB 11643-1999. It is used for ID numbers and
// certificate numbers alike: it catches every single-character error and
// every swap of two adjacent characters. The recursive form below equals the
// weighted sum with weights 2^k mod 11 (7, 9, 10, 5, 8, 4, 2 for the
// 17-digit ID number).
func mod11_2(digits string) byte {
	p := 0
	for i := 0; i < len(digits); i++ {
		p = (p + int(digits[i]-'0')) * 2 % 11
	}
	c := (12 - p) % 11
	if c == 10 {
		return 'X'
	}
	return byte('0' + c)
}

// parseDigitsDate reads YYYYMMDD and refuses impossible days.
func parseDigitsDate(s string) (Date, bool) {
	t, err := time.Parse("20060102", s)
	if err != nil {
		return Date{}, false
	}
	return DateOf(t), true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// isProvinceCode: the first two digits of a mainland address code (GB/T
// 2260). 71 (Taiwan), 81 and 82 have no resident cards; their residents hold
// the 8x0000 residence permits.
func isProvinceCode(s string) bool {
	switch s {
	case "11", "12", "13", "14", "15",
		"21", "22", "23",
		"31", "32", "33", "34", "35", "36", "37",
		"41", "42", "43", "44", "45", "46",
		"50", "51", "52", "53", "54",
		"61", "62", "63", "64", "65":
		return true
	}
	return false
}
