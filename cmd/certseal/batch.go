package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
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
		return usageErr("batch")
	}
	var (
		unit          int64
		idem, numbers string
		every         time.Duration
	)
	extra := func(fs *flag.FlagSet) {
		fs.Int64Var(&unit, "unit", 0, "unit id (a unit key implies its own)")
		fs.StringVar(&idem, "idempotency-key", "", "resubmitting with the same key answers the same batch (default: from the file's content, so a changed file is a new batch)")
		fs.DurationVar(&every, "every", 500*time.Millisecond, "how often to ask for progress")
		fs.StringVar(&numbers, "numbers", "", "when done, write every row's certificate number (CSV: row, number, state, error) to this file")
	}
	client, fs, err := config.ParseClient("certseal batch submit", args[1:], env.getenv, env.stdout, extra, synopsisOf("batch submit")...)
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageErr("batch submit")
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
	c := &apiClient{base: strings.TrimRight(client.Server, "/"), key: client.APIKey}
	url := "/api/v1/certificate-batches"
	if unit != 0 {
		url += fmt.Sprintf("?unit_id=%d", unit)
	}
	if idem == "" {
		// The content decides: the same file again is the same batch, a
		// corrected one (or the same for another unit) a new batch.
		h := sha256.New()
		fmt.Fprintf(h, "%s\n", url)
		h.Write(body)
		idem = "batch-" + hex.EncodeToString(h.Sum(nil)[:16])
	}
	var batch batchStatus
	status, raw, err := c.do(ctx, "POST", url, ctype, body, map[string]string{"Idempotency-Key": idem}, &batch)
	if err != nil {
		return err
	}
	if status == http.StatusConflict && problemCode(raw) == "idempotency_mismatch" {
		return fmt.Errorf("the idempotency key %q was used for another submission: give this one its own --idempotency-key (without the flag the key follows the file's content)", idem)
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
		case <-time.After(every):
		}
		if _, _, err := c.do(ctx, "GET", fmt.Sprintf("/api/v1/certificate-batches/%d", batch.ID), "", nil, nil, &batch); err != nil {
			return err
		}
		fmt.Fprint(env.stderr, "\r"+progressBar(batch.Issued+batch.Failed, batch.Total, 40)+fmt.Sprintf(" issued %d, failed %d", batch.Issued, batch.Failed))
	}
	fmt.Fprintln(env.stderr)
	fmt.Fprintf(env.stdout, "batch %d done: %d issued, %d failed of %d\n", batch.ID, batch.Issued, batch.Failed, batch.Total)
	if batch.Failed == 0 && numbers == "" {
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
	if numbers != "" {
		var out bytes.Buffer
		w := csv.NewWriter(&out)
		w.Write([]string{"行号 row", "证书编号 number", "状态 state", "说明 error"})
		for _, r := range rows.Items {
			w.Write([]string{strconv.Itoa(r.Row), r.Number, r.State, r.Error})
		}
		w.Flush()
		if err := os.WriteFile(numbers, out.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "row numbers: %s\n", numbers)
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

// problemCode is the code of a problem+json answer, if it is one.
func problemCode(raw []byte) string {
	var p struct {
		Code string `json:"code"`
	}
	json.Unmarshal(raw, &p)
	return p.Code
}

type apiClient struct{ base, key string }

func (c *apiClient) do(ctx context.Context, method, path, ctype string, body []byte, headers map[string]string, out any) (int, []byte, error) {
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
