package main

import (
	"context"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
)

// runCLI runs a command line in process, with no environment.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut strings.Builder
	code = run(context.Background(), &cliEnv{stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}, args)
	return code, out.String(), errOut.String()
}

func TestHelpAndVersionExitZero(t *testing.T) {
	for _, args := range [][]string{nil, {"help"}, {"--help"}, {"-h"}, {"-help"}, {"help", "help"}} {
		code, out, errOut := runCLI(t, args...)
		if code != 0 || errOut != "" {
			t.Errorf("certseal %v: exit %d, stderr %q", args, code, errOut)
		}
		for _, c := range commands() {
			if !strings.Contains(out, c.synopsis[0]) {
				t.Errorf("certseal %v does not list %q:\n%s", args, c.synopsis[0], out)
			}
		}
	}
	code, out, _ := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(out, "certseal ") || !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
		t.Errorf("certseal version: exit %d: %q", code, out)
	}
}

func TestVersionOf(t *testing.T) {
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"no build info", nil, "certseal (no build information)"},
		{"a release", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.4.0"}}, "certseal v1.4.0 go1.26.8"},
		{"a checkout with changes", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
			Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "bfacc38a4b1c2d3e4f5061728394a5b6c7d8e9f0"},
				{Key: "vcs.time", Value: "2026-12-03T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}},
			"certseal (devel) bfacc38a4b1c+modified 2026-12-03T10:00:00Z go1.26.8"},
	}
	for _, tc := range tests {
		if got := versionOf(tc.bi); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// An unknown command or flag, or a command line missing what it needs,
// exits 2 with one line saying where to look.
func TestUsageErrorsExitTwoOnOneLine(t *testing.T) {
	lines := [][]string{
		{"nonsense"},
		{"help", "nonsense"},
		{"serve", "--nonsense"},
		{"migrate", "--nonsense"},
		{"demo", "--nonsense"},
		{"verify-pdf", "--nonsense", "x.pdf"},
		{"verify-pdf"},
		{"apikey"},
		{"apikey", "frob"},
		{"apikey", "create", "--nonsense"},
		{"audit"},
		{"audit", "verify", "--nonsense"},
		{"log"},
		{"log", "frob"},
		{"log", "verify", "--nonsense"},
		{"log", "verify", "stray"},
		{"log", "keygen"},
		{"log", "keygen", "a b"},
		{"log", "monitor"},
		{"log", "monitor", "--server", "http://127.0.0.1:1"},
		{"log", "monitor", "--server", "http://127.0.0.1:1", "--verifier-key", "not a key"},
		{"archive"},
		{"archive", "frob"},
		{"archive", "export", "--nonsense"},
		{"archive", "verify"},
		{"archive", "verify", "--nonsense", "dir"},
		{"batch"},
		{"batch", "submit", "--nonsense"},
		{"batch", "submit", "x.csv"}, // no --server, no --key
		{"version", "--nonsense"},
		// A stray word ends flag parsing: what follows it must not be
		// dropped silently (a key made without its --expires).
		{"apikey", "create", "--role", "platform", "--name", "ops", "laptop", "--expires", "24h"},
		{"serve", "stray"},
		{"migrate", "stray"},
		{"demo", "stray"},
		{"audit", "verify", "stray"},
		{"archive", "export", "--unit", "1", "--out", "d", "stray"},
		{"apikey", "list", "stray"},
		{"archive", "timestamp"},
	}
	for _, args := range lines {
		code, out, errOut := runCLI(t, args...)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, " -h ") {
			t.Errorf("certseal %s: exit %d, stdout %q, stderr %q; want 2 and one line naming -h", strings.Join(args, " "), code, out, errOut)
		}
	}
}

// certseal CMD -h lists the command's own flags, then the shared settings;
// the synopsis names exactly the command's own flags, and only flags the
// command takes.
func TestCommandHelpMatchesWhatItTakes(t *testing.T) {
	flagName := regexp.MustCompile(`(?m)^  -([a-z-]+)`)
	named := regexp.MustCompile(`--([a-z-]+)`)
	for _, c := range commands() {
		for _, synopsis := range c.synopsis {
			words := strings.Fields(synopsis)[1:] // without "certseal"
			var cmdline []string
			for _, w := range words {
				if !regexp.MustCompile(`^[a-z][a-z-]*$`).MatchString(w) {
					break
				}
				cmdline = append(cmdline, w)
			}
			code, out, errOut := runCLI(t, append(cmdline, "-h")...)
			if code != 0 || errOut != "" || (c.name != "help" && !strings.Contains(out, "usage: "+synopsis)) {
				t.Errorf("certseal %s -h: exit %d, stderr %q:\n%s", strings.Join(cmdline, " "), code, errOut, out)
				continue
			}
			own, settings, _ := strings.Cut(out, "\nsettings")
			var ownFlags, all []string
			for _, m := range flagName.FindAllStringSubmatch(own, -1) {
				ownFlags = append(ownFlags, m[1])
			}
			for _, m := range flagName.FindAllStringSubmatch(out, -1) {
				all = append(all, m[1])
			}
			var inSynopsis []string
			for _, m := range named.FindAllStringSubmatch(synopsis, -1) {
				inSynopsis = append(inSynopsis, m[1])
				if !slices.Contains(all, m[1]) {
					t.Errorf("%q names --%s, which certseal %s does not take", synopsis, m[1], strings.Join(cmdline, " "))
				}
			}
			for _, f := range ownFlags {
				if !slices.Contains(inSynopsis, f) {
					t.Errorf("%q does not name --%s, a flag of its own", synopsis, f)
				}
			}
			// The settings are [settings], or each named (batch submit's
			// --server and --key).
			for _, m := range flagName.FindAllStringSubmatch(settings, -1) {
				if !strings.Contains(synopsis, "[settings]") && !slices.Contains(inSynopsis, m[1]) {
					t.Errorf("%q does not say it takes --%s", synopsis, m[1])
				}
			}
			if strings.Contains(synopsis, "[settings]") && settings == "" {
				t.Errorf("%q says it takes settings; -h lists none:\n%s", synopsis, out)
			}
			if len(ownFlags) > 0 && !strings.Contains(own, "flags of certseal "+strings.Join(cmdline, " ")+":") {
				t.Errorf("certseal %s -h does not list its own flags first:\n%s", strings.Join(cmdline, " "), out)
			}
		}
	}
}
