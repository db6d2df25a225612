package api

import (
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
)

// TextAccessLog writes the access log's INFO lines itself, byte for byte as
// slog.TextHandler without options would (TestTextAccessLogIsSlogText
// holds it to that), straight to W. Going through slog.Record and the
// handler's generic attribute walk took a verification page twice as long
// as everything else it does. Lines of other levels (5xx, WARN) still go
// through the request's logger, with whatever flushing it does.
//
// Use it only where the logger given to AccessLog is a plain TextHandler
// on the same writer (no WithAttrs, no WithGroup, no ReplaceAttr):
// certseal serve's text logging.
type TextAccessLog struct {
	W     io.Writer // safe for concurrent Writes, each kept whole (logbuf.Writer)
	Level slog.Leveler

	second atomic.Pointer[formattedSecond]
	bufs   sync.Pool // *[]byte, a line's
}

// accessLine is what an access log line says.
type accessLine struct {
	at                        time.Time
	method, route             string
	status, bytes             int
	duration                  time.Duration
	requestID, actor, problem string
	panicked                  bool
}

// write writes l if INFO is enabled.
func (t *TextAccessLog) write(l *accessLine) {
	if t.Level != nil && t.Level.Level() > slog.LevelInfo {
		return
	}
	bp, _ := t.bufs.Get().(*[]byte)
	if bp == nil {
		b := make([]byte, 0, 256)
		bp = &b
	}
	b := t.appendTextAccessLine((*bp)[:0], l)
	t.W.Write(b) // as slog's handlers, a failed log write is not the request's
	*bp = b
	t.bufs.Put(bp)
}

func (t *TextAccessLog) appendTextAccessLine(b []byte, l *accessLine) []byte {
	b = append(b, "time="...)
	b = t.appendRFC3339Millis(b, l.at)
	b = append(b, ` level=INFO msg="http request" method=`...)
	b = appendTextString(b, l.method)
	b = append(b, " route="...)
	b = appendTextString(b, l.route)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(l.status), 10)
	b = append(b, " bytes="...)
	b = strconv.AppendInt(b, int64(l.bytes), 10)
	b = append(b, " duration="...)
	b = append(b, l.duration.String()...)
	b = append(b, " request_id="...)
	b = appendTextString(b, l.requestID)
	b = append(b, " actor="...)
	b = appendTextString(b, l.actor)
	b = append(b, " code="...)
	b = appendTextString(b, l.problem)
	b = append(b, " panic="...)
	b = strconv.AppendBool(b, l.panicked)
	return append(b, '\n')
}

// appendRFC3339Millis is slog's time format: RFC 3339 with exactly three
// fractional digits, in t's own zone. The date, the time to the second
// and the zone are formatted once per second and location (formatting
// them took a third of the line).
func (t *TextAccessLog) appendRFC3339Millis(b []byte, at time.Time) []byte {
	if y := at.Year(); y < 0 || y > 9999 { // not four digits: as slog does it
		return at.Round(0).Truncate(time.Millisecond).AppendFormat(b, "2006-01-02T15:04:05.000Z07:00")
	}
	sec := at.Unix()
	s := t.second.Load()
	if s == nil || s.unix != sec || s.loc != at.Location() {
		f := at.Truncate(time.Second).AppendFormat(nil, "2006-01-02T15:04:05Z07:00")
		s = &formattedSecond{unix: sec, loc: at.Location(), prefix: string(f[:19]), zone: string(f[19:])}
		t.second.Store(s)
	}
	ms := at.Nanosecond() / int(time.Millisecond)
	b = append(b, s.prefix...)
	b = append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	return append(b, s.zone...)
}

// formattedSecond is one second's time as appendRFC3339Millis writes it,
// but the milliseconds.
type formattedSecond struct {
	unix         int64
	loc          *time.Location
	prefix, zone string // "2006-01-02T15:04:05", "Z07:00"
}

// appendTextString quotes s when slog's text handler does: when it is
// empty, or has a space, '=', '"', a control character, invalid UTF-8 or
// a character that is not printable.
func appendTextString(b []byte, s string) []byte {
	if textNeedsQuoting(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

func textNeedsQuoting(s string) bool {
	if s == "" {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c == ' ' || c == '=' || c == '"' || c < 0x20 {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}
