package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"html"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/certseal/certseal/internal/testenv"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "write the phone screenshot of the verification page to testdata/verify-page-phone.png")

// A phone's viewport in CSS pixels (iPhone 12-15).
const phoneWidth, phoneHeight = 390, 844

// measurePage holds a page of the server (same origin, through the test's
// proxy) in a frame of exactly a phone's viewport and, once it has loaded,
// writes the viewport, the width of the laid-out page and the boxes that
// {{MEASURE}} names (relative to the viewport) into an attribute of <html>.
const measurePage = `<!doctype html>
<html><body style="margin:0">
<iframe id="phone" src="{{PAGE}}" style="border:0;width:{{W}}px;height:{{H}}px;display:block"></iframe>
<script>
document.getElementById('phone').addEventListener('load', function () {
  var win = this.contentWindow, doc = this.contentDocument;
  function box(sel) {
    var el = doc.querySelector(sel);
    if (!el) return null;
    var r = el.getBoundingClientRect(), cs = win.getComputedStyle(el);
    var hit = doc.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return {text: el.textContent.trim(), top: r.top, bottom: r.bottom, left: r.left, right: r.right,
            shown: cs.display !== 'none' && cs.visibility === 'visible' && parseFloat(cs.opacity) > 0,
            on_top: !!hit && (hit === el || el.contains(hit))};
  }
  document.documentElement.setAttribute('data-measure', JSON.stringify({
    width: win.innerWidth, height: win.innerHeight, scroll_y: win.scrollY,
    scroll_width: doc.documentElement.scrollWidth, {{MEASURE}}}));
});
</script>
</body></html>`

type measuredBox struct {
	Text                     string
	Top, Bottom, Left, Right float64
	Shown                    bool
	OnTop                    bool `json:"on_top"`
}

type measurement struct {
	Width, Height float64
	ScrollY       float64 `json:"scroll_y"`
	ScrollWidth   float64 `json:"scroll_width"`
	Status, Name  *measuredBox
	Validity      *measuredBox
}

