// Package e2e drives the real certseal binary the way its users do: the
// operator's command line, the API over HTTP, and the public pages.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// bin is the certseal binary built once for the package.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "certseal-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "certseal")
	build := exec.Command("go", "build", "-o", bin, "github.com/certseal/certseal/cmd/certseal")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build certseal:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer collects a process's output while tests read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Server is one running `certseal serve`.
type Server struct {
	URL  string // http://127.0.0.1:PORT
	Data string
	Env  []string
	cmd  *exec.Cmd
	Log  *syncBuffer
	done chan error
}

var listening = regexp.MustCompile(`certseal is listening" addr=(http://[0-9.:]+)`)

// StartServer runs `certseal serve` on a free port with the given data
// directory and extra environment (CERTSEAL_DATABASE_URL, ...), and waits
// until it is ready. It is stopped when the test ends.
func StartServer(t testing.TB, data string, env ...string) *Server {
	t.Helper()
	s := &Server{Data: data, Log: &syncBuffer{}, done: make(chan error, 1)}
	s.Env = append(os.Environ(), "CERTSEAL_DATA_DIR="+data)
	s.Env = append(s.Env, env...)
	s.cmd = exec.Command(bin, "serve", "--addr", "127.0.0.1:0")
	s.cmd.Env = s.Env
	pr, pw := io.Pipe()
	s.cmd.Stdout, s.cmd.Stderr = s.Log, io.MultiWriter(s.Log, pw)
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.done <- s.cmd.Wait(); pw.Close() }()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case addr := <-found:
		s.URL = addr
	case err := <-s.done:
		t.Fatalf("certseal serve exited: %v\n%s", err, s.Log)
	case <-time.After(60 * time.Second):
		s.cmd.Process.Kill()
		t.Fatalf("certseal serve did not start\n%s", s.Log)
	}
	t.Cleanup(func() { s.Stop(t) })
	s.waitReady(t)
	return s
}

func (s *Server) waitReady(t testing.TB) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get(s.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
	}
	t.Fatalf("certseal not healthy\n%s", s.Log)
}

// Stop ends the server gracefully (SIGTERM) and waits.
func (s *Server) Stop(t testing.TB) {
	if s.cmd.ProcessState != nil || s.cmd.Process == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		t.Errorf("certseal serve did not stop on SIGTERM\n%s", s.Log)
	}
}

// CLI runs a certseal command with the server's environment and returns
// its standard output; a failure ends the test.
func CLI(t testing.TB, env []string, args ...string) string {
	t.Helper()
	out, err := CLIResult(env, args...)
	if err != nil {
		t.Fatalf("certseal %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// CLIResult runs a certseal command and returns stdout (and stderr on error).
func CLIResult(env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// TestServeAndDemo is the smoke test of the README's first command: the
// service starts on the embedded default, says where it listens, where its
// data is and that its CA is a development one, and `certseal demo`
// issues a certificate whose page says 有效.
func TestServeAndDemo(t *testing.T) {
	data := t.TempDir()
	s := StartServer(t, data)
	for _, want := range []string{"certseal is listening", "data_dir=" + data, "development_ca=true", "DEVELOPMENT CA"} {
		if !strings.Contains(s.Log.String(), want) {
			t.Errorf("start-up log lacks %q:\n%s", want, s.Log)
		}
	}
	out := CLI(t, append(s.Env, "CERTSEAL_BASE_URL="+s.URL), "demo")
	m := regexp.MustCompile(`verify: (\S+)`).FindStringSubmatch(out)
	p := regexp.MustCompile(`pdf: (\S+)`).FindStringSubmatch(out)
	if m == nil || p == nil {
		t.Fatalf("demo output:\n%s", out)
	}
	if _, err := os.Stat(p[1]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(page), "有效") {
		t.Fatalf("verification page %d:\n%s", resp.StatusCode, page)
	}
}

// TestInspectingCommandsCreateNothing: an operator who runs verify-pdf,
// audit verify, apikey create or archive export with the wrong data
// directory is told so. Before, each quietly started a new installation
// there (KEK, CA, empty database), and verify-pdf then called every
// genuine certificate foreign.
func TestInspectingCommandsCreateNothing(t *testing.T) {
	pdf := writeFile(t, t.TempDir(), "some.pdf", []byte("%PDF-1.7\n"))
	runs := [][]string{
		{"verify-pdf", pdf},
		{"audit", "verify"},
		{"apikey", "create", "--role", "platform"},
		{"archive", "export", "--unit", "1", "--out", filepath.Join(t.TempDir(), "out")},
	}
	// withoutDB is an installation whose SQLite file is not there (as when
	// CERTSEAL_DATABASE_URL was forgotten): its KEK and CA alone are no
	// reason to make an empty database.
	withoutDB := t.TempDir()
	CLI(t, append(os.Environ(), "CERTSEAL_DATA_DIR="+withoutDB), "migrate")
	dbFiles, _ := filepath.Glob(filepath.Join(withoutDB, "certseal.db*"))
	if len(dbFiles) == 0 {
		t.Fatalf("migrate made no SQLite file in %s", withoutDB)
	}
	for _, f := range dbFiles {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	for _, place := range []struct{ name, dir, missing string }{
		{"no data directory", filepath.Join(t.TempDir(), "data"), "kek"},
		{"no database", withoutDB, "certseal.db"},
	} {
		before := listDir(t, place.dir)
		for _, args := range runs {
			out, err := CLIResult(append(os.Environ(), "CERTSEAL_DATA_DIR="+place.dir), args...)
			if err == nil {
				t.Errorf("%s: certseal %s succeeded:\n%s", place.name, strings.Join(args, " "), out)
				continue
			}
			for _, want := range []string{place.missing, "existing installation", "CERTSEAL_DATA_DIR"} {
				if !strings.Contains(out, want) {
					t.Errorf("%s: certseal %s does not say %q:\n%s", place.name, strings.Join(args, " "), want, out)
				}
			}
			if after := listDir(t, place.dir); after != before {
				t.Errorf("%s: certseal %s changed %s: %q, was %q", place.name, strings.Join(args, " "), place.dir, after, before)
			}
		}
	}
}

// listDir names what is under dir ("" when dir does not exist).
func listDir(t *testing.T, dir string) string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		names = append(names, p)
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Join(names, "\n")
}
