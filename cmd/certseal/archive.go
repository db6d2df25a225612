package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/certseal/certseal/internal/archive"
)

// runArchive exports a unit's complete record for the 10-year retention,
// or checks an exported directory offline.
func runArchive(ctx context.Context, env *cliEnv, args []string) error {
	usage := errors.New("usage: certseal archive export --unit ID --out DIR | certseal archive verify DIR")
	if len(args) == 0 {
		return usage
	}
	progress := func(what string) { fmt.Fprintln(env.stderr, what) }
	switch args[0] {
	case "export":
		var unitID int64
		var out string
		extra := func(fs *flagSet) {
			fs.Int64Var(&unitID, "unit", 0, "the unit to export")
			fs.StringVar(&out, "out", "", "a new, empty directory")
		}
		return withApp(ctx, env, "archive export", false, args[1:], extra, func(a *app, _ *flagSet) error {
			if unitID <= 0 || out == "" {
				return usage
			}
			m, err := archive.Export(ctx, a.store, unitID, out, progress)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "archived unit %d (%s): %d files in %s\n", m.UnitID, m.USCC, len(m.Files), out)
			return nil
		})
	case "verify":
		if len(args) != 2 {
			return usage
		}
		problems, err := archive.Verify(args[1], progress)
		if err != nil {
			return err
		}
		for _, p := range problems {
			fmt.Fprintln(env.stdout, p)
		}
		if len(problems) > 0 {
			return fmt.Errorf("archive %s: %d problems", args[1], len(problems))
		}
		fmt.Fprintf(env.stdout, "archive %s is intact\n", args[1])
		return nil
	}
	return usage
}
