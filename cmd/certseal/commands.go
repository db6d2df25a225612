package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/certseal/certseal/internal/api"
	"github.com/certseal/certseal/internal/config"
	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/access"
	"github.com/certseal/certseal/registry/audit"
	"github.com/certseal/certseal/verify"
	"github.com/certseal/certseal/verify/memcache"
)

type flagSet = flag.FlagSet

// withApp parses the common settings, opens the app, runs fn and closes,
// for a command that takes no operands: a stray word would end flag
// parsing and silently drop the flags after it. Only a command that may
// start a new installation passes create.
func withApp(ctx context.Context, env *cliEnv, name string, create bool, args []string, extra func(*flagSet), fn func(*app, *flagSet) error) error {
	return withAppOperands(ctx, env, name, create, args, extra, 0, fn)
}

// withAppOperands is withApp for a command that takes exactly operands
// arguments after its flags (any number if negative): a wrong count is a
// usage error before anything is opened.
func withAppOperands(ctx context.Context, env *cliEnv, name string, create bool, args []string, extra func(*flagSet), operands int,
	fn func(*app, *flagSet) error) error {
	cfg, fs, err := config.Parse("certseal "+name, args, env.getenv, env.stdout, extra, synopsisOf(name)...)
	if err != nil {
		return err
	}
	if operands >= 0 && fs.NArg() != operands {
		return usageErr(name)
	}
	a, err := openApp(ctx, cfg, cfg.Logger(env.stderr), create)
	if errors.Is(err, iofs.ErrNotExist) && !create {
		return fmt.Errorf("%w; certseal %s works on an existing installation: point --data (CERTSEAL_DATA_DIR), or --database-url and --kek-file, at the service's (certseal serve starts a new one)", err, name)
	}
	if err != nil {
		return err
	}
	defer a.Close()
	return fn(a, fs)
}

func runMigrate(ctx context.Context, env *cliEnv, args []string) error {
	var appRole string
	extra := func(fs *flagSet) {
		fs.StringVar(&appRole, "grant-app-role", "", "PostgreSQL: let this role run certseal serve without owning the schema (no DELETE anywhere; UPDATE of state columns only)")
	}
	return withApp(ctx, env, "migrate", true, args, extra, func(a *app, _ *flagSet) error {
		fmt.Fprintln(env.stderr, "database schema is up to date")
		if appRole == "" {
			return nil
		}
		g, ok := a.store.(interface {
			GrantAppRole(ctx context.Context, role string) error
		})
		if !ok {
			return errors.New("-grant-app-role is for PostgreSQL (CERTSEAL_DATABASE_URL)")
		}
		if err := g.GrantAppRole(ctx, appRole); err != nil {
			return err
		}
		fmt.Fprintf(env.stderr, "granted role %s what certseal serve needs: no DELETE, UPDATE of state columns only\n", appRole)
		return nil
	})
}

// runAPIKey creates, lists and revokes API keys. create prints the key
// alone on stdout, so scripts can capture it: KEY=$(certseal apikey create
// --role platform).
func runAPIKey(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 {
		return usageErr("apikey")
	}
	switch args[0] {
	case "create":
		return runAPIKeyCreate(ctx, env, args[1:])
	case "list":
		return withAppOperands(ctx, env, "apikey list", false, args[1:], nil, 0, func(a *app, _ *flagSet) error {
			return listAPIKeys(ctx, env.stdout, a.store, time.Now())
		})
	case "revoke":
		var withCreated bool
		extra := func(fs *flagSet) {
			fs.BoolVar(&withCreated, "with-created", false, "also revoke the keys this key made over the API, and theirs (for a leaked platform key)")
		}
		return withAppOperands(ctx, env, "apikey revoke", false, args[1:], extra, 1, func(a *app, fs *flagSet) error {
			id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
			if err != nil || id <= 0 {
				return usageErr("apikey revoke")
			}
			revoked, err := access.Revoke(ctx, a.store, id, registry.Caller{Actor: "operator"}, time.Now(), withCreated)
			if err != nil {
				return err
			}
			for i, k := range revoked {
				how := "revoked"
				if i > 0 {
					how = fmt.Sprintf("revoked with it (made by %s)", k.CreatedBy)
				}
				fmt.Fprintf(env.stderr, "API key %d (%s) %s: every replica refuses it from its next request\n", k.ID, k.Role, how)
			}
			return nil
		})
	}
	return usageErr("apikey")
}

func runAPIKeyCreate(ctx context.Context, env *cliEnv, args []string) error {
	var role, jurisdiction, name, expires string
	var unitID int64
	extra := func(fs *flagSet) {
		fs.StringVar(&role, "role", "", "platform, reviewer or unit")
		fs.StringVar(&jurisdiction, "jurisdiction", "", "a reviewer's jurisdiction (city HR bureau or department)")
		fs.Int64Var(&unitID, "unit", 0, "a unit key's unit id")
		fs.StringVar(&name, "name", "", "a note on who holds the key")
		fs.StringVar(&expires, "expires", "", "when the key stops working: a duration from now (720h) or a day (YYYY-MM-DD, from its start in China time); empty: until revoked")
	}
	return withApp(ctx, env, "apikey create", false, args, extra, func(a *app, _ *flagSet) error {
		now := time.Now()
		k := registry.APIKey{Role: registry.Role(role), Jurisdiction: jurisdiction, UnitID: unitID, Name: name}
		if expires != "" {
			at, err := parseExpiry(expires, now)
			if err != nil {
				return err
			}
			k.ExpiresAt = &at
		}
		key, made, err := api.CreateAPIKey(ctx, a.store, k, "operator", "", now)
		if err != nil {
			return err
		}
		fmt.Fprintln(env.stdout, key)
		fmt.Fprintf(env.stderr, "API key %d made (%s); certseal apikey revoke %d stops it\n", made.ID, made.Role, made.ID)
		return nil
	})
}

