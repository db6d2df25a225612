package pdfsigncheck

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/certseal/certseal/internal/testenv"
)

var (
	streamKeyword = regexp.MustCompile(`stream(\r\n|\n)`)
	lengthKey     = regexp.MustCompile(`/Length\s+(\d+)(?:\s+(\d+)\s+R)?`)
)

// streamProblems checks every stream that starts at from or later in a
// PDF whose streams are objects of their own, as pdfsign writes them:
// /Length bytes of data after "stream" and its EOL, then an EOL, then
// endstream (ISO 32000-1, 7.3.8.1). It returns what is wrong, one line a
// stream.
func streamProblems(b []byte, from int) (n int, problems []string) {
	for at := from; ; {
		m := streamKeyword.FindIndex(b[at:])
		if m == nil {
			return n, problems
		}
		start, data := at+m[0], at+m[1]
		if bytes.HasSuffix(b[:start], []byte("end")) {
			at = data
			continue
		}
		n++
		obj := bytes.LastIndex(b[:start], []byte(" obj"))
		lm := lengthKey.FindAllSubmatch(b[max(obj, 0):start], -1)
		if obj < 0 || lm == nil {
			problems = append(problems, "a stream at "+strconv.Itoa(start)+" without /Length")
			at = data
			continue
		}
		l, _ := strconv.Atoi(string(lm[len(lm)-1][1]))
		if ref := lm[len(lm)-1][2]; ref != nil { // an indirect /Length
			v := regexp.MustCompile(`(?m)^` + string(lm[len(lm)-1][1]) + `\s+` + string(ref) + `\s+obj\s*(\d+)\s*endobj`).FindSubmatch(b)
			if v == nil {
				problems = append(problems, "a stream at "+strconv.Itoa(start)+" with an unresolved /Length")
				at = data
				continue
			}
			l, _ = strconv.Atoi(string(v[1]))
		}
		end := data + l
		rest := b[min(end, len(b)):]
		if !(bytes.HasPrefix(rest, []byte("\r\nendstream")) || bytes.HasPrefix(rest, []byte("\nendstream")) || bytes.HasPrefix(rest, []byte("\rendstream"))) {
			problems = append(problems, "the stream at "+strconv.Itoa(start)+" of /Length "+strconv.Itoa(l)+" is followed by "+
				strconv.Quote(string(rest[:min(len(rest), 12)]))+", not an EOL and endstream")
		}
		at = min(end, len(b))
	}
}

// Every stream the copy writes (the signature's incremental update, after
// the input's bytes) ends with an EOL before endstream, where /Length
// says; upstream at the pinned commit did not for the appearance stream,
// so the check can tell. qpdf finds the whole file clean.
func TestStreamsEndWithAnEOL(t *testing.T) {
	qpdf := testenv.Tool(t, "qpdf")
	s := signAll(t)
	for i, in := range inputs {
		input, err := os.ReadFile(in)
		if err != nil {
			t.Fatal(err)
		}
		for name, b := range map[string][]byte{"the copy": s.copy[i], "the copy with a prepared image": s.copyPrepared[i]} {
			n, problems := streamProblems(b, len(input))
			if n < 3 || len(problems) > 0 {
				t.Errorf("%s, %s: %d streams; %s", in, name, n, strings.Join(problems, "; "))
			}
			file := filepath.Join(t.TempDir(), "signed.pdf")
			if err := os.WriteFile(file, b, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(qpdf, "--check", file).CombinedOutput()
			if err != nil || !bytes.Contains(out, []byte("No syntax or stream encoding errors found")) || bytes.Contains(out, []byte("WARNING")) {
				t.Errorf("%s, %s: qpdf --check: %v\n%s", in, name, err, out)
			}
		}
		if _, problems := streamProblems(s.upstream[i], len(input)); len(problems) != 1 {
			t.Errorf("%s: upstream without patch 4 has %d streams without an EOL, want 1 (the appearance): %v", in, len(problems), problems)
		}
	}
}
