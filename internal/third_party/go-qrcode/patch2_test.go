package qrcode

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The golden file holds, for every input of goldenCorpus, hashes of the
// symbol that upstream's code (before Patch 2, see PATCHES.md) made of it.
// Regenerate it only from code whose output is known to be upstream's:
//
//	go test github.com/skip2/go-qrcode -run TestGolden -update
var update = flag.Bool("update", false, "rewrite testdata/golden.txt from the current code")

const goldenFile = "testdata/golden.txt"

// goldenCase is one input of the corpus.
type goldenCase struct {
	name          string
	content       string
	level         RecoveryLevel
	version       int // 0: New chooses it; else NewWithForcedVersion.
	disableBorder bool
}

// splitmix64 is a small deterministic generator, so that the corpus depends
// on nothing outside this file.
type splitmix64 uint64

func (s *splitmix64) next() uint64 {
	*s += 0x9e3779b97f4a7c15
	z := uint64(*s)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (s *splitmix64) intn(n int) int { return int(s.next() % uint64(n)) }

// pick returns n characters drawn from alphabet.
func (s *splitmix64) pick(alphabet []rune, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteRune(alphabet[s.intn(len(alphabet))])
	}
	return b.String()
}

const (
	digits       = "0123456789"
	alphanumeric = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
	base64url    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	chinese      = "证书验证编号广州市天河区人民政府电子签章有效期至年月日查询"
	mixedText    = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789 .,:;/?=&-_"
)

var levels = []RecoveryLevel{Low, Medium, High, Highest}

// goldenCorpus returns the inputs, the same ones on every run.
func goldenCorpus() []goldenCase {
	r := splitmix64(2026)
	var cases []goldenCase
	add := func(kind, content string, level RecoveryLevel) {
		cases = append(cases, goldenCase{
			name:    fmt.Sprintf("%s/%d/len%d", kind, level, len(content)),
			content: content,
			level:   level,
		})
	}

	for _, level := range levels {
		add("empty", "", level)
	}
	// Verification URLs as certseal prints them, at every level.
	for i := 0; i < 320; i++ {
		url := fmt.Sprintf("https://verify.example.cn/v/2026-440100-%06d?t=%s",
			r.intn(1000000), r.pick([]rune(base64url), 22))
		add("url", url, levels[i%4])
	}
	// Lengths 1 to a few hundred in each mode and in bytes.
	for i := 0; i < 100; i++ {
		add("digits", r.pick([]rune(digits), 1+r.intn(400)), levels[i%4])
	}
	for i := 0; i < 100; i++ {
		add("alnum", r.pick([]rune(alphanumeric), 1+r.intn(300)), levels[i%4])
	}
	for i := 0; i < 80; i++ {
		b := make([]byte, 1+r.intn(250))
		for j := range b {
			b[j] = byte(r.next())
		}
		add("bytes", string(b), levels[i%4])
	}
	for i := 0; i < 60; i++ {
		add("chinese", r.pick([]rune(chinese), 1+r.intn(80)), levels[i%4])
	}
	for i := 0; i < 60; i++ {
		add("text", r.pick([]rune(mixedText), 1+r.intn(300)), levels[i%4])
	}
	// A few large symbols.
	for i, n := range []int{700, 1200, 1800, 2900} {
		add("large", r.pick([]rune(mixedText), n), levels[i%2])
	}
	// Without the quiet zone.
	for i := 0; i < 40; i++ {
		c := goldenCase{
			content:       r.pick([]rune(mixedText), 1+r.intn(200)),
			level:         levels[i%4],
			disableBorder: true,
		}
		c.name = fmt.Sprintf("noborder/%d/len%d", c.level, len(c.content))
		cases = append(cases, c)
	}
	// Every version, forced, at every level.
	for version := 1; version <= 40; version++ {
		for _, level := range levels {
			n := 1 + r.intn(25*version)
			content := r.pick([]rune(mixedText), n)
			for {
				if _, err := NewWithForcedVersion(content, version, level); err == nil {
					break
				}
				content = content[:len(content)/2]
			}
			cases = append(cases, goldenCase{
				name:    fmt.Sprintf("forced%d/%d/len%d", version, level, len(content)),
				content: content,
				level:   level,
				version: version,
			})
		}
	}
	return cases
}

