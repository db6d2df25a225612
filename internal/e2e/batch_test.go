package e2e

import (
	"encoding/base64"
	"encoding/csv"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The operator's batch command against the real server: a CSV with the
// notice's columns goes in, every row is issued, and --numbers writes the
// numbers each row got, which the public lookup then knows.
func TestBatchSubmitCommand(t *testing.T) {
	s := StartServer(t, t.TempDir())
	env := append(s.Env, "CERTSEAL_BASE_URL="+s.URL)
	keys := regexp.MustCompile(`unit +(cs_\S+)`).FindStringSubmatch(CLI(t, env, "demo"))
	if keys == nil {
		t.Fatal("demo printed no unit key")
	}
	photo := base64.StdEncoding.EncodeToString(readRepoFile(t, "testdata/photo.jpg"))
	year := time.Now().Year()
	today := time.Now().Format("2006-01-02")
	rows := [][]string{{"姓名", "性别", "身份证号", "职称系列", "从事专业", "职称层级", "评聘岗位", "聘期开始", "聘期结束", "评聘委员会名称", "公布文号", "聘任日期", "照片"}}
	for _, person := range [][3]string{{"张伟", "男", "370102198001010031"}, {"李娜", "女", "370102198505050029"}} {
		rows = append(rows, []string{person[0], person[1], person[2], "高校教师", "海洋科学",
			"中级", "讲师", today, time.Now().AddDate(3, 0, -1).Format("2006-01-02"), "威海示范大学高级职称评审委员会",
			"威示大字〔" + strconv.Itoa(year) + "〕9号", today, photo})
	}
	dir := t.TempDir()
	file, numbers := filepath.Join(dir, "appointments.csv"), filepath.Join(dir, "numbers.csv")
	write := func() {
		f, err := os.Create(file)
		if err != nil {
			t.Fatal(err)
		}
		csv.NewWriter(f).WriteAll(rows)
		f.Close()
	}
	write()

	out := CLI(t, env, "batch", "submit", "--server", s.URL, "--key", keys[1], "--numbers", numbers, file)
	if !strings.Contains(out, "done: 2 issued, 0 failed of 2") {
		t.Fatalf("batch submit:\n%s", out)
	}
	b, err := os.ReadFile(numbers)
	if err != nil {
		t.Fatal(err)
	}
	got, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
	if err != nil || len(got) != 3 {
		t.Fatalf("numbers file:\n%s (%v)", b, err)
	}
	for i, r := range got[1:] {
		if r[0] != strconv.Itoa(i+2) || r[2] != "issued" || r[1] == "" {
			t.Errorf("numbers file row %v", r)
			continue
		}
		resp, err := http.Get(s.URL + "/v?no=" + r[1] + "&name=" + url.QueryEscape(rows[i+1][0]))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("typed lookup of %s for %s: %d", r[1], rows[i+1][0], resp.StatusCode)
		}
	}
	// The same file again is the same batch; the file corrected (one
	// term shorter, the same size) is a new batch, without a key given.
	batchID := regexp.MustCompile(`batch (\d+) done`)
	again := CLI(t, env, "batch", "submit", "--server", s.URL, "--key", keys[1], file)
	rows[2][8] = time.Now().AddDate(2, 0, -1).Format("2006-01-02")
	write()
	changed := CLI(t, env, "batch", "submit", "--server", s.URL, "--key", keys[1], file)
	first, second, third := batchID.FindStringSubmatch(out), batchID.FindStringSubmatch(again), batchID.FindStringSubmatch(changed)
	if first == nil || second == nil || third == nil || second[1] != first[1] || third[1] == first[1] {
		t.Errorf("batches: first\n%s\nthe same file\n%s\nthe file changed\n%s", out, again, changed)
	}
	// A key given for another file is refused, saying which flag to change.
	CLI(t, env, "batch", "submit", "--server", s.URL, "--key", keys[1], "--idempotency-key", "k1", file)
	rows[2][8] = time.Now().AddDate(1, 0, -1).Format("2006-01-02")
	write()
	if out, err := CLIResult(env, "batch", "submit", "--server", s.URL, "--key", keys[1], "--idempotency-key", "k1", file); err == nil ||
		!strings.Contains(out, "--idempotency-key") {
		t.Errorf("a reused --idempotency-key: %v\n%s", err, out)
	}
}
