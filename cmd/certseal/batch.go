package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/certseal/certseal/internal/config"
)

// runBatch submits a CSV or XLSX file of appointments to a running
// certseal and shows a progress bar until the batch is done.
func runBatch(ctx context.Context, env *cliEnv, args []string) error {
	if len(args) == 0 || args[0] != "submit" {
		return errors.New("usage: certseal batch submit --server URL --key KEY [--unit ID] FILE")
	}
	fs := flag.NewFlagSet("certseal batch submit", flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	server := fs.String("server", env.getenv("CERTSEAL_SERVER"), "certseal address (CERTSEAL_SERVER)")
	key := new(string)
	config.SecretVar(fs, key, "key", env.getenv("CERTSEAL_API_KEY"), "API key of the unit or the platform (CERTSEAL_API_KEY)")
	unit := fs.Int64("unit", 0, "unit id (a unit key implies its own)")
	idem := fs.String("idempotency-key", "", "resubmitting with the same key answers the same batch (default: the file's name and size)")
	every := fs.Duration("every", 500*time.Millisecond, "how often to ask for progress")
	numbers := fs.String("numbers", "", "when done, write every row's certificate number (CSV: row, number, state, error) to this file")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 || *server == "" || *key == "" {
		return errors.New("usage: certseal batch submit --server URL --key KEY [--unit ID] FILE")
	}
	path := fs.Arg(0)
	body, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	ctype := map[string]string{".csv": "text/csv", ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
		".json": "application/json"}[strings.ToLower(filepath.Ext(path))]
	if ctype == "" {
		return fmt.Errorf("%s: want a .csv, .xlsx or .json file", path)
	}
	if *idem == "" {
		*idem = fmt.Sprintf("batch-%s-%d", filepath.Base(path), len(body))
	}
	c := &client{base: strings.TrimRight(*server, "/"), key: *key}
	url := "/api/v1/certificate-batches"
	if *unit != 0 {
		url += fmt.Sprintf("?unit_id=%d", *unit)
	}
	var batch batchStatus
	status, raw, err := c.do(ctx, "POST", url, ctype, body, map[string]string{"Idempotency-Key": *idem}, &batch)
	if err != nil {
		return err
	}
	if status != http.StatusAccepted {
		return rowErrors(env, status, raw)
	}
	fmt.Fprintf(env.stderr, "batch %d: %d rows\n", batch.ID, batch.Total)
	for batch.State != "done" {
		select {
		case <-ctx.Done():
			fmt.Fprintf(env.stderr, "\nstopped watching; the batch goes on (GET /api/v1/certificate-batches/%d)\n", batch.ID)
			return ctx.Err()
		case <-time.After(*every):
		}
		if _, _, err := c.do(ctx, "GET", fmt.Sprintf("/api/v1/certificate-batches/%d", batch.ID), "", nil, nil, &batch); err != nil {
			return err
		}
		fmt.Fprint(env.stderr, "\r"+progressBar(batch.Issued+batch.Failed, batch.Total, 40)+fmt.Sprintf(" issued %d, failed %d", batch.Issued, batch.Failed))
	}
	fmt.Fprintln(env.stderr)
	fmt.Fprintf(env.stdout, "batch %d done: %d issued, %d failed of %d\n", batch.ID, batch.Issued, batch.Failed, batch.Total)
	if batch.Failed == 0 && *numbers == "" {
		return nil
	}
	var rows struct {
		Items []struct {
			Row    int    `json:"row"`
			State  string `json:"state"`
			Number string `json:"number"`
			Error  string `json:"error"`
		} `json:"items"`
	}
	if _, _, err := c.do(ctx, "GET", fmt.Sprintf("/api/v1/certificate-batches/%d/rows", batch.ID), "", nil, nil, &rows); err != nil {
		return err
	}
	if *numbers != "" {
		var out bytes.Buffer
		w := csv.NewWriter(&out)
		w.Write([]string{"行号 row", "证书编号 number", "状态 state", "说明 error"})
		for _, r := range rows.Items {
			w.Write([]string{strconv.Itoa(r.Row), r.Number, r.State, r.Error})
		}
		w.Flush()
		if err := os.WriteFile(*numbers, out.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "row numbers: %s\n", *numbers)
	}
	for _, r := range rows.Items {
		if r.State == "failed" {
			fmt.Fprintf(env.stdout, "  row %d: %s\n", r.Row, r.Error)
		}
	}
	if batch.Failed > 0 {
		return fmt.Errorf("%d rows failed", batch.Failed)
	}
	return nil
}

type batchStatus struct {
	ID     int64  `json:"id"`
	State  string `json:"state"`
	Total  int    `json:"total"`
	Issued int    `json:"issued"`
	Failed int    `json:"failed"`
}

func progressBar(done, total, width int) string {
	if total <= 0 {
		total = 1
	}
	n := min(width, done*width/total)
	return fmt.Sprintf("[%s%s] %3d%%", strings.Repeat("#", n), strings.Repeat(".", width-n), done*100/total)
}

// rowErrors prints why a batch was refused: every invalid row, or the problem.
func rowErrors(env *cliEnv, status int, raw []byte) error {
	var p struct {
		Title  string `json:"title"`
		Detail string `json:"detail"`
		Errors []struct {
			Row    int    `json:"row"`
			Column string `json:"column"`
			Reason string `json:"reason"`
		} `json:"errors"`
	}
	if json.Unmarshal(raw, &p) != nil {
		return fmt.Errorf("server answered %d: %s", status, raw)
	}
	for _, e := range p.Errors {
		fmt.Fprintf(env.stdout, "  row %d, column %s: %s\n", e.Row, e.Column, e.Reason)
	}
	return fmt.Errorf("batch refused (%d): %s %s", status, p.Title, p.Detail)
}

type client struct{ base, key string }

func (c *client) do(ctx context.Context, method, path, ctype string, body []byte, headers map[string]string, out any) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	if resp.StatusCode < 300 && out != nil {
		return resp.StatusCode, raw, json.Unmarshal(raw, out)
	}
	if resp.StatusCode >= 300 && method == "GET" {
		return resp.StatusCode, raw, fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, raw, nil
}
