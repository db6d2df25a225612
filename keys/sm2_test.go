package keys

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emmansun/gmsm/sm3"
	"github.com/emmansun/gmsm/smx509"

	"github.com/certseal/certseal/keys/ses"
	"github.com/certseal/certseal/registry"
)

// recordingTx is a transaction that keeps the twin it is given.
type recordingTx struct {
	registry.Tx
	twin *registry.SM2Seal
}

func (r *recordingTx) CreateSM2Seal(_ context.Context, t *registry.SM2Seal) error {
	r.twin = t
	return nil
}

func newTestSM2CA(t testing.TB, dir string, now time.Time) *SM2CA {
	t.Helper()
	ca, err := LoadOrCreateDevSM2CA(dir, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// A seal version's twin: an SM2 key sealed under the KEK, an SM2
// certificate chaining to the SM2 root, and an SES_Seal made by the SM2
// issuing CA that lists that certificate and signs with it.
func TestSM2TwinOfASeal(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	ca := newTestSM2CA(t, dir, now)
	if again := newTestSM2CA(t, dir, now); !bytes.Equal(again.Root().Raw, ca.Root().Raw) {
		t.Fatal("the second start made another SM2 root")
	}
	km := newTestKeys(t)
	seal := registry.Seal{ID: 4, UnitID: testUnit.ID, Version: 2, State: registry.SealActive, ImprintPNG: []byte("\x89PNG imprint")}
	tx := &recordingTx{}
	twin := &SM2Twin{CA: ca, Keys: km, WidthMM: 42, HeightMM: 42}
	if err := twin.AddSeal(context.Background(), tx, testUnit, seal, now); err != nil {
		t.Fatal(err)
	}
	got := tx.twin
	cert, err := smx509.ParseCertificate(got.CertDER)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.Verify(cert, now); err != nil {
		t.Errorf("SM2 seal certificate does not chain to the SM2 root: %v", err)
	}
	if SerialHex(cert.SerialNumber) != got.Serial || !strings.Contains(cert.Subject.CommonName, "职称专用章 v2") {
		t.Errorf("SM2 certificate serial %s subject %q", got.Serial, cert.Subject.CommonName)
	}
	s, err := ses.ParseSeal(got.SESSeal)
	if err != nil {
		t.Fatal(err)
	}
	maker, err := s.VerifyMaker()
	if err != nil || !bytes.Equal(maker.Raw, ca.Issuing().Raw) {
		t.Errorf("the seal's maker is not the SM2 issuing CA: %v", err)
	}
	p := s.Info.Property
	if s.Info.ESID != testUnit.USCC+"-2" || p.Name != testUnit.Name+"职称专用章" || p.Type != SESSealType ||
		!p.ValidStart.Equal(cert.NotBefore) || !p.ValidEnd.Equal(cert.NotAfter) || !bytes.Equal(p.CertList[0], got.CertDER) {
		t.Errorf("seal info %+v", s.Info)
	}
	if pic := s.Info.Picture; pic.Type != "png" || !bytes.Equal(pic.Data, seal.ImprintPNG) || pic.Width != 42 || pic.Height != 42 {
		t.Errorf("seal picture %+v", pic)
	}

	if err := CheckSM2Key(context.Background(), km, seal, *got); err != nil {
		t.Errorf("CheckSM2Key of a fresh twin: %v", err)
	}
	wrongSerial := *got
	wrongSerial.Serial = "1"
	if err := CheckSM2Key(context.Background(), km, seal, wrongSerial); err == nil {
		t.Error("CheckSM2Key passed a twin whose serial is not its certificate's")
	}
	otherKey := *got
	if _, otherKey.KeyBlob, err = km.GenerateSM2SealKey(context.Background(), seal.UnitID, seal.Version); err != nil {
		t.Fatal(err)
	}
	if err := CheckSM2Key(context.Background(), km, registry.Seal{ID: 5, UnitID: seal.UnitID, Version: seal.Version, State: registry.SealActive},
		registry.SM2Seal{SealID: 5, KeyBlob: otherKey.KeyBlob, CertDER: got.CertDER, Serial: got.Serial}); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("CheckSM2Key of another key: %v", err)
	}
	signer, err := km.SM2Signer(context.Background(), seal, *got)
	if err != nil {
		t.Fatal(err)
	}
	h := sm3.Sum([]byte("pdf"))
	der, err := ses.Sign(got.SESSeal, got.CertDER, signer, ses.SignParams{Time: now, DataHash: h[:], Property: "p"})
	if err != nil {
		t.Fatal(err)
	}
	sig, err := ses.ParseSignature(der)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := sig.Verify(); err != nil {
		t.Errorf("a seal signature by the twin's key does not verify: %v", err)
	}
}

// The twin's key is bound like the seal's other key, and is never taken
// for it; a seal that may not sign does not sign with its twin either.
func TestSM2SignerRefuses(t *testing.T) {
	km := newTestKeys(t)
	ctx := context.Background()
	seal := registry.Seal{ID: 4, UnitID: 7, Version: 2, State: registry.SealActive}
	_, blob, err := km.GenerateSM2SealKey(ctx, 7, 2)
	if err != nil {
		t.Fatal(err)
	}
	_, ecdsaBlob, err := km.GenerateSealKey(ctx, ECDSAP256, 7, 2)
	if err != nil {
		t.Fatal(err)
	}
	revoked := seal
	revoked.State = registry.SealRevoked
	other := seal
	other.Version = 3
	for _, tt := range []struct {
		name string
		seal registry.Seal
		twin registry.SM2Seal
		want error
	}{
		{"the PDF signing key as the SM2 key", seal, registry.SM2Seal{SealID: 4, KeyBlob: ecdsaBlob}, ErrCorruptBlob},
		{"another version's key", other, registry.SM2Seal{SealID: 4, KeyBlob: blob}, ErrForeignBlob},
		{"revoked seal", revoked, registry.SM2Seal{SealID: 4, KeyBlob: blob}, registry.ErrSealNotActive},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := km.SM2Signer(ctx, tt.seal, tt.twin); !errors.Is(err, tt.want) {
				t.Errorf("SM2Signer: %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := km.Signer(ctx, registry.Seal{ID: 4, UnitID: 7, Version: 2, State: registry.SealActive, KeyBlob: blob}); !errors.Is(err, ErrCorruptBlob) {
		t.Errorf("the SM2 key opened as the PDF signing key: %v", err)
	}
}

func TestLoadSM2CARefuses(t *testing.T) {
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	newTestSM2CA(t, dir, now)
	other := t.TempDir()
	newTestSM2CA(t, other, now)
	ecdsaDir := t.TempDir()
	if _, err := LoadOrCreateDevCA(ecdsaDir, nil, now); err != nil {
		t.Fatal(err)
	}
	p := func(d, f string) string { return filepath.Join(d, f) }
	for _, tt := range []struct {
		name           string
		root, iss, key string
		want           string
	}{
		{"another CA's key", p(dir, SM2RootCertFile), p(dir, SM2IssuingCertFile), p(other, SM2IssuingKeyFile), "does not match"},
		{"another root", p(other, SM2RootCertFile), p(dir, SM2IssuingCertFile), p(dir, SM2IssuingKeyFile), "does not chain"},
		{"the ECDSA CA's key", p(dir, SM2RootCertFile), p(dir, SM2IssuingCertFile), p(ecdsaDir, IssuingKeyFile), "not SM2"},
		{"the ECDSA CA", p(ecdsaDir, RootCertFile), p(ecdsaDir, IssuingCertFile), p(dir, SM2IssuingKeyFile), "no SM2 key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := LoadSM2CA(tt.root, tt.iss, tt.key, now); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LoadSM2CA: %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := LoadDevSM2CA(t.TempDir(), nil, now); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("LoadDevSM2CA of an empty directory: %v", err)
	}
}
