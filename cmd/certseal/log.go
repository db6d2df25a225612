package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/certseal/certseal/internal/config"
	"github.com/certseal/certseal/keys"
	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/audit"
)

// logKey opens the transparency log's key: the operator's file, or the
// one kept under DATA/pki sealed under the KEK (made with create, named
// after the public address).
func (a *app) logKey(create bool) (*keys.LogKey, error) {
	if a.cfg.LogKey != "" {
		return keys.OpenOperatorLogKey(a.cfg.LogKey)
	}
	origin, err := keys.LogOrigin(a.cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	return keys.OpenDevLogKey(a.cfg.DevLogKeyPath(), a.kek, origin, create, a.log)
}

// auditEvents pages the trail (audit.Fetch) for the commands that check it.
func (a *app) auditEvents(ctx context.Context, after int64, limit int) (evs []registry.AuditEvent, err error) {
	err = a.store.View(ctx, func(tx registry.Tx) error {
		evs, err = tx.AuditEvents(ctx, after, limit)
		return err
	})
	return evs, err
}

// runLog checks the log (verify) or makes an operator's log key (keygen).
func runLog(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 {
		return usageErr("log")
	}
	switch args[0] {
	case "verify":
		return runLogVerify(ctx, env, args[1:])
	case "keygen":
		return runLogKeygen(env, args[1:])
	case "monitor":
		return runLogMonitor(ctx, env, args[1:])
	}
	return usageErr("log")
}

// runLogVerify rebuilds the log from the audit events in the data
// directory or database, checks it is the stored tree and, with
// --checkpoint, that it still holds the tree of a checkpoint kept earlier;
// it names the first bad leaf.
func runLogVerify(ctx context.Context, env *cliEnv, args []string) error {
	var oldFile string
	extra := func(fs *flagSet) {
		fs.StringVar(&oldFile, "checkpoint", "", "a signed checkpoint kept earlier (GET /log/checkpoint): check the log still holds its tree")
	}
	return withApp(ctx, env, "log verify", false, args, extra, func(a *app, _ *flagSet) error {
		key, err := a.logKey(false)
		if err != nil {
			return err
		}
		var old audit.Checkpoint
		if oldFile != "" {
			msg, err := os.ReadFile(oldFile)
			if err != nil {
				return err
			}
			if old, err = audit.OpenCheckpoint(msg, key.Verifier()); err != nil {
				return fmt.Errorf("%s: %w", oldFile, err)
			}
		}
		read := func(ctx context.Context, idx []int64) (hs [][]byte, err error) {
			err = a.store.View(ctx, func(tx registry.Tx) error {
				hs, err = tx.LogHashes(ctx, idx)
				return err
			})
			return hs, err
		}
		rep, err := audit.VerifyLog(ctx, a.auditEvents, read, old, func(n int64) {
			if n > 0 && n%100000 == 0 {
				fmt.Fprintf(env.stderr, "… %d leaves verified\n", n)
			}
		})
		if err != nil {
			return err
		}
		now, err := audit.Checkpoint{Origin: key.Origin(), Size: rep.Size, Root: rep.Root}.Sign(key.Signer())
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "log intact: %d leaves verified, each its audit event's hash\n", rep.Size)
		if oldFile != "" {
			fmt.Fprintf(env.stdout, "the log holds the checkpoint of %d leaves in %s\n", old.Size, oldFile)
		}
		fmt.Fprintf(env.stdout, "checkpoint now (keep it apart; log verify --checkpoint FILE later shows the log still holds it):\n%s", now)
		return nil
	})
}

// runLogKeygen prints a new log key for origin: the private key alone on
// stdout (for CERTSEAL_LOG_KEY's file), the verifier key on stderr.
func runLogKeygen(env *cliEnv, args []string) error {
	fs, err := config.ParseOwn("certseal log keygen", args, env.stdout, nil, synopsisOf("log keygen")...)
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErr("log keygen")
	}
	skey, vkey, err := keys.GenerateLogKey(fs.Arg(0))
	if err != nil {
		return &config.UsageError{Err: fmt.Errorf("origin %q: %w", fs.Arg(0), err), Command: "certseal log keygen"}
	}
	fmt.Fprintln(env.stdout, skey)
	fmt.Fprintf(env.stderr, "verifier key (publish it; GET /log/key serves it): %s\n", vkey)
	return nil
}

// runLogMonitor checks a log over HTTP, as an auditor without the
// database does: the checkpoint served now is signed by the key given
// (never the one the server hands out), the leaves served make its tree,
// and the checkpoint kept earlier is a prefix of it.
func runLogMonitor(ctx context.Context, env *cliEnv, args []string) error {
	var server, vkey, oldFile string
	extra := func(fs *flagSet) {
		fs.StringVar(&server, "server", "", "the certseal to check, e.g. https://zc.example.gov.cn")
		fs.StringVar(&vkey, "verifier-key", "", "the log's verifier key, as GET /log/key served it when first trusted")
		fs.StringVar(&oldFile, "checkpoint", "", "a signed checkpoint kept earlier: check the log still holds its tree")
	}
	fs, err := config.ParseOwn("certseal log monitor", args, env.stdout, extra, synopsisOf("log monitor")...)
	if err != nil {
		return err
	}
	if fs.NArg() != 0 || server == "" || vkey == "" {
		return usageErr("log monitor")
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return &config.UsageError{Err: fmt.Errorf("--verifier-key: %w", err), Command: "certseal log monitor"}
	}
	var old audit.Checkpoint
	if oldFile != "" {
		msg, err := os.ReadFile(oldFile)
		if err != nil {
			return err
		}
		if old, err = audit.OpenCheckpoint(msg, v); err != nil {
			return fmt.Errorf("%s: %w", oldFile, err)
		}
	}
	base := strings.TrimRight(server, "/")
	signed, err := httpGet(ctx, base+"/log/checkpoint")
	if err != nil {
		return err
	}
	cur, err := audit.OpenCheckpoint(signed, v)
	if err != nil {
		return fmt.Errorf("the checkpoint %s serves: %w", base, err)
	}
	fetch := func(ctx context.Context, start int64) ([][]byte, error) {
		body, err := httpGet(ctx, fmt.Sprintf("%s/log/leaves?start=%d", base, start))
		if err != nil {
			return nil, err
		}
		var page struct {
			Leaves []struct {
				Index int64  `json:"index"`
				Data  []byte `json:"data"`
			} `json:"leaves"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return nil, fmt.Errorf("leaves from %d: %w", start, err)
		}
		out := make([][]byte, len(page.Leaves))
		for i, l := range page.Leaves {
			if l.Index != start+int64(i) {
				return nil, fmt.Errorf("leaves from %d: leaf %d is served as %d", start, start+int64(i), l.Index)
			}
			out[i] = l.Data
		}
		return out, nil
	}
	if err := audit.CheckLeaves(ctx, fetch, cur, old); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "log at %s intact: its %d leaves make the checkpoint it serves\n", base, cur.Size)
	if oldFile != "" {
		fmt.Fprintf(env.stdout, "the log holds the checkpoint of %d leaves in %s\n", old.Size, oldFile)
	}
	fmt.Fprintf(env.stdout, "checkpoint now (keep it apart):\n%s", signed)
	return nil
}

// httpGet fetches a log document; what the server sends is outside input,
// so its size is bounded (a page of 1000 leaves is about 70 KB).
func httpGet(ctx context.Context, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, nil
}
