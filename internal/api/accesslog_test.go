package api

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
)

// slogText is the line slog.TextHandler writes for l.
func slogText(t testing.TB, l *accessLine) string {
	var buf bytes.Buffer
	rec := slog.NewRecord(l.at, slog.LevelInfo, "http request", 0)
	rec.AddAttrs(
		slog.String("method", l.method),
		slog.String("route", l.route),
		slog.Int("status", l.status),
		slog.Int("bytes", l.bytes),
		slog.Duration("duration", l.duration),
		slog.String("request_id", l.requestID),
		slog.String("actor", l.actor),
		slog.String("code", l.problem),
		slog.Bool("panic", l.panicked),
	)
	if err := slog.NewTextHandler(&buf, nil).Handle(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestTextAccessLogIsSlogText(t *testing.T) {
	china := time.FixedZone("CST", 8*3600)
	tests := []accessLine{
		{at: time.Date(2026, 12, 4, 20, 31, 38, 123456789, time.UTC), method: "GET", route: "/v/{number}", status: 200, bytes: 21034,
			duration: 1234567 * time.Nanosecond, requestID: "QcarjoyRMw_zv8rb", actor: "", problem: ""},
		{at: time.Date(2026, 1, 2, 3, 4, 5, 0, china), method: "POST", route: "/api/v1/certificates", status: 422, bytes: 0,
			duration: 3 * time.Second, requestID: "lb-7f3a9c:0001", actor: "unit:12#5", problem: "invalid", panicked: true},
		{at: time.Date(2026, 6, 1, 0, 0, 0, 999999999, time.Local), method: "M=1", route: "unmatched", status: 404, bytes: -1,
			duration: 0, requestID: "a b", actor: "名 字", problem: "x\"y\\z\n\x7f\u00a0\u200b\xff"},
	}
	var text TextAccessLog
	for _, l := range tests {
		if got, want := string(text.appendTextAccessLine(nil, &l)), slogText(t, &l); got != want {
			t.Errorf("line\n%s want\n%s", got, want)
		}
	}
}

func FuzzTextAccessLog(f *testing.F) {
	f.Add("GET", "/v/{number}", "id", "", "", int64(1234567), int64(1733340000123456789))
	f.Add("A=B", "r t", "\"", "\\", "\xff\u2028", int64(-5), int64(0))
	var text TextAccessLog
	f.Fuzz(func(t *testing.T, method, route, id, actor, code string, d, at int64) {
		l := accessLine{at: time.Unix(0, at).UTC(), method: method, route: route, status: 200, bytes: 7, duration: time.Duration(d),
			requestID: id, actor: actor, problem: code}
		if got, want := string(text.appendTextAccessLine(nil, &l)), slogText(t, &l); got != want {
			t.Fatalf("line\n%q want\n%q", got, want)
		}
	})
}

// The router writes its INFO lines through TextAccessLog and others
// through the logger, each once.
func TestAccessLogTextLines(t *testing.T) {
	var logs bytes.Buffer
	text := &TextAccessLog{W: &logs, Level: slog.LevelInfo}
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	mux := chi.NewRouter()
	mux.Get("/ok/{n}", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello")) })
	mux.Get("/fail", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) })
	r := plumbing{log: logger, text: text}.wrap(mux)
	for _, target := range []string{"/ok/1", "/fail"} {
		req := httptest.NewRequest("GET", target, nil)
		req.Header.Set("X-Request-ID", "req-1")
		r.ServeHTTP(httptest.NewRecorder(), req)
	}
	lines := bytes.Split(bytes.TrimSpace(logs.Bytes()), []byte("\n"))
	if len(lines) != 2 ||
		!bytes.Contains(lines[0], []byte(` level=INFO msg="http request" method=GET route=/ok/{n} status=200 bytes=5 duration=`)) ||
		!bytes.HasSuffix(lines[0], []byte(` request_id=req-1 actor="" code="" panic=false`)) ||
		!bytes.Contains(lines[1], []byte(` level=WARN msg="http request" method=GET route=/fail status=503 bytes=0 duration=`)) {
		t.Fatalf("log:\n%s", logs.String())
	}
	// Above INFO, nothing of the INFO lines.
	logs.Reset()
	text.Level = slog.LevelWarn
	r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/ok/1", nil))
	if logs.Len() != 0 {
		t.Fatalf("an INFO line at level WARN: %s", logs.String())
	}
}
