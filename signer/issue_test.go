package signer_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"image"
	"image/jpeg"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/certseal/certseal/internal/testenv"
	"github.com/certseal/certseal/keys"
	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/postgres"
	"github.com/certseal/certseal/registry/sqlite"
	"github.com/certseal/certseal/registry/storetest"
	"github.com/certseal/certseal/registry/workday"
	"github.com/certseal/certseal/signer"
)

// fixture is a unit with an approved filing and an active seal.
type fixture struct {
	store    registry.Store
	issuer   *signer.Issuer
	unit     registry.Unit
	seal     registry.Seal
	photo    []byte
	now      time.Time
	keys     *keys.SoftwareKeys
	ca       *keys.CA
	sm2      *keys.SM2CA // the 国密 twin's CA; the seal has a twin
	render   *signer.Renderer
	calendar *workday.Calendar
	tsa      *keys.TSA
	rsp      *keys.Responder
}

var backends = []struct {
	name string
	open func(t testing.TB) registry.Store
}{
	{"sqlite", func(t testing.TB) registry.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"), storetest.PII())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}},
	{"postgres", func(t testing.TB) registry.Store {
		s, err := postgres.Open(context.Background(), testenv.PostgresURL(t), storetest.PII())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}},
}

func newFixture(t testing.TB, store registry.Store) *fixture {
	t.Helper()
	ctx := context.Background()
	t.Cleanup(func() { store.Close() })
	now := time.Date(2026, 5, 6, 10, 0, 0, 0, registry.ChinaTZ)
	dir := t.TempDir()
	ca, err := keys.LoadOrCreateDevCA(filepath.Join(dir, "pki"), nil, now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	kek, err := keys.LoadOrCreateKEK(filepath.Join(dir, "kek"), nil)
	if err != nil {
		t.Fatal(err)
	}
	km := keys.NewSoftwareKeys(kek)
	imprint, err := os.ReadFile("../testdata/seal.png")
	if err != nil {
		t.Fatal(err)
	}
	photo, err := os.ReadFile("../testdata/photo.jpg")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: store, photo: photo, now: now, keys: km, ca: ca}
	if f.sm2, err = keys.LoadOrCreateDevSM2CA(filepath.Join(dir, "pki"), nil, now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	// The TSA and the responder keep the real clock, as the CMS
	// signingTime does: every certificate is stamped and carries its DSS,
	// as the service issues them.
	if f.tsa, err = keys.OpenTSA(filepath.Join(dir, "tsa.crt"), filepath.Join(dir, "tsa.key"), ca, "http://127.0.0.1:1", true, nil, nil); err != nil {
		t.Fatal(err)
	}
	if f.rsp, err = keys.NewResponder(ca, keys.StoreSeals(store), nil, nil); err != nil {
		t.Fatal(err)
	}
	f.rsp.Vouch(f.tsa.Certificate())
	err = store.InTx(ctx, func(tx registry.Tx) error {
		f.unit = registry.Unit{Name: "威海示范大学", USCC: "12371000494360979J", Jurisdiction: "威海市", Representative: "张三",
			Address: "威海市", Contact: "0631-5190962", CreatedAt: now}
		if err := tx.CreateUnit(ctx, &f.unit); err != nil {
			return err
		}
		filing := registry.Filing{UnitID: f.unit.ID, Series: "高校教师", Office: "人事处", Contact: "x", AppointedLast3Years: []int{1, 2, 3},
			State: registry.FilingSubmitted, SubmittedAt: now}
		if err := registry.ReviewFiling(&filing, registry.Review{Reviewer: "r", Decision: registry.Approve, At: now.Add(-24 * time.Hour)}); err != nil {
			return err
		}
		if err := tx.CreateFiling(ctx, &filing); err != nil {
			return err
		}
		pub, blob, err := km.GenerateSealKey(ctx, keys.ECDSAP256, f.unit.ID, 1)
		if err != nil {
			return err
		}
		der, serial, err := ca.IssueSealCert(f.unit, 1, pub, now.Add(-time.Minute), "http://127.0.0.1:1")
		if err != nil {
			return err
		}
		f.seal = registry.Seal{UnitID: f.unit.ID, Version: 1, State: registry.SealActive, ImprintPNG: imprint, KeyBlob: blob,
			CertDER: der, Serial: serial, CreatedAt: now}
		if err := tx.CreateSeal(ctx, &f.seal); err != nil {
			return err
		}
		return (&keys.SM2Twin{CA: f.sm2, Keys: km, WidthMM: 42, HeightMM: 42}).AddSeal(ctx, tx, f.unit, f.seal, now.Add(-time.Minute))
	})
	if err != nil {
		t.Fatal(err)
	}
	if f.render, err = signer.NewRenderer(signer.DefaultTemplate(), signer.DefaultFont()); err != nil {
		t.Fatal(err)
	}
	if f.calendar, err = workday.Default(); err != nil {
		t.Fatal(err)
	}
	f.issuer = f.issuerWithClock(func() time.Time { return f.now })
	return f
}

func (f *fixture) issuerWithClock(now func() time.Time) *signer.Issuer {
	return signer.NewIssuer(f.issuerDeps(now))
}

// issuerDeps are the fixture issuer's: as the service issues (time-stamp,
// DSS, 国密 seal signature).
func (f *fixture) issuerDeps(now func() time.Time) signer.IssuerDeps {
	return signer.IssuerDeps{Store: f.store, PII: storetest.PII(), Keys: f.keys, SM2: f.keys, Chains: f.ca, Renderer: f.render,
		TSA: f.tsa, TSATrust: keys.TimestampTrust{Roots: []*x509.Certificate{f.ca.Root()}}, TSACerts: []*x509.Certificate{f.tsa.Certificate()},
		Revocation: f.rsp, BaseURL: "https://zc.example.cn", Calendar: f.calendar, Now: now}
}

// revokeSeal revokes the fixture's seal, as its unit would.
func (f *fixture) revokeSeal() error {
	ctx := context.Background()
	return f.store.InTx(ctx, func(tx registry.Tx) error {
		s, err := tx.Seal(ctx, f.seal.ID, registry.LockUpdate)
		if err != nil {
			return err
		}
		if err := registry.RevokeSeal(&s, registry.ReasonCessationOfOperation, nil, time.Now()); err != nil {
			return err
		}
		return tx.UpdateSeal(ctx, &s)
	})
}

// changeSeal supersedes the fixture's seal with version 2, as approving a
// change does.
func (f *fixture) changeSeal() error {
	ctx := context.Background()
	return f.store.InTx(ctx, func(tx registry.Tx) error {
		old, err := tx.Seal(ctx, f.seal.ID, registry.LockUpdate)
		if err != nil {
			return err
		}
		if err := registry.SupersedeSeal(&old, f.now); err != nil {
			return err
		}
		if err := tx.UpdateSeal(ctx, &old); err != nil {
			return err
		}
		pub, blob, err := f.keys.GenerateSealKey(ctx, keys.ECDSAP256, f.unit.ID, 2)
		if err != nil {
			return err
		}
		der, serial, err := f.ca.IssueSealCert(f.unit, 2, pub, f.now.Add(-time.Minute), "http://127.0.0.1:1")
		if err != nil {
			return err
		}
		return tx.CreateSeal(ctx, &registry.Seal{UnitID: f.unit.ID, Version: 2, State: registry.SealActive, ImprintPNG: f.seal.ImprintPNG,
			KeyBlob: blob, CertDER: der, Serial: serial, CreatedAt: f.now})
	})
}

// withdrawFiling withdraws the unit's filing, as its unit may.
func (f *fixture) withdrawFiling() error {
	ctx := context.Background()
	return f.store.InTx(ctx, func(tx registry.Tx) error {
		fs, err := tx.ListFilings(ctx, registry.FilingFilter{UnitID: f.unit.ID})
		if err != nil {
			return err
		}
		fl := fs[0]
		if err := registry.WithdrawFiling(&fl); err != nil {
			return err
		}
		return tx.UpdateFiling(ctx, &fl)
	})
}

func (f *fixture) appointment(id string) registry.Appointment {
	return registry.Appointment{UnitID: f.unit.ID, Name: "王晓明", Gender: registry.Male, IDNumber: id, Series: "高校教师",
		Specialty: "计算机科学与技术", Level: "副高级", Post: "副教授", TermFrom: registry.Date{Year: 2026, Month: 1, Day: 1},
		TermTo: registry.Date{Year: 2028, Month: 12, Day: 31}, Committee: "威海示范大学高级职称评审委员会",
		PublicationNumber: "威示大字〔2026〕8号", AppointedOn: registry.Date{Year: 2026, Month: 1, Day: 1}, Photo: f.photo}
}

// Valid male ID numbers (check characters computed by the registry).
var ids = []string{"370102198001010015", "370102198001010031", "370102198001010058", "370102198001010074", "370102198001010090",
	"370102198001010111", "370102198001010138", "370102198001010154", "370102198001010170", "370102198001010197"}

func TestIssue(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b.open(t))
			ctx := context.Background()
			req := signer.Request{Appointment: f.appointment(ids[0]), Actor: "unit:1#1", RequestID: "req-1"}
			got, err := f.issuer.Issue(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			c := got.Certificate
			if c.Version != 1 || c.State != registry.CertValid || c.SealVersion != 1 || len(got.Token) < 20 {
				t.Fatalf("issued %+v token %q", c, got.Token)
			}
			if _, err := registry.ParseCertNumber(c.Number); err != nil {
				t.Fatalf("number %s: %v", c.Number, err)
			}
			if want := "https://zc.example.cn/v/" + c.Number + "?k=" + got.Token; got.VerifyURL != want {
				t.Fatalf("verify URL %s, want %s", got.VerifyURL, want)
			}
			// The same appointment again is refused and names the certificate.
			_, err = f.issuer.Issue(ctx, req)
			var already *signer.AlreadyIssuedError
			if !errors.As(err, &already) || already.Number != c.Number || !errors.Is(err, registry.ErrDuplicate) {
				t.Fatalf("second issue: %v", err)
			}
			// The stored PDF is what was signed, and one signing event was written.
			err = f.store.View(ctx, func(tx registry.Tx) error {
				pdf, err := tx.CertificatePDF(ctx, c.Number, 1)
				if err != nil {
					return err
				}
				if string(pdf) != string(got.PDF) {
					t.Error("stored PDF differs from the signed one")
				}
				evs, err := tx.AuditEvents(ctx, 0, 100)
				signs := 0
				for _, e := range evs {
					if e.Action == "certificate.sign" && e.SubjectID == c.Number && e.RequestID == "req-1" {
						signs++
					}
				}
				if signs != 1 {
					t.Errorf("%d signing events, want 1", signs)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}

			// Reissue: same number, version 2, a new token; version 1 superseded.
			corrected := f.appointment(ids[0])
			corrected.Post = "教授"
			corrected.Level = "正高级"
			re, err := f.issuer.Reissue(ctx, c.Number, corrected, signer.Request{Actor: "unit:1#1"})
			if err != nil {
				t.Fatal(err)
			}
			if re.Certificate.Number != c.Number || re.Certificate.Version != 2 || re.Token == got.Token {
				t.Fatalf("reissue: %+v", re.Certificate)
			}
			err = f.store.View(ctx, func(tx registry.Tx) error {
				old, err := tx.CertificateVersion(ctx, c.Number, 1)
				if err == nil && old.State != registry.CertSuperseded {
					t.Errorf("version 1 is %s", old.State)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestIssueRefusals(t *testing.T) {
	f := newFixture(t, backends[0].open(t))
	ctx := context.Background()
	tests := []struct {
		name   string
		change func(a *registry.Appointment)
		want   *registry.Error
		field  string
	}{
		{"series not filed", func(a *registry.Appointment) { a.Series = "卫生" }, registry.ErrFilingNotInForce, "series"},
		{"term ended", func(a *registry.Appointment) {
			a.TermFrom, a.TermTo = registry.Date{Year: 2020, Month: 1, Day: 1}, registry.Date{Year: 2025, Month: 12, Day: 31}
		}, registry.ErrTermEnded, "term_to"},
		{"gender against ID", func(a *registry.Appointment) { a.Gender = registry.Female }, registry.ErrInvalid, ""},
		{"character outside the font", func(a *registry.Appointment) { a.Name = "王𠀀" }, registry.ErrInvalid, "name"},
		{"not a photo", func(a *registry.Appointment) { a.Photo = []byte("GIF89a....") }, registry.ErrInvalid, "photo"},
		{"dates out of order", func(a *registry.Appointment) { a.TermFrom, a.TermTo = a.TermTo, a.TermFrom }, registry.ErrInvalid, "term_to"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := f.appointment(ids[1])
			tc.change(&a)
			_, err := f.issuer.Issue(ctx, signer.Request{Appointment: a, Actor: "t"})
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %s", err, tc.want.Code)
			}
			var e *registry.Error
			if errors.As(err, &e) && tc.field != "" && e.Field != tc.field {
				t.Fatalf("field %q, want %q (%v)", e.Field, tc.field, err)
			}
		})
	}
}

// No certificate may carry a signature made after what allowed it was
// withdrawn: issue concurrently while the seal is revoked, or while the
// only filing in force is withdrawn.
func TestNoSignatureAfterWithdrawal(t *testing.T) {
	withdrawals := []struct {
		name    string
		refusal error
		do      func(f *fixture) error
	}{
		{"seal revoked", registry.ErrSealNotActive, (*fixture).revokeSeal},
		{"filing withdrawn", registry.ErrFilingNotInForce, (*fixture).withdrawFiling},
	}
	for _, w := range withdrawals {
		for _, b := range backends {
			t.Run(w.name+"/"+b.name, func(t *testing.T) {
				f := newFixture(t, b.open(t))
				ctx := context.Background()
				f.issuer = f.issuerWithClock(time.Now) // real time: the order of commits is what is tested
				var wg sync.WaitGroup
				start := make(chan struct{})
				for i, id := range ids {
					wg.Go(func() {
						<-start
						time.Sleep(time.Duration(i) * 3 * time.Millisecond)
						_, err := f.issuer.Issue(ctx, signer.Request{Appointment: f.appointment(id), Actor: "t"})
						if err != nil && !errors.Is(err, w.refusal) {
							t.Errorf("issue: %v", err)
						}
					})
				}
				var withdrawnAt time.Time
				wg.Go(func() {
					<-start
					time.Sleep(5 * time.Millisecond)
					err := w.do(f)
					withdrawnAt = time.Now() // after commit
					if err != nil {
						t.Error(err)
					}
				})
				close(start)
				wg.Wait()
				err := f.store.View(ctx, func(tx registry.Tx) error {
					certs, err := tx.ListCertificates(ctx, registry.CertFilter{UnitID: f.unit.ID})
					for _, c := range certs {
						if !c.IssuedAt.Before(withdrawnAt) {
							t.Errorf("certificate %s signed at %v, after the withdrawal committed at %v", c.Number, c.IssuedAt, withdrawnAt)
						}
					}
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// Concurrent requests for one appointment (a retry sent while the first
// was still running) give one certificate and spend one number; the
// others are told which certificate exists.
func TestConcurrentIssueOfOneAppointment(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b.open(t))
			ctx := context.Background()
			var wg sync.WaitGroup
			start := make(chan struct{})
			errs := make([]error, 4)
			for i := range errs {
				wg.Go(func() {
					<-start
					_, errs[i] = f.issuer.Issue(ctx, signer.Request{Appointment: f.appointment(ids[0]), Actor: "t"})
				})
			}
			close(start)
			wg.Wait()
			var numbers []string
			err := f.store.View(ctx, func(tx registry.Tx) error {
				certs, err := tx.ListCertificates(ctx, registry.CertFilter{UnitID: f.unit.ID})
				for _, c := range certs {
					numbers = append(numbers, c.Number)
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(numbers) != 1 {
				t.Fatalf("%d certificates for one appointment: %v (errors %v)", len(numbers), numbers, errs)
			}
			ok := 0
			for _, err := range errs {
				var already *signer.AlreadyIssuedError
				switch {
				case err == nil:
					ok++
				case errors.As(err, &already) && already.Number == numbers[0]:
				default:
					t.Errorf("a concurrent duplicate got %v, want the already-issued error naming %s", err, numbers[0])
				}
			}
			if ok != 1 {
				t.Errorf("%d requests succeeded, want 1 (errors %v)", ok, errs)
			}
		})
	}
}

// The notice's deadlines, counted by hand on the 2026 calendar (May 1-5
// off, Saturday May 9 worked), and backfill against the filing approved
// on 2026-05-05; the issue day is Wednesday 2026-05-06.
func TestIssueMarksDeadlinesAndBackfill(t *testing.T) {
	f := newFixture(t, backends[0].open(t))
	ctx := context.Background()
	d := func(m time.Month, day int) registry.Date { return registry.Date{Year: 2026, Month: m, Day: day} }
	tests := []struct {
		name                 string
		appointed            registry.Date
		ended, filed         registry.Date
		infoLate, resultLate int
		backfill             bool
	}{
		// Apr 10 (Fri): 13-17, 20-24, 27-30 are 14 days; May 6 is the 15th.
		{"last day in time", d(4, 10), registry.Date{}, registry.Date{}, 0, 0, true},
		// Apr 9: the 15th working day is Apr 30; May 6 is one over.
		{"one working day late", d(4, 9), registry.Date{}, registry.Date{}, 1, 0, true},
		{"appointed after the filing", d(5, 5), registry.Date{}, registry.Date{}, 0, 0, false},
		// Ended Apr 22: due Apr 29; Apr 30 and May 6 are over.
		{"result filed late", d(5, 6), d(4, 22), d(5, 6), 0, 2, false},
		// Ended Apr 24: Apr 27-30 and May 6 are the five.
		{"result filed in time", d(5, 6), d(4, 24), d(5, 6), 0, 0, false},
		{"result not filed yet", d(5, 6), d(4, 1), registry.Date{}, 0, 0, false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := f.appointment(ids[i])
			a.AppointedOn, a.AppraisalEndedOn, a.ResultFiledOn = tc.appointed, tc.ended, tc.filed
			got, err := f.issuer.Issue(ctx, signer.Request{Appointment: a, Actor: "unit:1#1"})
			if err != nil {
				t.Fatal(err)
			}
			var stored registry.Certificate
			err = f.store.View(ctx, func(tx registry.Tx) error {
				stored, err = tx.Certificate(ctx, got.Certificate.Number)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			s := stored.Appointment
			if s.SubmittedOn != d(5, 6) || s.InfoLateWorkdays != tc.infoLate || s.ResultLateWorkdays != tc.resultLate ||
				s.Backfill != tc.backfill || s.LatenessUnchecked != "" {
				t.Fatalf("stored: submitted %v, info late %d, result late %d, backfill %v, unchecked %q; want info %d, result %d, backfill %v",
					s.SubmittedOn, s.InfoLateWorkdays, s.ResultLateWorkdays, s.Backfill, s.LatenessUnchecked, tc.infoLate, tc.resultLate, tc.backfill)
			}
		})
	}

	t.Run("a correction keeps the submission day and the backfill mark", func(t *testing.T) {
		a := f.appointment(ids[len(tests)])
		a.AppointedOn = d(4, 9)
		got, err := f.issuer.Issue(ctx, signer.Request{Appointment: a})
		if err != nil {
			t.Fatal(err)
		}
		a.Post = "教授"
		later := f.issuerWithClock(func() time.Time { return f.now.AddDate(0, 0, 14) })
		re, err := later.Reissue(ctx, got.Certificate.Number, a, signer.Request{})
		if err != nil {
			t.Fatal(err)
		}
		if s := re.Certificate.Appointment; s.SubmittedOn != d(5, 6) || s.InfoLateWorkdays != 1 || !s.Backfill {
			t.Fatalf("reissue: submitted %v, info late %d, backfill %v; want 2026-05-06, 1, true", s.SubmittedOn, s.InfoLateWorkdays, s.Backfill)
		}
	})
}

// A certificate issued before submission days were recorded: its
// correction counts from the first version's issue day, not its own.
func TestReissueOfCertificateWithoutSubmissionDay(t *testing.T) {
	f := newFixture(t, backends[0].open(t))
	ctx := context.Background()
	a, err := f.appointment(ids[0]).Normalize(registry.Today(f.now))
	if err != nil {
		t.Fatal(err)
	}
	a.AppointedOn = registry.Date{Year: 2026, Month: 4, Day: 9} // information due Apr 30
	number, err := registry.FormatCertNumber(2026, 900)
	if err != nil {
		t.Fatal(err)
	}
	pdf := []byte("%PDF-1.7 a version from before")
	sum := sha256.Sum256(pdf)
	legacy := registry.Certificate{Number: number, Version: 1, Appointment: a, TokenHash: make([]byte, 32), State: registry.CertValid,
		SealID: f.seal.ID, SealVersion: 1, IssuedAt: time.Date(2026, 4, 20, 10, 0, 0, 0, registry.ChinaTZ), PDFSHA256: sum[:]}
	if err := f.store.InTx(ctx, func(tx registry.Tx) error { return tx.CreateCertificate(ctx, &legacy, pdf) }); err != nil {
		t.Fatal(err)
	}
	a.Post = "教授"
	re, err := f.issuer.Reissue(ctx, number, a, signer.Request{})
	if err != nil {
		t.Fatal(err)
	}
	if s := re.Certificate.Appointment; s.SubmittedOn != (registry.Date{Year: 2026, Month: 4, Day: 20}) || s.InfoLateWorkdays != 0 {
		t.Fatalf("correction of a certificate without a submission day: submitted %v, %d working days late; want 2026-04-20, 0",
			s.SubmittedOn, s.InfoLateWorkdays)
	}
}

// A year the calendar lacks is not guessed: the certificate is issued and
// its deadlines are marked unchecked, naming the year.
func TestIssueWithoutCalendarYear(t *testing.T) {
	f := newFixture(t, backends[0].open(t))
	cal, err := workday.Load(t.TempDir()) // the shipped years only
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(cal.Years(), 2028) {
		t.Fatal("2028 is shipped now: move this test to a year without data")
	}
	in2028 := time.Date(2028, 1, 6, 10, 0, 0, 0, registry.ChinaTZ)
	is := signer.NewIssuer(signer.IssuerDeps{Store: f.store, PII: storetest.PII(), Keys: f.keys, Chains: f.ca, Renderer: f.render,
		BaseURL: "https://zc.example.cn", Calendar: cal, Now: func() time.Time { return in2028 }})
	a := f.appointment(ids[0])
	a.AppointedOn = registry.Date{Year: 2027, Month: 12, Day: 28}
	got, err := is.Issue(context.Background(), signer.Request{Appointment: a})
	if err != nil {
		t.Fatal(err)
	}
	if u := got.Certificate.Appointment.LatenessUnchecked; !strings.Contains(u, "no data for 2028") {
		t.Fatalf("lateness_unchecked = %q, want it to name 2028", u)
	}
}

// A large photo is kept scaled down: the stored certificate (what the
// verification page shows and its cache holds) carries the small one.
func TestIssueKeepsAScaledPhoto(t *testing.T) {
	f := newFixture(t, backends[0].open(t))
	ctx := context.Background()
	big := image.NewRGBA(image.Rect(0, 0, 1500, 2000))
	var b bytes.Buffer
	if err := jpeg.Encode(&b, big, nil); err != nil {
		t.Fatal(err)
	}
	a := f.appointment(ids[0])
	a.Photo = b.Bytes()
	issued, err := f.issuer.Issue(ctx, signer.Request{Appointment: a, Actor: "t"})
	if err != nil {
		t.Fatal(err)
	}
	var c registry.Certificate
	if err := f.store.View(ctx, func(tx registry.Tx) (err error) { c, err = tx.Certificate(ctx, issued.Certificate.Number); return err }); err != nil {
		t.Fatal(err)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(c.Appointment.Photo))
	if err != nil || cfg.Width != signer.StoredPhotoWidth || cfg.Height != signer.StoredPhotoHeight {
		t.Errorf("stored photo %dx%d (%v), want %dx%d", cfg.Width, cfg.Height, err, signer.StoredPhotoWidth, signer.StoredPhotoHeight)
	}
}

// An outside time-stamping authority that fails (down, or answering with a
// token that does not chain to its configured root) fails the issue with a
// clear error, and nothing is recorded: no certificate, no number used up.
func TestIssueTimestampFailureIssuesNothing(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := newFixture(t, b.open(t))
			ctx := context.Background()
			down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "overloaded", http.StatusServiceUnavailable)
			}))
			defer down.Close()
			other, err := keys.LoadOrCreateDevCA(filepath.Join(t.TempDir(), "pki"), nil, f.now.Add(-time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			foreignTSA, err := keys.OpenTSA(filepath.Join(t.TempDir(), "t.crt"), filepath.Join(t.TempDir(), "t.key"), other, "https://x.example", true, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				name string
				tsa  signer.Timestamper
				want string
			}{
				{"authority down", keys.TSAClient{URL: down.URL}, "503"},
				{"token of an untrusted authority", foreignTSA, "time-stamp"},
			} {
				is := signer.NewIssuer(signer.IssuerDeps{Store: f.store, PII: storetest.PII(), Keys: f.keys, Chains: f.ca, Renderer: f.render,
					TSA: tc.tsa, TSATrust: keys.TimestampTrust{Roots: []*x509.Certificate{f.ca.Root()}},
					BaseURL: "https://zc.example.cn", Calendar: f.calendar, Now: func() time.Time { return f.now }})
				_, err := is.Issue(ctx, signer.Request{Appointment: f.appointment(ids[0]), Actor: "t"})
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: issue error %v, want one naming %q", tc.name, err, tc.want)
				}
			}
			var n int
			err = f.store.View(ctx, func(tx registry.Tx) error {
				cs, err := tx.ListCertificates(ctx, registry.CertFilter{UnitID: f.unit.ID, WithoutPersonalData: true})
				n = len(cs)
				return err
			})
			if err != nil || n != 0 {
				t.Fatalf("%d certificates recorded after failed time-stamps (%v)", n, err)
			}
			// The next good issue gets the first number: none was used up.
			is := signer.NewIssuer(signer.IssuerDeps{Store: f.store, PII: storetest.PII(), Keys: f.keys, Chains: f.ca, Renderer: f.render,
				BaseURL: "https://zc.example.cn", Calendar: f.calendar, Now: func() time.Time { return f.now }})
			got, err := is.Issue(ctx, signer.Request{Appointment: f.appointment(ids[0]), Actor: "t"})
			if err != nil {
				t.Fatal(err)
			}
			if got.Certificate.Number != "372026000000013" {
				t.Errorf("first number after failures: %s", got.Certificate.Number)
			}
		})
	}
}