// TestVerificationPageOnAPhone renders the page a QR scan opens in headless
// Chromium at a phone's size. Two renderings: a screenshot of the real
// address (its banner must be the green of 有效; a person looks at it), and
// a measurement of the layout. Chromium's command line cannot run script in
// a page, so the test serves the page through a proxy of its own that adds
// a script reading the boxes of the status and the name after load; the
// page's HTML and CSS are otherwise the server's, byte for byte. "Visible
// without scrolling" means: inside the 390x844 viewport at scroll 0,
// displayed, and the topmost element at its own centre.
func TestVerificationPageOnAPhone(t *testing.T) {
	chromium := testenv.Tool(t, "chromium")
	s := StartServer(t, t.TempDir())
	out := CLI(t, append(s.Env, "CERTSEAL_BASE_URL="+s.URL), "demo")
	m := regexp.MustCompile(`verify: (\S+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("demo output has no verification address:\n%s", out)
	}
	address := m[1]
	// What the page must show, as the same address answers it in JSON.
	want := (&client{t: t, base: s.URL}).verifyJSON(address)
	if want.StatusText != "有效" || want.Name == "" {
		t.Fatalf("the demo certificate is not valid: %+v", want)
	}

	shot := filepath.Join(t.TempDir(), "verify-page-phone.png")
	headless(t, chromium, fmt.Sprintf("--window-size=%d,%d", phoneWidth, phoneHeight), "--screenshot="+shot, address)
	img := readPNG(t, shot)
	if b := img.Bounds(); b.Dx() != phoneWidth || b.Dy() != phoneHeight {
		t.Fatalf("screenshot is %dx%d, want %dx%d", b.Dx(), b.Dy(), phoneWidth, phoneHeight)
	}
	// The 有效 banner (#1a7f37) fills a good part of the top fifth.
	if n, total := countColour(img, image.Rect(0, 0, phoneWidth, phoneHeight/5), 0x1a, 0x7f, 0x37); n < total/5 {
		t.Errorf("the top of the screenshot is not the green 有效 banner: %d of %d pixels are #1a7f37", n, total)
	}
	t.Logf("screenshot: %s", shot)
	if *updateScreenshot {
		if err := os.WriteFile(filepath.Join("testdata", "verify-page-phone.png"), readFile(t, shot), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	got := measureOnAPhone(t, chromium, s.URL, strings.TrimPrefix(address, s.URL), "status: box('section.status h1'), name: box('p.name')")
	t.Logf("viewport %gx%g; status %+v; name %+v", got.Width, got.Height, got.Status, got.Name)
	if got.Width != phoneWidth || got.Height != phoneHeight || got.ScrollY != 0 {
		t.Fatalf("viewport %gx%g scrolled %g, want %dx%d at the top", got.Width, got.Height, got.ScrollY, phoneWidth, phoneHeight)
	}
	onFirstScreen(t, got, "status", want.StatusText, got.Status)
	onFirstScreen(t, got, "name", want.Name, got.Name)
}

// onFirstScreen checks that box, reading want, is shown within the first
// screen of the measured page.
func onFirstScreen(t *testing.T, got measurement, what, want string, b *measuredBox) {
	t.Helper()
	switch {
	case b == nil:
		t.Errorf("the page has no %s element", what)
	case b.Text != want:
		t.Errorf("the %s reads %q, want %q", what, b.Text, want)
	case !b.Shown || !b.OnTop:
		t.Errorf("the %s is hidden or covered: %+v", what, *b)
	case b.Top < 0 || b.Left < 0 || b.Bottom > got.Height || b.Right > got.Width || b.Bottom <= b.Top:
		t.Errorf("the %s is not inside the first screen (%gx%g): %+v", what, got.Width, got.Height, *b)
	}
}

// TestCatalogOnAPhone: the public catalog at a phone's width needs no
// sideways scrolling, and a filing's validity, from and until, is on the
// first screen.
func TestCatalogOnAPhone(t *testing.T) {
	chromium := testenv.Tool(t, "chromium")
	s := StartServer(t, t.TempDir())
	CLI(t, append(s.Env, "CERTSEAL_BASE_URL="+s.URL), "demo")
	var catalog struct {
		Items []struct {
			ValidFrom  string `json:"valid_from"`
			ValidUntil string `json:"valid_until"`
		} `json:"items"`
	}
	(&client{t: t, base: s.URL}).json("", "GET", "/api/v1/catalog", nil, http.StatusOK, &catalog)
	if len(catalog.Items) != 1 {
		t.Fatalf("catalog after demo: %+v", catalog)
	}
	got := measureOnAPhone(t, chromium, s.URL, "/catalog", `validity: box('td[data-label="有效期"]')`)
	t.Logf("viewport %gx%g, page %g wide; validity %+v", got.Width, got.Height, got.ScrollWidth, got.Validity)
	if got.Width != phoneWidth || got.ScrollWidth > got.Width {
		t.Errorf("the catalog is %g px wide in a viewport of %g: it scrolls sideways", got.ScrollWidth, got.Width)
	}
	onFirstScreen(t, got, "validity", catalog.Items[0].ValidFrom+" 至 "+catalog.Items[0].ValidUntil, got.Validity)
	if got.Validity != nil && got.Validity.Bottom-got.Validity.Top > 40 {
		t.Errorf("the validity wraps over more than one line: %+v", *got.Validity)
	}
}

// measureOnAPhone opens page (a path of the server at base) in a frame of
// a phone's viewport and returns what the script in measurePage found,
// with the boxes that fields (a JavaScript object's fields) name.
func measureOnAPhone(t *testing.T, chromium, base, page, fields string) measurement {
	t.Helper()
	// The proxy passes the server's pages through untouched and serves the
	// measuring frame at /measure, so the frame may read the page.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/measure" {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			strings.NewReplacer("{{PAGE}}", html.EscapeString(page), "{{W}}", fmt.Sprint(phoneWidth), "{{H}}", fmt.Sprint(phoneHeight),
				"{{MEASURE}}", fields).WriteString(w, measurePage)
			return
		}
		resp, err := http.Get(base + r.URL.RequestURI())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	}))
	defer proxy.Close()
	// A window larger than the frame, so that all of the frame is on screen.
	dom := headless(t, chromium, "--window-size=800,1000", "--dump-dom", "--virtual-time-budget=5000", proxy.URL+"/measure")
	attr := regexp.MustCompile(`data-measure="([^"]*)"`).FindStringSubmatch(dom)
	if attr == nil {
		t.Fatalf("the measuring script left no result; DOM:\n%s", dom)
	}
	var got measurement
	if err := json.Unmarshal([]byte(html.UnescapeString(attr[1])), &got); err != nil {
		t.Fatalf("measurement %q: %v", attr[1], err)
	}
	return got
}

// headless runs Chromium without a display and returns what it printed on
// stdout.
func headless(t *testing.T, chromium string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir(), "--run-all-compositor-stages-before-draw"}
	cmd := exec.CommandContext(ctx, chromium, append(base, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

func readPNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

// countColour counts the pixels of r that are the colour, give or take
// a little for colour management.
func countColour(img image.Image, r image.Rectangle, red, green, blue uint8) (n, total int) {
	near := func(a uint32, b uint8) bool { d := int(a>>8) - int(b); return d >= -6 && d <= 6 }
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, _ := img.At(x, y).RGBA()
			if near(cr, red) && near(cg, green) && near(cb, blue) {
				n++
			}
			total++
		}
	}
	return n, total
}
