package registry

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// A certificate number (证书编号) is typed from paper by employers, so it is
// digits only: "37" (Shandong, GB/T 2260) + 4-digit year of issue + 8-digit
// sequence, gapless per year + ISO 7064 MOD 11-2 check character (a digit or
// X), 15 characters in all, e.g. 372026000000013. The check character
// catches every single mistyped character and every swap of two neighbours
// before any lookup is made.
const (
	certProvince  = "37"
	certNumberLen = 15
	certMinYear   = 2000 // no electronic certificate is older
	certMaxYear   = 9999
	certMaxSeq    = 99_999_999
)

// CertSeqName names the gapless database sequence that numbers the
// certificates issued in year.
func CertSeqName(year int) string { return fmt.Sprintf("cert-%d", year) }

// FormatCertNumber builds the number of the seq-th certificate of year.
// An out-of-range argument is the server's fault (a sequence exhausted),
// not the user's, hence a plain error.
func FormatCertNumber(year int, seq int64) (string, error) {
	if year < certMinYear || year > certMaxYear {
		return "", fmt.Errorf("registry: certificate year %d outside %d-%d", year, certMinYear, certMaxYear)
	}
	if seq < 1 || seq > certMaxSeq {
		return "", fmt.Errorf("registry: certificate sequence %d of %d outside 1-%d", seq, year, certMaxSeq)
	}
	body := fmt.Sprintf("%s%04d%08d", certProvince, year, seq)
	return body + string(mod11_2(body)), nil
}

// ParseCertNumber normalises a typed certificate number and checks it. It
// drops spaces and dashes anywhere (people copy "37-2026-00000001-3"), reads
// full-width digits and x as a Chinese input method types them, and
// upper-cases x. It accepts exactly the numbers FormatCertNumber can make.
func ParseCertNumber(s string) (string, error) {
	if plainCertNumber(s) {
		return checkCertNumber(s) // as typed: nothing to normalise, nothing to allocate
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case unicode.IsSpace(r) || unicode.Is(unicode.Pd, r):
			continue
		case '０' <= r && r <= '９':
			r = r - '０' + '0'
		case r == 'x' || r == 'ｘ' || r == 'Ｘ':
			r = 'X'
		}
		b.WriteRune(r)
	}
	return checkCertNumber(b.String())
}

// plainCertNumber is whether s is already in the form ParseCertNumber
// normalises to: only ASCII digits and an upper-case X.
func plainCertNumber(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && c != 'X' {
			return false
		}
	}
	return true
}

// checkCertNumber checks a normalised number.
func checkCertNumber(num string) (string, error) {
	if n := utf8.RuneCountInString(num); n != certNumberLen {
		return "", FieldErr("number", "a certificate number has %d characters (37, year, 8-digit sequence, check character), got %d", certNumberLen, n)
	}
	pos := 0
	for _, r := range num {
		pos++
		switch {
		case pos == certNumberLen && r != 'X' && (r < '0' || r > '9'):
			return "", FieldErr("number", "the last character (%q) must be a digit or X", r)
		case pos < certNumberLen && (r < '0' || r > '9'):
			return "", FieldErr("number", "character %d (%q) is not a digit", pos, r)
		}
	}
	if mod11_2(num[:certNumberLen-1]) != num[certNumberLen-1] {
		return "", FieldErr("number", "check character does not match: a digit is mistyped or two are swapped")
	}
	if !strings.HasPrefix(num, certProvince) {
		return "", FieldErr("number", "certificate numbers of this platform start with %s", certProvince)
	}
	// All digits by now, so Atoi cannot fail.
	year, _ := strconv.Atoi(num[2:6])
	seq, _ := strconv.Atoi(num[6:14])
	if year < certMinYear {
		return "", FieldErr("number", "characters 3-6 must be the year of issue, %d or later", certMinYear)
	}
	if seq == 0 {
		return "", FieldErr("number", "characters 7-14 are the sequence, which starts at 00000001")
	}
	return num, nil
}
