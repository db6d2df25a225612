package verify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
	"github.com/emmansun/gmsm/sm3"

	"github.com/certseal/certseal/keys"
	"github.com/certseal/certseal/keys/ses"
	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/sqlite"
	"github.com/certseal/certseal/registry/storetest"
)

// sesCase is one seal signature over a file, and what became of its seal.
type sesCase struct {
	name      string
	stamped   bool
	unknown   bool                         // the registry does not know the seal's twin
	otherCA   bool                         // the service trusts another SM2 CA
	signedAt  time.Duration                // timeInfo, from now
	change    func(s *registry.Seal) error // what happened to the seal after signing
	data      func(pdf []byte) []byte      // the file checked
	corrupt   func(der []byte) []byte      // what reached the verifier
	wantValid bool
	wantWords string
}

func TestCheckSES(t *testing.T) {
	now := time.Now()
	dir := t.TempDir()
	ca, err := keys.LoadOrCreateDevCA(filepath.Join(dir, "pki"), nil, now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	sm2CA, err := keys.LoadOrCreateDevSM2CA(filepath.Join(dir, "pki"), nil, now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	otherSM2, err := keys.LoadOrCreateDevSM2CA(filepath.Join(dir, "other"), nil, now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	tsa, err := keys.OpenTSA(filepath.Join(dir, "tsa.crt"), filepath.Join(dir, "tsa.key"), ca, "https://zc.example.cn", true, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	kek, err := keys.LoadOrCreateKEK(filepath.Join(dir, "kek"), nil)
	if err != nil {
		t.Fatal(err)
	}
	km := keys.NewSoftwareKeys(kek)
	pdf := []byte("%PDF-1.7 a signed certificate\n%%EOF\n")
	revokeAt := func(reason registry.RevocationReason, since *time.Time) func(s *registry.Seal) error {
		return func(s *registry.Seal) error { return registry.RevokeSeal(s, reason, since, time.Now()) }
	}
	long := now.Add(-time.Hour)
	for _, tt := range []sesCase{
		{name: "valid, time-stamped", stamped: true, wantValid: true},
		{name: "valid, no time-stamp", wantValid: true},
		{name: "another file", stamped: true, data: func(b []byte) []byte { return append(b, ' ') }, wantWords: "SM3"},
		{name: "changed signature value", corrupt: func(b []byte) []byte { b[len(b)-3] ^= 1; return b }, wantWords: "验证失败"},
		{name: "not DER", corrupt: func(b []byte) []byte { return b[:len(b)/2] }, wantWords: "GB/T 38540"},
		{name: "seal unknown to the registry", unknown: true, wantWords: "登记"},
		{name: "another platform's SM2 CA", otherCA: true, wantWords: "国密 CA"},
		{name: "seal ceased after a time-stamped signature", stamped: true, change: revokeAt(registry.ReasonCessationOfOperation, nil), wantValid: true},
		{name: "seal superseded after signing", change: func(s *registry.Seal) error { return registry.SupersedeSeal(s, time.Now()) }, wantValid: true},
		{name: "seal revoked, nothing proves the time", change: revokeAt(registry.ReasonCessationOfOperation, nil), wantWords: "注销"},
		{name: "key suspected before the time-stamp", stamped: true, change: revokeAt(registry.ReasonKeyCompromise, &long), wantWords: "注销"},
		{name: "signed before the seal existed", signedAt: -48 * time.Hour, wantWords: "国密根证书"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"), storetest.PII())
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			unit := registry.Unit{Name: "威海示范大学", USCC: "12371000494360979J", Jurisdiction: "威海市", CreatedAt: now}
			seal := registry.Seal{Version: 1, State: registry.SealActive, ImprintPNG: []byte("png"), KeyBlob: []byte("k"),
				CertDER: []byte("d"), Serial: "s1", CreatedAt: now.Add(-time.Minute)}
			var twin *registry.SM2Seal
			rec := &twinRecorder{}
			err = store.InTx(ctx, func(tx registry.Tx) error {
				if err := tx.CreateUnit(ctx, &unit); err != nil {
					return err
				}
				seal.UnitID = unit.ID
				if err := tx.CreateSeal(ctx, &seal); err != nil {
					return err
				}
				maker := &keys.SM2Twin{CA: sm2CA, Keys: km, WidthMM: 42, HeightMM: 42}
				if tt.unknown {
					rec.Tx = tx
					return maker.AddSeal(ctx, rec, unit, seal, now.Add(-time.Minute))
				}
				if err := maker.AddSeal(ctx, tx, unit, seal, now.Add(-time.Minute)); err != nil {
					return err
				}
				t, err := tx.SM2Seal(ctx, seal.ID)
				twin = &t
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if tt.unknown {
				twin = rec.twin
			}
			key, err := km.SM2Signer(ctx, seal, *twin)
			if err != nil {
				t.Fatal(err)
			}
			hash := sm3.Sum(pdf)
			p := ses.SignParams{Time: now.Add(tt.signedAt), DataHash: hash[:], Property: "p"}
			if tt.stamped {
				p.Stamp = func(sig []byte) ([]byte, error) { return stampOf(ctx, tsa, sig) }
			}
			der, err := ses.Sign(twin.SESSeal, twin.CertDER, key, p)
			if err != nil {
				t.Fatal(err)
			}
			if tt.change != nil {
				time.Sleep(10 * time.Millisecond) // the change comes after the signature
				err := store.InTx(ctx, func(tx registry.Tx) error {
					s, err := tx.Seal(ctx, seal.ID, registry.LockUpdate)
					if err != nil {
						return err
					}
					if err := tt.change(&s); err != nil {
						return err
					}
					return tx.UpdateSeal(ctx, &s)
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			svc, err := NewService(store, NewCached(&mapCache{m: map[string][]byte{}}, CachedOptions{}), "https://zc.example.cn", PDFTrust{}, time.Now)
			if err != nil {
				t.Fatal(err)
			}
			svc.SES = SESTrust{CA: sm2CA, Timestamps: keys.TimestampTrust{Roots: []*x509.Certificate{ca.Root()}, Intermediates: []*x509.Certificate{ca.Issuing()}}}
			if tt.otherCA {
				svc.SES.CA = otherSM2
			}
			data := pdf
			if tt.data != nil {
				data = tt.data(append([]byte(nil), pdf...))
			}
			if tt.corrupt != nil {
				der = tt.corrupt(der)
			}
			v, err := svc.CheckSES(ctx, der, data)
			if err != nil {
				t.Fatal(err)
			}
			if v.Valid != tt.wantValid || (v.Status == SESValid) != tt.wantValid || !strings.Contains(v.Reason, tt.wantWords) {
				t.Errorf("verdict %+v, want valid %v with %q", v, tt.wantValid, tt.wantWords)
			}
			if tt.stamped && tt.wantValid && v.Timestamp.IsZero() {
				t.Error("the time-stamp is not reported")
			}
		})
	}
}

// twinRecorder makes a twin the registry never sees.
type twinRecorder struct {
	registry.Tx
	twin *registry.SM2Seal
}

func (r *twinRecorder) CreateSM2Seal(_ context.Context, t *registry.SM2Seal) error {
	r.twin = t
	return nil
}

// stampOf is the in-process TSA's token over data.
func stampOf(ctx context.Context, tsa *keys.TSA, data []byte) ([]byte, error) {
	req, err := timestamp.CreateRequest(bytes.NewReader(data), &timestamp.RequestOptions{Hash: crypto.SHA256, Certificates: true})
	if err != nil {
		return nil, err
	}
	resp, err := tsa.Stamp(ctx, req)
	if err != nil {
		return nil, err
	}
	ts, err := timestamp.ParseResponse(resp)
	if err != nil {
		return nil, err
	}
	return ts.RawToken, nil
}
