package verify

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"path/filepath"
	"testing"
	"time"

	"github.com/certseal/certseal/keys"
	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/sqlite"
	"github.com/certseal/certseal/registry/storetest"
)

// timeFixture is a registered certificate signed with a seal of the
// platform's real CA (package keys), stamped by the platform's TSA or
// another, or not at all.
type timeFixture struct {
	ca   *keys.CA
	tsa  *keys.TSA
	km   *keys.SoftwareKeys
	dir  string
	now  time.Time
	unit registry.Unit
}

func newTimeFixture(t *testing.T) *timeFixture {
	t.Helper()
	f := &timeFixture{dir: t.TempDir(), now: time.Now()}
	var err error
	if f.ca, err = keys.LoadOrCreateDevCA(filepath.Join(f.dir, "pki"), nil, f.now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	f.tsa = f.openTSA(t, f.ca, "tsa")
	kek, err := keys.LoadOrCreateKEK(filepath.Join(f.dir, "kek"), nil)
	if err != nil {
		t.Fatal(err)
	}
	f.km = keys.NewSoftwareKeys(kek)
	f.unit = registry.Unit{Name: "威海示范大学", USCC: "12371000494360979J", Jurisdiction: "威海市", CreatedAt: f.now}
	return f
}

func (f *timeFixture) openTSA(t *testing.T, ca *keys.CA, name string) *keys.TSA {
	t.Helper()
	tsa, err := keys.OpenTSA(filepath.Join(f.dir, name+".crt"), filepath.Join(f.dir, name+".key"), ca, "https://zc.example.cn", true, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tsa
}

// issue records a unit, its seal and one certificate whose PDF is signed
// with the seal and stamped by stamper (nil: no timestamp), then lets
// change move the seal on (revoke, supersede) and returns the service and
// the PDF.
func (f *timeFixture) issue(t *testing.T, stamper *keys.TSA, change func(s *registry.Seal) error) (*Service, []byte) {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"), storetest.PII())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	unit := f.unit
	pub, blob, err := f.km.GenerateSealKey(ctx, keys.ECDSAP256, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	unit.ID = 1
	der, serial, err := f.ca.IssueSealCert(unit, 1, pub, f.now.Add(-30*time.Minute), "https://zc.example.cn")
	if err != nil {
		t.Fatal(err)
	}
	seal := registry.Seal{UnitID: 1, Version: 1, State: registry.SealActive, ImprintPNG: []byte("p"), KeyBlob: blob,
		CertDER: der, Serial: serial, CreatedAt: f.now.Add(-time.Hour)}
	key, err := f.km.Signer(ctx, seal)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := f.ca.SealChain(der)
	if err != nil {
		t.Fatal(err)
	}
	var stamp func([]byte) ([]byte, error)
	if stamper != nil {
		stamp = func(req []byte) ([]byte, error) { return stamper.Stamp(ctx, req) }
	}
	file := signPDFStamped(t, minimalPDF(), key, chain[0], chain[1:], crypto.SHA256, stamp)
	sum := sha256.Sum256(file)
	tok := sha256.Sum256([]byte("tok"))
	err = store.InTx(ctx, func(tx registry.Tx) error {
		if err := tx.CreateUnit(ctx, &unit); err != nil {
			return err
		}
		seal.UnitID = unit.ID
		if err := tx.CreateSeal(ctx, &seal); err != nil {
			return err
		}
		c := registry.Certificate{Number: number, Version: 1, TokenHash: tok[:], State: registry.CertValid, SealID: seal.ID,
			SealVersion: 1, IssuedAt: f.now, PDFSHA256: sum[:], Appointment: registry.Appointment{UnitID: unit.ID,
				Name: "王晓明", Gender: registry.Male, IDNumber: "370102198001010015", Series: "高校教师", Specialty: "计算机",
				Level: "副高级", Post: "副教授", TermFrom: registry.Date{Year: 2026, Month: 1, Day: 1},
				TermTo: registry.Date{Year: 2036, Month: 12, Day: 31}, Committee: "评委会", PublicationNumber: "威示大字〔2026〕8号",
				AppointedOn: registry.Date{Year: 2026, Month: 1, Day: 1}, Photo: []byte("\xff\xd8\xff\xe0 jpeg")}}
		if err := tx.CreateCertificate(ctx, &c, file); err != nil {
			return err
		}
		if change == nil {
			return nil
		}
		if err := change(&seal); err != nil {
			return err
		}
		return tx.UpdateSeal(ctx, &seal)
	})
	if err != nil {
		t.Fatal(err)
	}
	trust := PDFTrust{Root: f.ca.Root(), Issuing: []*x509.Certificate{f.ca.Issuing()}}
	svc, err := NewService(store, NewCached(&mapCache{m: map[string][]byte{}}, CachedOptions{}), "https://zc.example.cn", trust, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return svc, file
}

// The verdict rests on the proof of time (DESIGN §5): a seal that was
// revoked keeps what its timestamp proves it signed before; without such
// proof the answer is indeterminate, never passed.
func TestUploadProofOfTime(t *testing.T) {
	f := newTimeFixture(t)
	foreign := f.openTSA(t, newTimeFixture(t).ca, "foreign") // a TSA under another CA
	later, earlier := time.Now().Add(time.Hour), time.Now().Add(-time.Hour)
	revoke := func(reason registry.RevocationReason, invalidity *time.Time, at time.Time) func(*registry.Seal) error {
		return func(s *registry.Seal) error { return registry.RevokeSeal(s, reason, invalidity, at) }
	}
	for _, tc := range []struct {
		name     string
		stamper  *keys.TSA
		change   func(*registry.Seal) error
		want     string // indication
		wantSub  string
		wantTime string // timestamp status
	}{
		{"active seal, stamped", f.tsa, nil, Passed, "", TimestampValid},
		{"active seal, no timestamp (issued before timestamps)", nil, nil, Passed, "", TimestampNone},
		{"superseded seal, no timestamp", nil, func(s *registry.Seal) error { return registry.SupersedeSeal(s, later) }, Passed, "", TimestampNone},
		{"ceased after the proven time", f.tsa, revoke(registry.ReasonCessationOfOperation, nil, later), Passed, "", TimestampValid},
		{"ceased before the proven time", f.tsa, revoke(registry.ReasonCessationOfOperation, nil, earlier), Failed, SubRevoked, TimestampValid},
		{"key suspected before the proven time", f.tsa, revoke(registry.ReasonKeyCompromise, &earlier, later), Failed, SubSealKeyCompromised, TimestampValid},
		{"key suspected after the proven time", f.tsa, revoke(registry.ReasonKeyCompromise, &later, later), Passed, "", TimestampValid},
		{"revoked, no timestamp", nil, revoke(registry.ReasonCessationOfOperation, nil, later), Indeterminate, SubRevokedNoPOE, TimestampNone},
		{"revoked, timestamp of an untrusted TSA", foreign, revoke(registry.ReasonCessationOfOperation, nil, later), Indeterminate, SubTimestampFailure, TimestampInvalid},
		{"active seal, timestamp of an untrusted TSA", foreign, nil, Indeterminate, SubTimestampFailure, TimestampInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, file := f.issue(t, tc.stamper, tc.change)
			ans, err := svc.CheckUpload(context.Background(), file)
			if err != nil {
				t.Fatal(err)
			}
			if ans.Indication != tc.want || ans.SubIndication != tc.wantSub || ans.TimestampStatus != tc.wantTime {
				t.Fatalf("got %s/%s (timestamp %s), want %s/%s (timestamp %s): %s %s",
					ans.Indication, ans.SubIndication, ans.TimestampStatus, tc.want, tc.wantSub, tc.wantTime, ans.Message, ans.Detail)
			}
			if tc.wantTime == TimestampValid && (ans.Timestamp.IsZero() || ans.Timestamp.Sub(time.Now()).Abs() > time.Minute) {
				t.Errorf("proven time %v", ans.Timestamp)
			}
		})
	}
}
