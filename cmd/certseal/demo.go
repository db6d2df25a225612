package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/certseal/certseal/internal/api"
	"github.com/certseal/certseal/registry"
)

//go:embed demodata/seal.png
var demoSeal []byte

//go:embed demodata/photo.jpg
var demoPhoto []byte

const (
	demoUSCC         = "12371000494360979B"
	demoJurisdiction = "威海市"
	demoSeries       = "高校教师"
)

// runDemo walks the whole lifecycle through the real API handlers, as the
// platform, a reviewer and a unit would, and prints the certificate's PDF
// path and verification address. Run again, it reuses the unit, filing
// and seal and issues one more certificate.
func runDemo(ctx context.Context, env *cliEnv, args []string) error {
	return withApp(ctx, env, "demo", true, args, nil, func(a *app, _ *flagSet) error {
		if err := a.checkKeys(ctx); err != nil {
			return err
		}
		svc, err := buildService(ctx, a)
		if err != nil {
			return err
		}
		defer svc.Close()
		d := &demo{ctx: ctx, a: a, h: svc.handler}
		if d.platform, err = createAPIKey(ctx, a.store, registry.APIKey{Role: registry.RolePlatform, Name: "demo platform"}); err != nil {
			return err
		}
		if d.reviewer, err = createAPIKey(ctx, a.store, registry.APIKey{Role: registry.RoleReviewer, Jurisdiction: demoJurisdiction, Name: "demo reviewer"}); err != nil {
			return err
		}
		return d.run(env)
	})
}

type demo struct {
	ctx                      context.Context
	a                        *app
	h                        http.Handler
	platform, reviewer, unit string
}

// call sends one request to the API in-process and decodes the answer.
func (d *demo) call(key, method, path string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req := httptest.NewRequestWithContext(d.ctx, method, path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	d.h.ServeHTTP(w, req)
	if w.Code >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, w.Code, w.Body.String())
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(w.Body.Bytes(), out)
}

func (d *demo) run(env *cliEnv) error {
	ctx := d.ctx
	var unit registry.Unit
	err := d.a.store.View(ctx, func(tx registry.Tx) (err error) {
		unit, err = tx.UnitByUSCC(ctx, demoUSCC)
		return err
	})
	if errors.Is(err, registry.ErrNotFound) {
		err = d.call(d.platform, "POST", "/api/v1/units", map[string]any{"name": "威海示范大学", "uscc": demoUSCC, "representative": "张三",
			"jurisdiction": demoJurisdiction, "address": "山东省威海市文化西路1号", "contact": "0631-5190962"}, &unit)
	}
	if err != nil {
		return err
	}
	if d.unit, err = createAPIKey(ctx, d.a.store, registry.APIKey{Role: registry.RoleUnit, UnitID: unit.ID, Name: "demo unit"}); err != nil {
		return err
	}
	var inForce []registry.Filing
	var active *registry.Seal
	var count int
	err = d.a.store.View(ctx, func(tx registry.Tx) error {
		var err error
		if inForce, err = tx.ListFilings(ctx, registry.FilingFilter{UnitID: unit.ID, Series: demoSeries, InForceOn: registry.Today(time.Now())}); err != nil {
			return err
		}
		all, err := tx.ListSeals(ctx, unit.ID)
		if err != nil {
			return err
		}
		active = registry.ActiveSeal(all)
		certs, err := tx.ListCertificates(ctx, registry.CertFilter{UnitID: unit.ID})
		count = len(certs)
		return err
	})
	if err != nil {
		return err
	}
	if len(inForce) == 0 {
		var f struct{ ID int64 }
		if err := d.call(d.unit, "POST", fmt.Sprintf("/api/v1/units/%d/filings", unit.ID), map[string]any{"series": demoSeries,
			"specialty": "", "office": "人事处", "contact": "李四 0631-5190828", "talent_count": 120, "appointed_last_3_years": []int{10, 12, 9}}, &f); err != nil {
			return err
		}
		if err := d.call(d.reviewer, "POST", fmt.Sprintf("/api/v1/filings/%d/review", f.ID), map[string]any{"decision": "approve", "opinion": "同意备案"}, nil); err != nil {
			return err
		}
	}
	if active == nil {
		var app struct{ ID int64 }
		if err := d.call(d.unit, "POST", fmt.Sprintf("/api/v1/units/%d/seal-applications", unit.ID), map[string]any{"kind": "new",
			"handler": map[string]string{"name": "赵六", "id_number": "370102198505050029", "mobile": "13512345678", "landline": "0631-5190962"},
			"address": "山东省威海市文化西路1号", "imprint_png": demoSeal, "declaration": true}, &app); err != nil {
			return err
		}
		if err := d.call(d.reviewer, "POST", fmt.Sprintf("/api/v1/seal-applications/%d/review", app.ID), map[string]any{"decision": "approve", "opinion": "同意"}, nil); err != nil {
			return err
		}
	}
	idNumber, err := demoIDNumber(count + 1)
	if err != nil {
		return err
	}
	var cert struct {
		Number    string `json:"number"`
		VerifyURL string `json:"verify_url"`
	}
	// Appointed today for three years, so the demo's page says 有效 in any
	// year and the certificate is neither late nor a backfill.
	today := registry.Today(time.Now())
	if err := d.call(d.unit, "POST", "/api/v1/certificates", map[string]any{"unit_id": unit.ID, "name": "王晓明", "gender": "男",
		"id_number": idNumber, "series": demoSeries, "specialty": "计算机科学与技术", "level": "副高级", "post": "副教授",
		"term_from": today.String(), "term_to": today.AddDate(3, 0, -1).String(), "committee": "威海示范大学高级职称评审委员会",
		"publication_number": fmt.Sprintf("威示大字〔%d〕8号", today.Year), "appointed_on": today.String(), "photo": demoPhoto}, &cert); err != nil {
		return err
	}
	var pdf []byte
	err = d.a.store.View(ctx, func(tx registry.Tx) (err error) {
		pdf, err = tx.CertificatePDF(ctx, cert.Number, 1)
		return err
	})
	if err != nil {
		return err
	}
	dir := filepath.Join(d.a.cfg.DataDir, "demo")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	path := filepath.Join(dir, cert.Number+".pdf")
	if err := os.WriteFile(path, pdf, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "certificate %s issued\npdf: %s\nverify: %s\n", cert.Number, path, cert.VerifyURL)
	fmt.Fprintf(env.stdout, "api keys (demo): platform %s\n                 reviewer %s\n                 unit     %s\n", d.platform, d.reviewer, d.unit)
	return nil
}

// demoIDNumber makes the n-th demo ID number: a male born 1980-01-01 in
// Jinan, with the check character found by the registry's own check.
func demoIDNumber(n int) (string, error) {
	base := fmt.Sprintf("37010219800101%03d", (2*n-1)%1000) // odd: male
	for _, c := range "0123456789X" {
		id := base + string(c)
		if _, _, err := registry.CheckIDNumber(id, registry.Male, registry.Today(time.Now())); err == nil {
			return id, nil
		}
	}
	return "", errors.New("demo: no valid ID number")
}

// createAPIKey stores a new key made by the operator and its audit event;
// it returns the key, which exists nowhere else.
func createAPIKey(ctx context.Context, store registry.Store, k registry.APIKey) (string, error) {
	key, _, err := api.CreateAPIKey(ctx, store, k, "operator", "", time.Now())
	return key, err
}
