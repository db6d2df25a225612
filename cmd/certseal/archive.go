package main

import (
	"context"
	"fmt"

	"github.com/certseal/certseal/internal/archive"
	"github.com/certseal/certseal/internal/config"
)

// runArchive exports a unit's complete record for the 10-year retention,
// or checks an exported directory offline.
func runArchive(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 {
		return usageErr("archive")
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
				return usageErr("archive export")
			}
			m, err := archive.Export(ctx, a.store, unitID, out, progress)
			if err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "archived unit %d (%s): %d files in %s\n", m.UnitID, m.USCC, len(m.Files), out)
			return nil
		})
	case "verify":
		fs, err := config.ParseOwn("certseal archive verify", args[1:], env.stdout, nil, synopsisOf("archive verify")...)
		if err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return usageErr("archive verify")
		}
		dir := fs.Arg(0)
		problems, err := archive.Verify(dir, progress)
		if err != nil {
			return err
		}
		for _, p := range problems {
			fmt.Fprintln(env.stdout, p)
		}
		if len(problems) > 0 {
			return fmt.Errorf("archive %s: %d problems", dir, len(problems))
		}
		fmt.Fprintf(env.stdout, "archive %s is intact\n", dir)
		return nil
	}
	return usageErr("archive")
}
