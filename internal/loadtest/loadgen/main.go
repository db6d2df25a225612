// Command loadgen sends GET requests at a fixed rate (open loop) over warm
// keep-alive connections and reports latency percentiles.
//
// A closed-loop tool such as wrk measures the most a server can do; it
// cannot say how fast answers are at a given load, because a slow answer
// delays the requests behind it instead of counting against the server
// ("coordinated omission"). Here every request has a due time fixed in
// advance (start + i/rate), and its latency is counted from that due time,
// so time spent waiting for a free connection counts too.
//
// Requests are written and read by hand on plain TCP connections (one
// goroutine each, HTTP/1.1 keep-alive): the generator shares the machine
// with the server, and net/http's client would cost it several times the
// CPU.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

type config struct {
	urls     []*url.URL
	rate     float64
	duration time.Duration
	warmup   time.Duration
	conns    int
	once     bool
	accept   string
}

// result is what one run reports.
type result struct {
	Label      string  `json:"label"`
	Rate       float64 `json:"rate"`        // asked for, per second
	Achieved   float64 `json:"achieved"`    // answers per second over the measured window
	Sent       int     `json:"sent"`        // requests due in the measured window
	OK         int     `json:"ok"`          // 2xx
	Non2xx     int     `json:"non_2xx"`     // other statuses
	Errors     int     `json:"errors"`      // connection or protocol errors
	Unanswered int     `json:"unanswered"`  // due but not answered before the end
	P50        float64 `json:"p50_ms"`      // latency percentiles, milliseconds
	P90        float64 `json:"p90_ms"`      //
	P99        float64 `json:"p99_ms"`      //
	P999       float64 `json:"p99_9_ms"`    //
	Max        float64 `json:"max_ms"`      //
	MeanBytes  int     `json:"mean_bytes"`  // body size
	Timeout    bool    `json:"timeout"`     // the run ended with requests still queued
	FirstError string  `json:"first_error"` //
}

func main() {
	var c config
	var single, urlFile, label string
	var asJSON bool
	flag.StringVar(&single, "url", "", "URL to request")
	flag.StringVar(&urlFile, "urls", "", "file of URLs (one a line, one host), requested in turn")
	flag.Float64Var(&c.rate, "rate", 10000, "requests per second")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "measured time")
	flag.DurationVar(&c.warmup, "warmup", 2*time.Second, "time at the same rate before measuring (connections and caches warm)")
	flag.IntVar(&c.conns, "conns", 50, "keep-alive connections")
	flag.BoolVar(&c.once, "once", false, "request each URL exactly once, at -rate, without warm-up (cold-cache latency)")
	flag.StringVar(&c.accept, "accept", "text/html", "Accept header")
	flag.StringVar(&label, "label", "", "name of the run in the report")
	flag.BoolVar(&asJSON, "json", false, "print the result as JSON")
	flag.Parse()

	raw := []string{single}
	if urlFile != "" {
		b, err := os.ReadFile(urlFile)
		if err != nil {
			log.Fatal(err)
		}
		raw = strings.Fields(string(b))
	}
	for _, s := range raw {
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "http" || u.Host == "" {
			log.Fatalf("want http://host/path URLs, got %q", s)
		}
		if len(c.urls) > 0 && u.Host != c.urls[0].Host {
			log.Fatalf("all URLs must be on one host: %s and %s", c.urls[0].Host, u.Host)
		}
		c.urls = append(c.urls, u)
	}
	if c.rate <= 0 || c.conns <= 0 || (!c.once && c.duration <= 0) {
		log.Fatal("-rate, -conns and -duration must be positive")
	}
	r := run(c)
	r.Label = label
	if asJSON {
		json.NewEncoder(os.Stdout).Encode(r)
		return
	}
	fmt.Printf("%-28s rate %6.0f/s achieved %6.0f/s  p50 %6.3f ms  p90 %6.3f ms  p99 %7.3f ms  p99.9 %7.3f ms  max %7.3f ms  ok %d non-2xx %d errors %d unanswered %d\n",
		r.Label, r.Rate, r.Achieved, r.P50, r.P90, r.P99, r.P999, r.Max, r.OK, r.Non2xx, r.Errors, r.Unanswered)
	if r.FirstError != "" {
		fmt.Printf("%-28s first error: %s\n", "", r.FirstError)
	}
}

// job is one request: which URL, when it is due, and whether it counts.
type job struct {
	url      int
	due      time.Time
	measured bool
}

