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
	"syscall"
)

// command is one subcommand.
type command struct {
	name, usage string
	run         func(ctx context.Context, env *cliEnv, args []string) error
}

// cliEnv is what a command may touch of the outside world; tests replace it.
type cliEnv struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

func commands() []command {
	return []command{
		{"serve", "serve [--addr HOST:PORT]   run the service", runServe},
		{"migrate", "migrate                   create or upgrade the database schema and exit", runMigrate},
		{"apikey", "apikey create --role platform|reviewer|unit [--jurisdiction J] [--unit ID] [--name N] [--expires 720h|YYYY-MM-DD] | apikey list | apikey revoke ID", runAPIKey},
		{"demo", "demo                      create a demo unit, filing, seal and certificate", runDemo},
		{"verify-pdf", "verify-pdf FILE           check a certificate PDF offline", runVerifyPDF},
		{"audit", "audit verify              walk the audit chain and name the first broken event", runAudit},
		{"archive", "archive export --unit ID --out DIR | archive verify DIR   keep or check a unit's 10-year record", runArchive},
		{"batch", "batch submit --server URL --key KEY --unit ID FILE   submit a CSV/XLSX batch and follow it", runBatch},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	env := &cliEnv{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	err := dispatch(ctx, env, os.Args[1:])
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "certseal:", err)
		}
		os.Exit(1)
	}
}

func dispatch(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) > 0 {
		for _, c := range commands() {
			if c.name == args[0] {
				return c.run(ctx, env, args[1:])
			}
		}
	}
	fmt.Fprintln(env.stderr, "usage: certseal COMMAND [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintln(env.stderr, "  "+c.usage)
	}
	fmt.Fprintln(env.stderr, "\nCommands that open the data take --data DIR (CERTSEAL_DATA_DIR) and the other settings; see certseal serve -h.")
	if len(args) == 0 {
		return errors.New("no command given")
	}
	return fmt.Errorf("unknown command %q", args[0])
}