// goldenLine encodes c and describes the result: the chosen mask, the
// SHA-256 of Bitmap() and of ToSmallString(false) (which encodes again, on
// the same QRCode, as upstream's Bitmap does on every call). An input New
// refuses is described by its error.
func goldenLine(c goldenCase) (string, error) {
	var q *QRCode
	var err error
	if c.version == 0 {
		q, err = New(c.content, c.level)
	} else {
		q, err = NewWithForcedVersion(c.content, c.version, c.level)
	}
	if err != nil {
		return "", err
	}
	q.DisableBorder = c.disableBorder

	bitmap := q.Bitmap()
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n", len(bitmap))
	for _, row := range bitmap {
		for _, v := range row {
			if v {
				b.WriteByte('1')
			} else {
				b.WriteByte('0')
			}
		}
		b.WriteByte('\n')
	}
	small := q.ToSmallString(false)

	return fmt.Sprintf("%s v%d mask%d size%d bitmap:%x small:%x",
		c.name, q.VersionNumber, q.mask, len(bitmap),
		sha256.Sum256(b.Bytes()), sha256.Sum256([]byte(small))), nil
}

// TestGolden holds the symbols to upstream's, bit for bit, for every input
// of the corpus: same version, same mask, same modules, same quiet zone.
func TestGolden(t *testing.T) {
	corpus := goldenCorpus()
	got := make([]string, 0, len(corpus))
	for _, c := range corpus {
		line, err := goldenLine(c)
		if err != nil {
			line = fmt.Sprintf("%s error: %v", c.name, err)
		}
		got = append(got, line)
	}

	if *update {
		if err := os.MkdirAll(filepath.Dir(goldenFile), 0o755); err != nil {
			t.Fatal(err)
		}
		data := strings.Join(got, "\n") + "\n"
		if err := os.WriteFile(goldenFile, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %d lines to %s", len(got), goldenFile)
		return
	}

	f, err := os.Open(goldenFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var want []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		want = append(want, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(want) != len(got) {
		t.Fatalf("golden file has %d lines, the corpus %d", len(want), len(got))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("case %d:\n got %s\nwant %s", i, got[i], want[i])
		}
	}
}

// BenchmarkEncode is one certificate's QR code: New and Bitmap for a
// verification URL at Medium, as signer/render.go draws it.
func BenchmarkEncode(b *testing.B) {
	const url = "https://verify.example.cn/v/2026-440100-000123?t=Q2VydFNlYWwtMjAyNi10aw"
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		q, err := New(url, Medium)
		if err != nil {
			b.Fatal(err)
		}
		_ = q.Bitmap()
	}
}

// TestMaskScorerMatchesUpstream checks every mask, not only the chosen one:
// for each input of the corpus and each of the 8 masks, maskScorer's symbol
// is buildRegularSymbol's, module for module, and its penalty score is
// upstream's penaltyScore.
func TestMaskScorerMatchesUpstream(t *testing.T) {
	corpus := goldenCorpus()
	if testing.Short() {
		corpus = corpus[:200]
	}
	for _, c := range corpus {
		var q *QRCode
		var err error
		if c.version == 0 {
			q, err = New(c.content, c.level)
		} else {
			q, err = NewWithForcedVersion(c.content, c.version, c.level)
		}
		if err != nil {
			continue
		}
		q.addTerminatorBits(q.version.numTerminatorBitsRequired(q.data.Len()))
		q.addPadding()
		encoded := q.encodeBlocks()

		s := newMaskScorer(q.version, encoded, !c.disableBorder)
		for mask := 0; mask < numMasks; mask++ {
			p := s.score(mask)
			want, err := buildRegularSymbol(q.version, mask, encoded, !c.disableBorder)
			if err != nil {
				t.Fatal(err)
			}
			if wp := want.penaltyScore(); p != wp {
				t.Errorf("%s mask %d: penalty %d, upstream %d", c.name, mask, p, wp)
			}
			if !equalModules(s.symbol(s.rows).module, want.module) {
				t.Errorf("%s mask %d: modules differ from upstream's", c.name, mask)
			}
		}
	}
}

func equalModules(a, b [][]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for y := range a {
		if len(a[y]) != len(b[y]) {
			return false
		}
		for x := range a[y] {
			if a[y][x] != b[y][x] {
				return false
			}
		}
	}
	return true
}