// sample is one answer.
type sample struct {
	latency time.Duration
	done    time.Time
	status  int // 0: error
	bytes   int
	err     error
}

func run(c config) result {
	interval := time.Duration(float64(time.Second) / c.rate)
	warmup, total := c.warmup, c.warmup+c.duration
	n := int(total / interval)
	if c.once {
		warmup, n = 0, len(c.urls)
	}
	jobs := make(chan job, n)
	samples := make([][]sample, c.conns)
	var wg sync.WaitGroup
	start := time.Now().Add(100 * time.Millisecond) // the connections are dialled meanwhile
	for w := range c.conns {
		wg.Go(func() { samples[w] = worker(c, jobs) })
	}
	// The pacer hands out jobs as they fall due; a worker late to pick
	// one up makes that job's latency longer, as it should.
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		jobs <- job{url: i % len(c.urls), due: due, measured: due.Sub(start) >= warmup}
	}
	close(jobs)
	// A server that stops answering must not hang the run.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	end := start.Add(total).Add(10 * time.Second)
	timedOut := false
	select {
	case <-done:
	case <-time.After(time.Until(end)):
		timedOut = true
	}

	r := result{Rate: c.rate, Timeout: timedOut}
	var lat []time.Duration
	var last time.Time
	bytes := 0
	if !timedOut {
		for _, ss := range samples {
			for _, s := range ss {
				switch {
				case s.err != nil:
					r.Errors++
					if r.FirstError == "" {
						r.FirstError = s.err.Error()
					}
					continue
				case s.status/100 == 2:
					r.OK++
				default:
					r.Non2xx++
				}
				lat = append(lat, s.latency)
				bytes += s.bytes
				if s.done.After(last) {
					last = s.done
				}
			}
		}
	}
	r.Sent = n
	if !c.once {
		r.Sent = n - int(warmup/interval)
	}
	r.Unanswered = r.Sent - r.OK - r.Non2xx - r.Errors
	if len(lat) == 0 {
		return r
	}
	slices.Sort(lat)
	ms := func(q float64) float64 {
		i := min(int(q*float64(len(lat))), len(lat)-1)
		return float64(lat[i].Microseconds()) / 1000
	}
	r.P50, r.P90, r.P99, r.P999 = ms(0.50), ms(0.90), ms(0.99), ms(0.999)
	r.Max = float64(lat[len(lat)-1].Microseconds()) / 1000
	r.MeanBytes = bytes / len(lat)
	// Answers per second, from the start of the measured window to the
	// last answer: a server that falls behind stretches the window.
	r.Achieved = float64(len(lat)) / last.Sub(start.Add(warmup)).Seconds()
	return r
}

// worker answers jobs on one keep-alive connection, redialling after an
// error, and returns the measured samples.
func worker(c config, jobs <-chan job) []sample {
	var out []sample
	var conn net.Conn
	var br *bufio.Reader
	var bw *bufio.Writer
	host := c.urls[0].Host
	reqs := make([][]byte, len(c.urls))
	for i, u := range c.urls {
		reqs[i] = fmt.Appendf(nil, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: %s\r\nUser-Agent: certseal-loadgen\r\n\r\n", u.RequestURI(), host, c.accept)
	}
	dial := func() error {
		var err error
		if conn, err = net.DialTimeout("tcp", host, 5*time.Second); err != nil {
			return err
		}
		br, bw = bufio.NewReaderSize(conn, 64<<10), bufio.NewWriter(conn)
		return nil
	}
	if err := dial(); err != nil {
		conn = nil
	}
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for j := range jobs {
		s := sample{}
		if conn == nil {
			s.err = dial()
		}
		keep := false
		if s.err == nil {
			s.status, s.bytes, keep, s.err = roundTrip(conn, br, bw, reqs[j.url])
		}
		s.done = time.Now()
		s.latency = s.done.Sub(j.due)
		if !keep && conn != nil {
			conn.Close()
			conn = nil
		}
		if j.measured {
			out = append(out, s)
		}
	}
	return out
}

// roundTrip sends one request and reads the whole answer; keep says
// whether the connection may carry the next one.
func roundTrip(conn net.Conn, br *bufio.Reader, bw *bufio.Writer, req []byte) (status, n int, keep bool, err error) {
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := bw.Write(req); err != nil {
		return 0, 0, false, err
	}
	if err := bw.Flush(); err != nil {
		return 0, 0, false, err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, 0, false, err
	}
	m, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return 0, 0, false, err
	}
	return resp.StatusCode, int(m), !resp.Close, nil
}