// parseExpiry reads --expires: a duration from now or a calendar day.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(d), nil
	}
	day, err := registry.ParseDate(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--expires %q: want a duration such as 720h or a day YYYY-MM-DD", s)
	}
	return day.Time(), nil
}

// listAPIKeys prints every key, revoked and expired ones too, with its
// scope and history; the secret is not stored, so it cannot be shown.
func listAPIKeys(ctx context.Context, w io.Writer, store registry.Store, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tROLE\tSCOPE\tNAME\tCREATED (UTC+8)\tBY\tLAST USED\tEXPIRES\tSTATE")
	when := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.In(registry.ChinaTZ).Format("2006-01-02 15:04")
	}
	var all []registry.APIKey
	err := store.View(ctx, func(tx registry.Tx) (err error) {
		all, err = access.All(ctx, tx)
		return err
	})
	if err != nil {
		return err
	}
	for _, k := range all {
		scope := "-"
		switch k.Role {
		case registry.RoleReviewer:
			scope = k.Jurisdiction
		case registry.RoleUnit:
			scope = "unit " + strconv.FormatInt(k.UnitID, 10)
		}
		state := string(k.StateOn(now))
		if k.RevokedAt != nil {
			state += " " + when(k.RevokedAt) + " by " + k.RevokedBy
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Role, scope, orDash(k.Name), when(&k.CreatedAt), orDash(k.CreatedBy),
			when(k.LastUsedAt), when(k.ExpiresAt), state)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// runAudit walks the whole audit chain and names the first event that was
// altered or removed; with --head, also whether the trail still holds the
// head recorded at an earlier run (the chain alone cannot show that its
// newest events were removed).
func runAudit(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 || args[0] != "verify" {
		return usageErr("audit")
	}
	var recorded string
	extra := func(fs *flagSet) {
		fs.StringVar(&recorded, "head", "", "the head an earlier audit verify printed (SEQ:HASH): check the trail still holds it")
	}
	return withApp(ctx, env, "audit verify", false, args[1:], extra, func(a *app, _ *flagSet) error {
		var want audit.Head
		if recorded != "" {
			var err error
			if want, err = audit.ParseHead(recorded); err != nil {
				return err
			}
		}
		head, err := audit.Walk(ctx, a.auditEvents, func(n int64) {
			if n > 0 && n%100000 == 0 {
				fmt.Fprintf(env.stderr, "… %d events verified\n", n)
			}
		}, want)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "audit chain intact: %d events verified\nhead %s (keep it apart; audit verify --head %s later shows that nothing up to it was removed or rewritten)\n",
			head.Seq, head, head)
		return nil
	})
}

// runVerifyPDF gives the same verdict as POST /v/pdf, offline, against the
// local data directory or database.
func runVerifyPDF(ctx context.Context, env *cliEnv, args []string) error {
	var asJSON bool
	var sesFile string
	extra := func(fs *flagSet) {
		fs.BoolVar(&asJSON, "json", false, "print the verdict as JSON")
		fs.StringVar(&sesFile, "ses", "", "also check this GB/T 38540 seal signature (.ses, from /v/{number}/ses) over the PDF")
	}
	var verdict verify.UploadAnswer
	err := withAppOperands(ctx, env, "verify-pdf", false, args, extra, 1, func(a *app, fs *flagSet) error {
		pdf, err := os.ReadFile(fs.Arg(0))
		if err != nil {
			return err
		}
		trust := a.pdfTrust()
		cached := verify.NewCached(memcache.New(memcache.Options{}), verify.CachedOptions{Logger: a.log})
		svc, err := verify.NewService(a.store, cached, a.cfg.BaseURL, trust, time.Now)
		if err != nil {
			return err
		}
		svc.SES = a.sesTrust()
		if verdict, err = svc.CheckUpload(ctx, pdf); err != nil {
			return err
		}
		if err := checkSESFile(ctx, svc, sesFile, pdf, &verdict); err != nil {
			return err
		}
		if asJSON {
			enc := json.NewEncoder(env.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(verdict)
		}
		fmt.Fprintln(env.stdout, strings.TrimSpace(verdict.Indication+" "+verdict.SubIndication))
		fmt.Fprintln(env.stdout, verdict.Message)
		if verdict.Detail != "" {
			fmt.Fprintln(env.stdout, verdict.Detail)
		}
		switch verdict.TimestampStatus {
		case verify.TimestampValid:
			fmt.Fprintf(env.stdout, "timestamp: valid, signed by %s at the latest\n", verdict.Timestamp.Format(time.RFC3339))
		case verify.TimestampNone, verify.TimestampInvalid:
			fmt.Fprintf(env.stdout, "timestamp: %s\n", verdict.TimestampStatus)
		}
		if c := verdict.Certificate; c != nil {
			fmt.Fprintf(env.stdout, "certificate %s version %d: %s (%s), %s, seal version %d\n", c.Number, c.Version, c.StatusText, c.Status, c.Unit, c.SealVersion)
		}
		printSES(env.stdout, verdict.SES)
		return nil
	})
	if err == nil && verdict.Indication != verify.Passed {
		return fmt.Errorf("the PDF did not pass: %s", verdict.SubIndication)
	}
	if err == nil && verdict.SES != nil && !verdict.SES.Valid {
		return fmt.Errorf("the 国密 seal signature is not valid: %s", verdict.SES.Reason)
	}
	return err
}
