// Command certseal is the one binary of the service: it serves the API and
// the public pages, and gives operators their tools.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"

	"github.com/certseal/certseal/internal/config"
)

// command is one subcommand.
type command struct {
	name string
	// synopsis is what the command takes, one line for each form, as the
	// whole command line; -h and certseal help print them.
	synopsis []string
	summary  string
	run      func(ctx context.Context, env *cliEnv, args []string) error
}

// cliEnv is what a command may touch of the outside world; tests replace it.
type cliEnv struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

func commands() []command {
	return []command{
		{"serve", []string{"certseal serve [--addr HOST:PORT] [settings]"}, "run the service", runServe},
		{"migrate", []string{"certseal migrate [--grant-app-role ROLE] [settings]"}, "create or upgrade the database schema and exit", runMigrate},
		{"apikey", []string{"certseal apikey create --role platform|reviewer|unit [--jurisdiction J] [--unit ID] [--name N] [--expires 720h|YYYY-MM-DD] [settings]",
			"certseal apikey list [settings]", "certseal apikey revoke [--with-created] [settings] ID"},
			"make, list or revoke API keys (a new key is printed alone on stdout)", runAPIKey},
		{"demo", []string{"certseal demo [settings]"}, "create a demo unit, filing, seal and certificate", runDemo},
		{"verify-pdf", []string{"certseal verify-pdf [--json] [--ses FILE.ses] [settings] FILE"}, "check a certificate PDF offline", runVerifyPDF},
		{"audit", []string{"certseal audit verify [--head SEQ:HASH] [settings]"}, "walk the audit chain and name the first broken event", runAudit},
		{"log", []string{"certseal log verify [--checkpoint FILE] [settings]",
			"certseal log monitor --server URL --verifier-key VKEY [--checkpoint FILE]", "certseal log keygen ORIGIN"},
			"check the transparency log against an earlier checkpoint (in the store, or over HTTP), or make an operator's log key", runLog},
		{"archive", []string{"certseal archive export --unit ID --out DIR [settings]", "certseal archive timestamp [settings] DIR", "certseal archive verify DIR"},
			"keep or check a unit's 10-year record", runArchive},
		{"batch", []string{"certseal batch submit --server URL --key KEY [--unit ID] [--idempotency-key K] [--numbers OUT.csv] [--every D] FILE"},
			"submit a CSV, XLSX or JSON batch and follow it", runBatch},
		{"version", []string{"certseal version"}, "print the version this binary was built from", runVersion},
		{"help", []string{"certseal help [COMMAND]"}, "list the commands, or what one takes", nil},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, &cliEnv{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}, os.Args[1:])
	stop()
	os.Exit(code)
}

// run runs one command line and returns the exit status: 0 when it did what
// was asked (help included), 2 for a command line it does not take (said
// on one line), 1 for any other failure.
func run(ctx context.Context, env *cliEnv, args []string) int {
	err := dispatch(ctx, env, args)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(env.stderr, "certseal:", err)
	if usage := (*config.UsageError)(nil); errors.As(err, &usage) {
		return 2
	}
	return 1
}

func dispatch(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 || isHelp(args[0]) || args[0] == "help" && (len(args) == 1 || isHelp(args[1]) || args[1] == "help") {
		printCommands(env.stdout)
		return nil
	}
	if args[0] == "help" {
		// certseal help CMD [SUB] is certseal CMD [SUB] -h.
		args = append(slices.Clone(args[1:]), "-h")
	}
	c, ok := commandNamed(args[0])
	if !ok || c.run == nil {
		return &config.UsageError{Err: fmt.Errorf("unknown command %q", args[0]), Command: "certseal"}
	}
	if len(args) > 1 && isHelp(args[1]) && hasSubcommand(c) {
		// A command of subcommands: say what they are.
		fmt.Fprintf(env.stdout, "usage: %s\n\ncertseal %s SUBCOMMAND -h says what each takes.\n", strings.Join(c.synopsis, "\n       "), c.name)
		return flag.ErrHelp
	}
	return c.run(ctx, env, args[1:])
}

func commandNamed(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// hasSubcommand is whether the command's synopsis names a subcommand
// (certseal audit verify) rather than flags or operands.
func hasSubcommand(c command) bool {
	w := strings.Fields(c.synopsis[0])
	return len(w) > 2 && w[2][0] >= 'a' && w[2][0] <= 'z'
}

// synopsisOf is the synopsis lines of a command or subcommand
// ("archive export"), for its -h.
func synopsisOf(name string) []string {
	top, _, _ := strings.Cut(name, " ")
	c, _ := commandNamed(top)
	var out []string
	for _, s := range c.synopsis {
		if strings.HasPrefix(s+" ", "certseal "+name+" ") {
			out = append(out, s)
		}
	}
	return out
}

func isHelp(arg string) bool { return arg == "-h" || arg == "-help" || arg == "--help" }

func printCommands(w io.Writer) {
	fmt.Fprintln(w, "certseal signs, verifies and archives professional-title appointment certificates.\n\nusage:")
	for _, c := range commands() {
		for _, s := range c.synopsis {
			fmt.Fprintln(w, "  "+s)
		}
		fmt.Fprintln(w, "      "+c.summary)
	}
	fmt.Fprintln(w, "\nCommands that open the data take the settings: --data DIR (CERTSEAL_DATA_DIR) and the others")
	fmt.Fprintln(w, "that certseal serve -h lists. certseal COMMAND -h says what a command takes.")
}

// usageErr is a command line the command does not take, with its synopsis.
func usageErr(name string) error {
	return &config.UsageError{Err: errors.New("usage: " + strings.Join(synopsisOf(name), " | ")), Command: "certseal " + name}
}

// runVersion prints the version from the build information the Go
// toolchain records: the module version and, in a checkout, the commit.
func runVersion(_ context.Context, env *cliEnv, args []string) error {
	if len(args) > 0 {
		if isHelp(args[0]) {
			fmt.Fprintln(env.stdout, "usage: certseal version")
			return flag.ErrHelp
		}
		return usageErr("version")
	}
	bi, _ := debug.ReadBuildInfo()
	fmt.Fprintln(env.stdout, versionOf(bi))
	return nil
}

func versionOf(bi *debug.BuildInfo) string {
	if bi == nil {
		return "certseal (no build information)"
	}
	v := "certseal " + bi.Main.Version
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		v += " " + rev[:min(12, len(rev))]
		if settings["vcs.modified"] == "true" {
			v += "+modified"
		}
		if t := settings["vcs.time"]; t != "" {
			v += " " + t
		}
	}
	return v + " " + bi.GoVersion
}
