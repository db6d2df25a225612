package registry

import (
	"strings"
	"unicode/utf8"
)

// USCC is a unified social credit code (统一社会信用代码, GB 32100-2015).
type USCC struct {
	Code string // 18 characters, upper case
	// Legacy: the code is well formed but its check character does not
	// match. Such codes exist on old paper (typed by hand into registers), so
	// they are accepted, but flagged for a reviewer and never taken as fine.
	Legacy bool
}

// usccAlphabet lists the 31 characters a USCC may use, in order of value:
// I, O, Z, S and V are left out because they read like 1, 0, 2, 5 and U.
const usccAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// ParseUSCC normalises s (surrounding spaces, lower case) and checks it as
// a USCC. Wrong length, characters or structure are errors naming the
// position. A code whose only fault is its check character is returned with
// Legacy set and no error.
func ParseUSCC(s string) (USCC, error) {
	code := upperASCII(strings.TrimSpace(s))
	if err := checkUSCCChars(code, 18); err != nil {
		return USCC{}, err
	}
	if err := checkUSCCStructure(code); err != nil {
		return USCC{}, err
	}
	return USCC{Code: code, Legacy: usccCheck(code[:17]) != code[17]}, nil
}

// USCCCheckChar computes the 18th character for the first 17 characters of
// a code (upper case, USCC alphabet; the structure is not checked).
func USCCCheckChar(first17 string) (byte, error) {
	if err := checkUSCCChars(first17, 17); err != nil {
		return 0, err
	}
	return usccCheck(first17), nil
}

// usccCheck is C18 = 31 - (Σ value(Ci)·Wi mod 31), 31 written as 0. The
// standard's weights 1, 3, 9, 27, 19, 26, …, 28 are 3^(i-1) mod 31.
func usccCheck(first17 string) byte {
	sum, w := 0, 1
	for i := 0; i < 17; i++ {
		sum += strings.IndexByte(usccAlphabet, first17[i]) * w
		w = w * 3 % 31
	}
	return usccAlphabet[(31-sum%31)%31]
}

func checkUSCCChars(s string, n int) error {
	if k := utf8.RuneCountInString(s); k != n {
		return FieldErr("uscc", "must be %d characters, got %d", n, k)
	}
	pos := 0
	for _, r := range s {
		pos++
		if r < utf8.RuneSelf && strings.IndexByte(usccAlphabet, byte(r)) >= 0 {
			continue
		}
		hint := ""
		if i := strings.IndexRune("IOZS", r); i >= 0 {
			hint = " (did you mean " + "1025"[i:i+1] + "?)"
		}
		return FieldErr("uscc", "character %d (%q) is not allowed: a USCC uses digits and capital letters except I, O, Z, S and V%s", pos, r, hint)
	}
	return nil
}

// usccAuthority gives the name of a registration authority code (character
// 1) and the organisation categories (character 2) it assigns, or "" for an
// unknown authority. GB 32100-2015 itself lists 1 机构编制, 5 民政, 9 工商 and
// Y 其他; we also accept the authorities its amendment added: 2 外交, 3 司法行政,
// 4 文化, 6 旅游, 7 宗教, 8 工会, A 中央军委改革和编制办公室 and N 农业.
func usccAuthority(c byte) (name, categories string) {
	switch c {
	case '1':
		return "机构编制", "1239" // 机关, 事业单位, 中央编办管理的群众团体, 其他
	case '2':
		return "外交", "19" // 外国常驻新闻机构, 其他
	case '3':
		return "司法行政", "123459" // 律师执业机构, 公证处, 基层法律服务所, 司法鉴定机构, 仲裁委员会, 其他
	case '4':
		return "文化", "19" // 外国在华文化中心, 其他
	case '5':
		return "民政", "1239" // 社会团体, 民办非企业单位, 基金会, 其他
	case '6':
		return "旅游", "129" // 外国/港澳台旅游部门常驻代表机构, 其他
	case '7':
		return "宗教", "129" // 宗教活动场所, 宗教院校, 其他
	case '8':
		return "工会", "19" // 基层工会, 其他
	case '9':
		return "工商", "123" // 企业, 个体工商户, 农民专业合作社
	case 'A':
		return "中央军委改革和编制办公室", "19" // 军队事业单位, 其他
	case 'N':
		return "农业", "1239" // 组级, 村级, 乡镇级集体经济组织, 其他
	case 'Y':
		return "其他", "1" // not divided into categories
	}
	return "", ""
}

// checkUSCCStructure checks characters 1-8 of an 18-character code in the
// USCC alphabet. Characters 9-17 are the GB 11714 organisation code; its own
// check character (the 17th) is deliberately not verified: codes issued
// before 2015 carried over organisation codes whose check characters were not
// always right, and the USCC check character already covers typing errors.
func checkUSCCStructure(code string) error {
	name, categories := usccAuthority(code[0])
	if name == "" {
		return FieldErr("uscc", "character 1 (%q) is not a registration authority code: expected 1-9, A, N or Y", code[0])
	}
	if strings.IndexByte(categories, code[1]) < 0 {
		return FieldErr("uscc", "character 2 (%q) is not an organisation category of registration authority %c (%s): expected one of %s",
			code[1], code[0], name, strings.Join(strings.Split(categories, ""), ", "))
	}
	for i := 2; i < 8; i++ {
		if code[i] < '0' || code[i] > '9' {
			return FieldErr("uscc", "character %d (%q) must be a digit: characters 3-8 are the administrative division code", i+1, code[i])
		}
	}
	return nil
}

// upperASCII upper-cases ASCII letters only, so that no other character can
// turn into an accepted one (strings.ToUpper maps 'ı' to 'I', 'ſ' to 'S').
func upperASCII(s string) string {
	return strings.Map(func(r rune) rune {
		if 'a' <= r && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}, s)
}
