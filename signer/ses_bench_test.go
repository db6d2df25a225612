package signer

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/certseal/certseal/keys"
	"github.com/certseal/certseal/registry"
)

// twinTx keeps the twin a seal approval records.
type twinTx struct {
	registry.Tx
	twin *registry.SM2Seal
}

func (t *twinTx) CreateSM2Seal(_ context.Context, s *registry.SM2Seal) error { t.twin = s; return nil }

// BenchmarkSESSign is what the 国密 twin adds to one certificate: SM3 over
// the whole signed PDF (a real rendered one), the SM2 signature, and with
// "tsa" the in-process time-stamp over the signature value. Compare with
// BenchmarkRenderSign in the same run:
//
//	go test ./signer -run '^$' -bench 'SESSign|RenderSign$' -count 5
func BenchmarkSESSign(b *testing.B) {
	ctx := context.Background()
	now := time.Now()
	dir := b.TempDir()
	ca, err := keys.LoadOrCreateDevCA(filepath.Join(dir, "pki"), nil, now)
	if err != nil {
		b.Fatal(err)
	}
	sm2CA, err := keys.LoadOrCreateDevSM2CA(filepath.Join(dir, "pki"), nil, now)
	if err != nil {
		b.Fatal(err)
	}
	kek, err := keys.LoadOrCreateKEK(filepath.Join(dir, "kek"), nil)
	if err != nil {
		b.Fatal(err)
	}
	km := keys.NewSoftwareKeys(kek)
	tsa, err := keys.OpenTSA(filepath.Join(dir, "tsa.crt"), filepath.Join(dir, "tsa.key"), ca, "http://127.0.0.1:1", true, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	unit := registry.Unit{ID: 1, Name: "威海示范大学", USCC: "12371000494360979J"}
	seal := registry.Seal{ID: 1, UnitID: 1, Version: 1, State: registry.SealActive, ImprintPNG: []byte("png")}
	tx := &twinTx{}
	if err := (&keys.SM2Twin{CA: sm2CA, Keys: km, WidthMM: 42, HeightMM: 42}).AddSeal(ctx, tx, unit, seal, now); err != nil {
		b.Fatal(err)
	}
	_, pdf := renderSample(b)
	b.Logf("PDF of %d bytes", len(pdf))
	st := stamp{seal: seal, twin: tx.twin}
	for _, tt := range []struct {
		name string
		tsa  Timestamper
	}{{"sm3+sm2", nil}, {"sm3+sm2+tsa", tsa}} {
		b.Run(tt.name, func(b *testing.B) {
			is := &Issuer{sm2: km, tsa: tt.tsa}
			reportQuantiles(b, func() error {
				_, err := is.sesSign(ctx, st, pdf, "372026000000013", 1, now)
				return err
			})
		})
	}
}
