// Package storetest is the one conformance suite every registry.Store
// passes: lifecycles, races between identical transitions, gapless
// numbering, idempotency, the audit chain and "nothing is ever deleted".
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/audit"
)

// RawStore is a store the suite can also poke with raw SQL, the way an
// attacker or a careless operator with database access would.
type RawStore interface {
	registry.Store
	Exec(ctx context.Context, query string, args ...any) error
}

// Backend describes the store under test.
type Backend struct {
	// Open returns a fresh, empty store opened with PII().
	Open func(t *testing.T) RawStore
	// DropTrigger is the SQL that removes a guard trigger, with %[1]s the
	// trigger and %[2]s its table: the attacker's first step.
	DropTrigger string
}

// Run runs the suite against a backend.
func Run(t *testing.T, b Backend) { run(t, b, true) }

// RunAsApplication runs the suite but the cases that need the schema's
// owner (tampering with the audit trail, a row in every table): for a
// store opened as a role that does not own the schema, such as the one
// postgres.GrantAppRole sets up, to show it can do all the service does.
func RunAsApplication(t *testing.T, b Backend) { run(t, b, false) }

func run(t *testing.T, b Backend, owner bool) {
	tests := []struct {
		name       string
		fn         func(t *testing.T, s RawStore)
		needsOwner bool
	}{
		{"Units", testUnits, false},
		{"FilingLifecycle", testFilingLifecycle, false},
		{"SealLifecycle", testSealLifecycle, false},
		{"CertificateLifecycle", testCertificateLifecycle, false},
		{"ConcurrentDoubleApprove", testConcurrentDoubleApprove, false},
		{"ConcurrentDoubleRevoke", testConcurrentDoubleRevoke, false},
		{"NumberingUnderConcurrentWriters", testNumbering, false},
		{"Idempotency", testIdempotency, false},
		{"Batches", testBatches, false},
		{"AuditChainNamesTamperedEvent", testAuditTamper, true},
		{"AuditChainNamesRemovedEvent", testAuditRemoved, true},
		{"LogUnderConcurrentWriters", testLogConcurrentWriters, false},
		{"LogNamesTamperedLeaf", testLogNamesTamperedLeaf, true},
		{"LogNamesAlteredLeafHash", testLogNamesAlteredLeafHash, true},
		// It puts a row in every table, API keys too, which the owner
		// makes (certseal apikey create); the application's role is
		// refused DELETE by its grants (postgres TestAppRole).
		{"NothingIsDeleted", testNothingDeleted, true},
		{"RollbackLeavesNothing", testRollback, false},
		{"IntegrityRecords", testIntegrityRecords, false},
		// API keys are made by the owner (certseal apikey create); that
		// the application's role may revoke them and note their use is
		// postgres TestAppRole's.
		{"APIKeyLifecycle", testAPIKeyLifecycle, true},
		{"CertificateListing", testCertificateListing, false},
		{"NumberHolds", testNumberHolds, false},
		{"SM2Twin", testSM2Twin, false},
		{"Receipts", testReceipts, false},
	}
	for _, tc := range tests {
		if tc.needsOwner && !owner {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := b.Open(t)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, rawStore{s, b})
		})
	}
}

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, registry.ChinaTZ)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantCode(t *testing.T, err error, target *registry.Error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("got error %v, want code %s", err, target.Code)
	}
}

// event appends the audit event of a transition, as every caller must.
func event(ctx context.Context, tx registry.Tx, action, subjectType string, id any, payload any) error {
	return tx.AppendAudit(ctx, &registry.AuditEvent{
		At: time.Now(), Actor: "test", Action: action, SubjectType: subjectType,
		SubjectID: fmt.Sprint(id), RequestID: "req-test", PayloadDigest: audit.Digest(payload),
	})
}

func newUnit(t *testing.T, s registry.Store, uscc string) registry.Unit {
	t.Helper()
	u := registry.Unit{Name: "山东测试大学", USCC: uscc, Representative: "张三", Jurisdiction: "威海市",
		Address: "威海市文化西路", Contact: "0631-5190962", CreatedAt: t0}
	must(t, s.InTx(ctxT(t), func(tx registry.Tx) error {
		if err := tx.CreateUnit(ctxT(t), &u); err != nil {
			return err
		}
		return event(ctxT(t), tx, "unit.create", "unit", u.ID, u)
	}))
	return u
}

func newFiling(t *testing.T, s registry.Store, unitID int64, approve bool) registry.Filing {
	t.Helper()
	ctx := ctxT(t)
	f := registry.Filing{UnitID: unitID, Series: "高校教师", Specialty: "计算机", Office: "人事处", Contact: "李四 0631-1234567",
		TalentCount: 120, AppointedLast3Years: []int{10, 12, 9}, State: registry.FilingSubmitted, SubmittedAt: t0}
	must(t, s.InTx(ctx, func(tx registry.Tx) error {
		if err := tx.CreateFiling(ctx, &f); err != nil {
			return err
		}
		return event(ctx, tx, "filing.submit", "filing", f.ID, f)
	}))
	if approve {
		must(t, s.InTx(ctx, func(tx registry.Tx) error { return reviewFiling(ctx, tx, f.ID, registry.Approve) }))
		must(t, s.View(ctx, func(tx registry.Tx) (err error) { f, err = tx.Filing(ctx, f.ID, registry.NoLock); return err }))
	}
	return f
}

func reviewFiling(ctx context.Context, tx registry.Tx, id int64, d registry.Decision) error {
	f, err := tx.Filing(ctx, id, registry.NoLock)
	if err != nil {
		return err
	}
	if err := registry.ReviewFiling(&f, registry.Review{Reviewer: "威海市人社局", Decision: d, Opinion: "同意", At: t0}); err != nil {
		return err
	}
	if err := tx.UpdateFiling(ctx, &f); err != nil {
		return err
	}
	return event(ctx, tx, "filing.review", "filing", f.ID, f.Review)
}

func newSeal(t *testing.T, s registry.Store, unitID int64, version int) registry.Seal {
	t.Helper()
	ctx := ctxT(t)
	seal := registry.Seal{UnitID: unitID, Version: version, State: registry.SealActive, ImprintPNG: []byte("png"),
		KeyBlob: []byte("sealed key"), CertDER: []byte("der"), Serial: fmt.Sprintf("%x-%d", unitID, version), CreatedAt: t0}
	must(t, s.InTx(ctx, func(tx registry.Tx) error {
		if err := tx.CreateSeal(ctx, &seal); err != nil {
			return err
		}
		return event(ctx, tx, "seal.create", "seal", seal.ID, seal.Serial)
	}))
	return seal
}

func appointment(unitID int64, id string) registry.Appointment {
	return registry.Appointment{UnitID: unitID, Name: "王五", Gender: registry.Male, IDNumber: id, Series: "高校教师",
		Specialty: "计算机", Level: "副高级", Post: "副教授", TermFrom: registry.Date{Year: 2026, Month: 1, Day: 1},
		TermTo: registry.Date{Year: 2028, Month: 12, Day: 31}, Committee: "山东测试大学高级职称评审委员会",
		PublicationNumber: "鲁测大字〔2026〕1号", AppointedOn: registry.Date{Year: 2026, Month: 1, Day: 1}, Photo: []byte("jpeg bytes")}
}

func cert(number string, version int, a registry.Appointment, seal registry.Seal) registry.Certificate {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%d", number, version)))
	tok := sha256.Sum256([]byte("token " + number))
	return registry.Certificate{Number: number, Version: version, Appointment: a, TokenHash: tok[:], State: registry.CertValid,
		SealID: seal.ID, SealVersion: seal.Version, IssuedAt: t0, PDFSHA256: sum[:]}
}

func testUnits(t *testing.T, s RawStore) {
	ctx := ctxT(t)
	u := newUnit(t, s, "91370000MA3C000001")
	err := s.InTx(ctx, func(tx registry.Tx) error {
		dup := u
		return tx.CreateUnit(ctx, &dup)
	})
	wantCode(t, err, registry.ErrDuplicate)
	must(t, s.View(ctx, func(tx registry.Tx) error {
		got, err := tx.Unit(ctx, u.ID)
		if err != nil {
			return err
		}
		if !got.CreatedAt.Equal(u.CreatedAt) {
			return fmt.Errorf("created at %v, want %v", got.CreatedAt, u.CreatedAt)
		}
		got.CreatedAt = u.CreatedAt
		if got != u {
			return fmt.Errorf("got %+v, want %+v", got, u)
		}
		if got, err = tx.UnitByUSCC(ctx, u.USCC); err != nil || got.ID != u.ID {
			return fmt.Errorf("by USCC: %+v %v", got, err)
		}
		_, err = tx.Unit(ctx, u.ID+1000)
		wantCode(t, err, registry.ErrNotFound)
		if other, err := tx.ListUnits(ctx, "济南市", registry.Page{}); err != nil || len(other) != 0 {
			return fmt.Errorf("list of another jurisdiction: %v %v", other, err)
		}
		list, err := tx.ListUnits(ctx, u.Jurisdiction, registry.Page{})
		if err != nil || len(list) != 1 {
			return fmt.Errorf("list: %v %v", list, err)
		}
		return nil
	}))
}

func testFilingLifecycle(t *testing.T, s RawStore) {
	ctx := ctxT(t)
	u := newUnit(t, s, "91370000MA3C000002")
	approved := newFiling(t, s, u.ID, true)
	if approved.State != registry.FilingApproved || approved.ValidFrom.String() != "2026-03-02" || approved.ValidUntil.String() != "2029-03-01" {
		t.Fatalf("approved filing: %+v", approved)
	}
	if approved.Review == nil || approved.Review.Reviewer != "威海市人社局" {
		t.Fatalf("review not stored: %+v", approved.Review)
	}
	// Approving twice is refused by the lifecycle.
	err := s.InTx(ctx, func(tx registry.Tx) error { return reviewFiling(ctx, tx, approved.ID, registry.Approve) })
	wantCode(t, err, registry.ErrIllegalTransition)

	rejected := newFiling(t, s, u.ID, false)
	must(t, s.InTx(ctx, func(tx registry.Tx) error { return reviewFiling(ctx, tx, rejected.ID, registry.Reject) }))

	withdrawn := newFiling(t, s, u.ID, false)
	must(t, s.InTx(ctx, func(tx registry.Tx) error {
		f, err := tx.Filing(ctx, withdrawn.ID, registry.NoLock)
		if err != nil {
			return err
		}
		if err := registry.WithdrawFiling(&f); err != nil {
			return err
		}
		return tx.UpdateFiling(ctx, &f)
	}))

	inForce := func(day registry.Date) []registry.Filing {
		var out []registry.Filing
		must(t, s.View(ctx, func(tx registry.Tx) (err error) {
			out, err = tx.ListFilings(ctx, registry.FilingFilter{InForceOn: day, Jurisdiction: "威海市"})
			return err
		}))
		return out
	}
	if got := inForce(registry.Date{Year: 2027, Month: 6, Day: 1}); len(got) != 1 || got[0].ID != approved.ID {
		t.Fatalf("in force mid-term: %+v", got)
	}
	if got := inForce(registry.Date{Year: 2029, Month: 3, Day: 1}); len(got) != 1 {
		t.Fatalf("in force on the last day: %+v", got)
	}
	if got := inForce(registry.Date{Year: 2029, Month: 3, Day: 2}); len(got) != 0 {
		t.Fatalf("in force after three years: %+v", got)
	}
	if registry.FilingStateOn(approved, registry.Date{Year: 2029, Month: 3, Day: 2}) != registry.FilingExpired {
		t.Fatal("expiry is not derived from the date")
	}
	// A stale copy cannot overwrite a newer one.
	stale := approved
	wantCode(t, s.InTx(ctx, func(tx registry.Tx) error {
		stale.Rev = 0
		return tx.UpdateFiling(ctx, &stale)
	}), registry.ErrConflict)
	// Issuing under the rejected filing is refused.
	seal := newSeal(t, s, u.ID, 1)
	var rej registry.Filing
	must(t, s.View(ctx, func(tx registry.Tx) (err error) { rej, err = tx.Filing(ctx, rejected.ID, registry.NoLock); return err }))
	wantCode(t, registry.CheckIssue(appointment(u.ID, "x"), rej, seal, registry.Date{Year: 2026, Month: 4, Day: 1}), registry.ErrFilingNotInForce)
	must(t, registry.CheckIssue(appointment(u.ID, "x"), approved, seal, registry.Date{Year: 2026, Month: 4, Day: 1}))
	wantCode(t, registry.CheckIssue(appointment(u.ID, "x"), approved, seal, registry.Date{Year: 2029, Month: 4, Day: 1}), registry.ErrFilingNotInForce)
}

func testSealLifecycle(t *testing.T, s RawStore) {
	ctx := ctxT(t)
	u := newUnit(t, s, "91370000MA3C000003")
	app := registry.SealApplication{UnitID: u.ID, Kind: registry.KindNew, Handler: registry.Handler{Name: "赵六",
		IDNumber: "11010519491231002X", Mobile: "13500000000", Landline: "0631-1234567"}, Address: "威海市",
		ImprintPNG: []byte("png"), Declaration: true, State: registry.ApplicationSubmitted, SubmittedAt: t0}
	must(t, registry.CheckSealApplication(app, nil))
	must(t, s.InTx(ctx, func(tx registry.Tx) error { return tx.CreateSealApplication(ctx, &app) }))
	got := app
	must(t, s.View(ctx, func(tx registry.Tx) (err error) { got, err = tx.SealApplication(ctx, app.ID); return err }))
	if got.Handler != app.Handler || !bytes.Equal(got.ImprintPNG, app.ImprintPNG) || got.State != registry.ApplicationSubmitted {
		t.Fatalf("application round trip: %+v", got)
	}
	var apps []registry.SealApplication
	must(t, s.View(ctx, func(tx registry.Tx) (err error) { apps, err = tx.ListSealApplications(ctx, u.ID); return err }))
	if len(apps) != 1 || apps[0].ID != app.ID {
		t.Fatalf("list applications: %+v", apps)
	}
	v1 := newSeal(t, s, u.ID, 1)
	// A change or revocation names the seal it is for.
	stale := registry.SealApplication{UnitID: u.ID, Kind: registry.KindRevoke, Handler: app.Handler, Declaration: true,
		RevokeReason: registry.ReasonCessationOfOperation, State: registry.ApplicationSubmitted, SubmittedAt: t0, TargetSealID: v1.ID}
	must(t, s.InTx(ctx, func(tx registry.Tx) error { return tx.CreateSealApplication(ctx, &stale) }))
	must(t, s.View(ctx, func(tx registry.Tx) (err error) { got, err = tx.SealApplication(ctx, stale.ID); return err }))
	if got.TargetSealID != v1.ID {
		t.Fatalf("application target round trip: %d, want %d", got.TargetSealID, v1.ID)
	}
	// A second active seal is refused by the schema itself.
	wantCode(t, s.InTx(ctx, func(tx registry.Tx) error {
		dup := registry.Seal{UnitID: u.ID, Version: 2, State: registry.SealActive, ImprintPNG: []byte("p"), KeyBlob: []byte("k"),
			CertDER: []byte("d"), Serial: "other", CreatedAt: t0}
		return tx.CreateSeal(ctx, &dup)
	}), registry.ErrDuplicate)
	// Change: v1 superseded, v2 active, in one transaction.
	var v2 registry.Seal
	must(t, s.InTx(ctx, func(tx registry.Tx) error {
		old, err := tx.Seal(ctx, v1.ID, registry.LockUpdate)
		if err != nil {
			return err
		}
		if err := registry.SupersedeSeal(&old, t0); err != nil {
			return err
		}
		if err := tx.UpdateSeal(ctx, &old); err != nil {
			return err
		}
		seals, err := tx.ListSeals(ctx, u.ID)
		if err != nil {
			return err
		}
		v2 = registry.Seal{UnitID: u.ID, Version: registry.NextSealVersion(seals), State: registry.SealActive, ImprintPNG: []byte("png2"),
			KeyBlob: []byte("k2"), CertDER: []byte("d2"), Serial: "serial-2", CreatedAt: t0}
		return tx.CreateSeal(ctx, &v2)
	}))
	if v2.Version != 2 {
		t.Fatalf("next version: %d", v2.Version)
	}
	var seals []registry.Seal
	must(t, s.View(ctx, func(tx registry.Tx) (err error) { seals, err = tx.ListSeals(ctx, u.ID); return err }))
	if len(seals) != 2 || seals[0].State != registry.SealSuperseded || seals[1].State != registry.SealActive {
		t.Fatalf("after change: %+v", seals)
	}
	wantCode(t, registry.CanSign(seals[0]), registry.ErrSealNotActive)
	// What was asked of v1 is not done to v2; a key compromise of v1 is
	// still recorded on v1.
	if target := registry.SealApplicationTarget(stale, seals); target == nil || target.ID != v1.ID {
		t.Fatalf("target of an application for v1: %+v", target)
	}
	wantCode(t, registry.CheckSealApplication(stale, seals), registry.ErrIllegalTransition)
	staleChange := stale
	staleChange.Kind, staleChange.RevokeReason, staleChange.ImprintPNG = registry.KindChange, "", []byte("png")
	wantCode(t, registry.CheckSealApplication(staleChange, seals), registry.ErrIllegalTransition)
	compromised := stale
	compromised.RevokeReason = registry.ReasonKeyCompromise
	must(t, registry.CheckSealApplication(compromised, seals))
	legacy := stale // made before targets were recorded: acts on the active seal
	legacy.TargetSealID = 0
	if target := registry.SealApplicationTarget(legacy, seals); target == nil || target.ID != v2.ID {
		t.Fatalf("target of an application without one: %+v", target)
	}
	// Revoke with keyCompromise; the revocation mark moves with it.
	var markBefore, markAfter string
	must(t, s.View(ctx, func(tx registry.Tx) (err error) { markBefore, err = tx.SealRevocationMark(ctx); return err }))
	suspected := t0.Add(-time.Hour)
	must(t, s.InTx(ctx, func(tx registry.Tx) error {
		cur, err := tx.Seal(ctx, v2.ID, registry.LockUpdate)
		if err != nil {
			return err
		}
		if err := registry.RevokeSeal(&cur, registry.ReasonKeyCompromise, &suspected, t0); err != nil {
			return err
		}
		return tx.UpdateSeal(ctx, &cur)
	}))
	var revoked []registry.Seal
	var bySerial registry.Seal
	must(t, s.View(ctx, func(tx registry.Tx) (err error) {
		if revoked, err = tx.RevokedSeals(ctx); err != nil {
			return err
		}
		if markAfter, err = tx.SealRevocationMark(ctx); err != nil {
			return err
		}
		bySerial, err = tx.SealBySerial(ctx, "serial-2")
		return err
	}))
	if markAfter == markBefore {
		t.Fatalf("the seal revocation mark stayed %q through a revocation", markBefore)
	}
	if len(revoked) != 1 || revoked[0].ID != v2.ID || revoked[0].Reason != registry.ReasonKeyCompromise ||
		revoked[0].InvalidityDate == nil || !revoked[0].InvalidityDate.Equal(suspected) {
		t.Fatalf("revoked seals: %+v", revoked)
	}
	if bySerial.State != registry.SealRevoked {
		t.Fatalf("by serial: %+v", bySerial)
	}
	wantCode(t, registry.CanSign(bySerial), registry.ErrSealNotActive)
	wantCode(t, registry.RevokeSeal(&bySerial, registry.ReasonCessationOfOperation, nil, t0), registry.ErrIllegalTransition)
	if registry.SignatureTrusted(bySerial, t0) || !registry.SignatureTrusted(bySerial, suspected.Add(-time.Minute)) {
		t.Fatal("keyCompromise must distrust signatures from the invalidity date on, and only those")
	}
}

func testCertificateLifecycle(t *testing.T, s RawStore) {
	ctx := ctxT(t)
	u := newUnit(t, s, "91370000MA3C000004")
	seal := newSeal(t, s, u.ID, 1)
	a := appointment(u.ID, "11010519491231002X")
	c1 := cert("372026000000015", 1, a, seal)
	pdf := []byte("%PDF-1.7 v1")
	must(t, s.InTx(ctx, func(tx registry.Tx) error { return tx.CreateCertificate(ctx, &c1, pdf) }))
	wantCode(t, s.InTx(ctx, func(tx registry.Tx) error { dup := c1; return tx.CreateCertificate(ctx, &dup, pdf) }), registry.ErrDuplicate)

	must(t, s.View(ctx, func(tx registry.Tx) error {
		got, err := tx.Certificate(ctx, c1.Number)
		if err != nil {
			return err
		}
		if got.Appointment.IDNumber != a.IDNumber || !bytes.Equal(got.Appointment.Photo, a.Photo) || got.Appointment.Name != a.Name ||
			got.Appointment.TermTo != a.TermTo || !bytes.Equal(got.PDFSHA256, c1.PDFSHA256) || got.State != registry.CertValid {
			return fmt.Errorf("round trip: %+v", got)
		}
		if got, err := tx.CertificateByDedupKey(ctx, a.DedupKey(testPII)); err != nil || got.Number != c1.Number {
			return fmt.Errorf("dedup lookup: %v %v", got.Number, err)
		}
		other := []byte("no such appointment")
		if got, err := tx.CertificatesByDedupKeys(ctx, [][]byte{other, a.DedupKey(testPII)}); err != nil || len(got) != 1 ||
			got[string(a.DedupKey(testPII))].Number != c1.Number {
			return fmt.Errorf("dedup lookup of many: %+v %v", got, err)
		}
		b, err := tx.CertificatePDF(ctx, c1.Number, 1)
		if err != nil || !bytes.Equal(b, pdf) {
			return fmt.Errorf("pdf: %q %v", b, err)
		}
		return nil
	}))
	// Reissue: same number, version 2, old one superseded.
	a2 := a
	a2.Post = "教授"
	c2 := cert(c1.Number, 2, a2, seal)
	must(t, s.InTx(ctx, func(tx registry.Tx) error {
		old, err := tx.Certificate(ctx, c1.Number)
		if err != nil {
			return err
		}
		if err := registry.SupersedeCertificate(&old); err != nil {
			return err
		}
		if err := tx.UpdateCertificate(ctx, &old); err != nil {
			return err
		}
		return tx.CreateCertificate(ctx, &c2, []byte("%PDF-1.7 v2"))
	}))
	must(t, s.View(ctx, func(tx registry.Tx) error {
		cur, err := tx.Certificate(ctx, c1.Number)
		if err != nil || cur.Version != 2 || cur.Appointment.Post != "教授" {
			return fmt.Errorf("current: %+v %v", cur, err)
		}
		old, err := tx.CertificateByPDFHash(ctx, c1.PDFSHA256)
		if err != nil || old.Version != 1 || old.State != registry.CertSuperseded {
			return fmt.Errorf("old by hash: %+v %v", old, err)
		}
		nums, err := tx.CertificateNumbersBySeal(ctx, seal.ID)
		if err != nil || len(nums) != 1 || nums[0] != c1.Number {
			return fmt.Errorf("numbers by seal: %v %v", nums, err)
		}
		list, err := tx.ListCertificates(ctx, registry.CertFilter{UnitID: u.ID, LatestOnly: true})
		if err != nil || len(list) != 1 || list[0].Version != 2 {
			return fmt.Errorf("latest list: %d %v", len(list), err)
		}
		return nil
	}))
	// Revoke: once.
	revoke := func() error {
		return s.InTx(ctx, func(tx registry.Tx) error {
			c, err := tx.Certificate(ctx, c1.Number)
			if err != nil {
				return err
			}
			if err := registry.RevokeCertificate(&c, registry.RevokeForgery, "伪造学历", "unit:1", t0); err != nil {
				return err
			}
			return tx.UpdateCertificate(ctx, &c)
		})
	}
	must(t, revoke())
	wantCode(t, revoke(), registry.ErrIllegalTransition)
	must(t, s.View(ctx, func(tx registry.Tx) error {
		c, err := tx.Certificate(ctx, c1.Number)
		if err != nil || c.State != registry.CertRevoked || c.Category != registry.RevokeForgery || c.RevokedAt == nil {
			return fmt.Errorf("revoked: %+v %v", c, err)
		}
		if registry.CertStatusOn(c, registry.Date{Year: 2030, Month: 1, Day: 1}) != registry.CertRevoked {
			return errors.New("revoked must stay revoked after the term")
		}
		return nil
	}))
	wantCode(t, s.View(ctx, func(tx registry.Tx) error { _, err := tx.Certificate(ctx, "nope"); return err }), registry.ErrNotFound)
}

// race runs fn n times at once and returns the errors.
func race(n int, fn func() error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn()
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// exactlyOne checks that one attempt won and every other lost with a
// lifecycle or conflict error (which one depends on timing).
func exactlyOne(t *testing.T, errs []error) {
	t.Helper()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, registry.ErrConflict), errors.Is(err, registry.ErrIllegalTransition):
		default:
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d attempts won, want exactly 1 (%v)", wins, errs)
	}
}

func testConcurrentDoubleApprove(t *testing.T, s RawStore) {
	ctx := ctxT(t)
	u := newUnit(t, s, "91370000MA3C000005")
	f := newFiling(t, s, u.ID, false)
	exactlyOne(t, race(4, func() error {
		return s.InTx(ctx, func(tx registry.Tx) error { return reviewFiling(ctx, tx, f.ID, registry.Approve) })
	}))
	var evs []registry.AuditEvent
	must(t, s.View(ctx, func(tx registry.Tx) (err error) { evs, err = tx.AuditEvents(ctx, 0, 100); return err }))
	reviews := 0
	for _, e := range evs {
		if e.Action == "filing.review" {
			reviews++
		}
	}
	if reviews != 1 {
		t.Fatalf("%d review events, want 1: the loser's audit event must roll back with it", reviews)
	}
}

func testConcurrentDoubleRevoke(t *testing.T, s RawStore) {
	ctx := ctxT(t)
	u := newUnit(t, s, "91370000MA3C000006")
	seal := newSeal(t, s, u.ID, 1)
	exactlyOne(t, race(4, func() error {
		return s.InTx(ctx, func(tx registry.Tx) error {
			cur, err := tx.Seal(ctx, seal.ID, registry.NoLock)
			if err != nil {
				return err
			}
			if err := registry.RevokeSeal(&cur, registry.ReasonCessationOfOperation, nil, time.Now()); err != nil {
				return err
			}
			if err := tx.UpdateSeal(ctx, &cur); err != nil {
				return err
			}
			return event(ctx, tx, "seal.revoke", "seal", cur.ID, cur.Reason)
		})
	}))
}

// testNumbering: 8 writers issue 500 numbers each; every number is used
// once and each sequence has no gaps, even with some transactions rolled back.
func testNumbering(t *testing.T, s RawStore) {
	ctx := ctxT(t)
	const writers, each = 8, 500
	var mu sync.Mutex
	var got []int64
	errRollback := errors.New("rolled back on purpose")
	errs := race(writers, func() error {
		for i := range each {
			var v int64
			for attempt := 0; ; attempt++ {
				err := s.InTx(ctx, func(tx registry.Tx) error {
					var err error
					if v, err = tx.NextSeq(ctx, registry.CertSeqName(2026)); err != nil {
						return err
					}
					if err := event(ctx, tx, "certificate.number", "sequence", v, v); err != nil {
						return err
					}
					if i%50 == 7 && attempt == 0 {
						return errRollback // this value must come again
					}
					return nil
				})
				if errors.Is(err, errRollback) {
					continue
				}
				if err != nil {
					return err
				}
				break
			}
			mu.Lock()
			got = append(got, v)
			mu.Unlock()
		}
		return nil
	})
	for _, err := range errs {
		must(t, err)
	}
	sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
	if len(got) != writers*each {
		t.Fatalf("%d numbers, want %d", len(got), writers*each)
	}
	for i, v := range got {
		if v != int64(i+1) {
			t.Fatalf("number %d is %d: duplicate or gap", i+1, v)
		}
	}
	// Another sequence starts at 1 on its own; values taken many at once
	// follow on.
	must(t, s.InTx(ctx, func(tx registry.Tx) error {
		v, err := tx.NextSeq(ctx, registry.CertSeqName(2027))
		if err == nil && v != 1 {
			err = fmt.Errorf("new sequence starts at %d", v)
		}
		if err == nil {
			if v, err = tx.NextSeqs(ctx, registry.CertSeqName(2027), 5); err == nil && v != 2 {
				err = fmt.Errorf("five values start at %d, want 2", v)
			}
		}
		if err == nil {
			if v, err = tx.NextSeq(ctx, registry.CertSeqName(2027)); err == nil && v != 7 {
				err = fmt.Errorf("the value after the five is %d, want 7", v)
			}
		}
		return err
	}))
	head, err := audit.Walk(ctx, fetcher(s), nil, audit.Head{})
	n := head.Seq
	must(t, err)
	if n != writers*each {
		t.Fatalf("audit chain has %d events, want %d (rolled-back events must not remain)", n, writers*each)
	}
}

func testIdempotency(t *testing.T, s RawStore) {
	ctx := ctxT(t)
	rec := registry.IdempotencyRecord{Key: "k-1", Scope: "key:1", RequestHash: []byte{1, 2}, Status: 201, Body: []byte(`{"ok":true}`), CreatedAt: t0}
	must(t, s.InTx(ctx, func(tx registry.Tx) error { return tx.PutIdempotency(ctx, &rec) }))
	wantCode(t, s.InTx(ctx, func(tx registry.Tx) error { dup := rec; return tx.PutIdempotency(ctx, &dup) }), registry.ErrDuplicate)
	must(t, s.View(ctx, func(tx registry.Tx) error {
		got, err := tx.Idempotency(ctx, "key:1", "k-1")
		if err != nil || got.Status != 201 || !bytes.Equal(got.Body, rec.Body) || !bytes.Equal(got.RequestHash, rec.RequestHash) {
			return fmt.Errorf("got %+v %v", got, err)
		}
		_, err = tx.Idempotency(ctx, "key:2", "k-1") // another caller's key space
		wantCode(t, err, registry.ErrNotFound)
		return nil
	}))
	// Concurrent duplicates: one stores, the others see ErrDuplicate.
	wins := 0
	for _, err := range race(4, func() error {
		return s.InTx(ctx, func(tx registry.Tx) error {
			r := rec
			r.Key = "k-race"
			return tx.PutIdempotency(ctx, &r)
		})
	}) {
		if err == nil {
			wins++
		} else if !errors.Is(err, registry.ErrDuplicate) && !errors.Is(err, registry.ErrConflict) {
			t.Fatalf("unexpected: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d concurrent puts won", wins)
	}
}

func testBatches(t *testing.T, s RawStore) {
	ctx := ctxT(t)
	u := newUnit(t, s, "91370000MA3C000007")
	b := registry.Batch{UnitID: u.ID, Actor: "unit:1", RequestID: "r1", State: registry.BatchRunning, CreatedAt: t0, IdempotencyKey: "batch-1"}
	rows := []registry.BatchRow{
		{Row: 1, Appointment: appointment(u.ID, "11010519491231002X"), State: registry.RowPending},
		{Row: 2, Appointment: appointment(u.ID, "110105194912310021"), State: registry.RowPending},
	}
	must(t, s.InTx(ctx, func(tx registry.Tx) error { return tx.CreateBatch(ctx, &b, rows) }))
	must(t, s.InTx(ctx, func(tx registry.Tx) error {
		r := rows[0]
		r.State, r.Number = registry.RowIssued, "372026000000015"
		return tx.UpdateBatchRow(ctx, &r)
	}))
	// A row is settled once.
	wantCode(t, s.InTx(ctx, func(tx registry.Tx) error {
		r := rows[0]
		r.State = registry.RowFailed
		return tx.UpdateBatchRow(ctx, &r)
	}), registry.ErrConflict)
	must(t, s.View(ctx, func(tx registry.Tx) error {
		got, err := tx.Batch(ctx, b.ID)
		if err != nil || got.Total != 2 || got.Issued != 1 || got.Failed != 0 {
			return fmt.Errorf("batch: %+v %v", got, err)
		}
		pending, err := tx.BatchRows(ctx, b.ID, registry.RowPending)
		if err != nil || len(pending) != 1 || pending[0].Row != 2 || pending[0].Appointment.IDNumber != "110105194912310021" {
			return fmt.Errorf("pending: %+v %v", pending, err)
		}
		unfinished, err := tx.UnfinishedBatches(ctx)
		if err != nil || len(unfinished) != 1 {
			return fmt.Errorf("unfinished: %+v %v", unfinished, err)
		}
		return nil
	}))
	must(t, s.InTx(ctx, func(tx registry.Tx) error {
		cur, err := tx.Batch(ctx, b.ID)
		if err != nil {
			return err
		}
		now := t0
		cur.State, cur.FinishedAt = registry.BatchDone, &now
		return tx.UpdateBatch(ctx, &cur)
	}))
	must(t, s.View(ctx, func(tx registry.Tx) error {
		unfinished, err := tx.UnfinishedBatches(ctx)
		if err != nil || len(unfinished) != 0 {
			return fmt.Errorf("unfinished after done: %+v %v", unfinished, err)
		}
		return nil
	}))
}

func fetcher(s registry.Store) audit.Fetch {
	return func(ctx context.Context, after int64, limit int) (evs []registry.AuditEvent, err error) {
		err = s.View(ctx, func(tx registry.Tx) error {
			evs, err = tx.AuditEvents(ctx, after, limit)
			return err
		})
		return evs, err
	}
}

// trail writes n audit events through transitions.
func trail(t *testing.T, s RawStore, n int) {
	for i := range n {
		newUnit(t, s, fmt.Sprintf("91370000MA3C%06d", 100+i))
	}
	head, err := audit.Walk(ctxT(t), fetcher(s), nil, audit.Head{})
	got := head.Seq
	must(t, err)
	if got != int64(n) {
		t.Fatalf("chain has %d events, want %d", got, n)
	}
}

func testAuditTamper(t *testing.T, s RawStore) {
	ctx := ctxT(t)
	trail(t, s, 6)
	// The attacker lifts the append-only guard and edits event 4.
	dropUpdateGuard(t, s)
	must(t, s.Exec(ctx, `UPDATE audit_events SET actor = 'someone else' WHERE seq = 4`))
	_, err := audit.Walk(ctx, fetcher(s), nil, audit.Head{})
	var br *audit.BreakError
	if !errors.As(err, &br) || br.Seq != 4 {
		t.Fatalf("got %v, want a break at event 4", err)
	}
}

func testAuditRemoved(t *testing.T, s RawStore) {
	ctx := ctxT(t)
	trail(t, s, 6)
	dropDeleteGuard(t, s)
	must(t, s.Exec(ctx, `DELETE FROM audit_events WHERE seq = 3`))
	_, err := audit.Walk(ctx, fetcher(s), nil, audit.Head{})
	var br *audit.BreakError
	if !errors.As(err, &br) || br.Seq != 3 {
		t.Fatalf("got %v, want a break at event 3", err)
	}
}

// rawStore carries the backend's description to the tests.
type rawStore struct {
	RawStore
	b Backend
}

// The guards are named the same on every backend (see migrations).
func dropUpdateGuard(t *testing.T, s RawStore) { dropGuard(t, s, "audit_events_frozen") }
func dropDeleteGuard(t *testing.T, s RawStore) { dropGuard(t, s, "audit_events_keep") }

func dropGuard(t *testing.T, s RawStore, trigger string) {
	must(t, s.Exec(ctxT(t), fmt.Sprintf(s.(rawStore).b.DropTrigger, trigger, "audit_events")))
}

func testNothingDeleted(t *testing.T, s RawStore) {
	ctx := ctxT(t)
	u := newUnit(t, s, "91370000MA3C000008")
	newFiling(t, s, u.ID, true)
	seal := newSeal(t, s, u.ID, 1)
	// Put a row in every table: a row trigger has nothing to refuse in an
	// empty one.
	must(t, s.InTx(ctx, func(tx registry.Tx) error {
		app := registry.SealApplication{UnitID: u.ID, Kind: registry.KindNew, Declaration: true, State: registry.ApplicationSubmitted}
		c := cert("372026000000023", 1, appointment(u.ID, "11010519491231002X"), seal)
		b := registry.Batch{UnitID: u.ID, State: registry.BatchRunning}
		return errors.Join(tx.CreateSealApplication(ctx, &app), tx.CreateCertificate(ctx, &c, []byte("%PDF")),
			tx.CreateAPIKey(ctx, &registry.APIKey{Hash: []byte("h"), Role: registry.RolePlatform}),
			tx.PutIdempotency(ctx, &registry.IdempotencyRecord{Scope: "s", Key: "k", RequestHash: []byte("h"), Body: []byte("b")}),
			tx.CreateBatch(ctx, &b, []registry.BatchRow{{Row: 1, State: registry.RowPending}}),
			tx.CreateSM2Seal(ctx, &registry.SM2Seal{SealID: seal.ID, KeyBlob: []byte("k"), CertDER: []byte("d"), Serial: "5e43", SESSeal: []byte("s")}), tx.CreateCertificateSES(ctx, c.Number, c.Version, []byte("ses")))
	}))
	must(t, s.InTx(ctx, func(tx registry.Tx) error {
		return tx.CreateIntegrityRecord(ctx, &registry.IntegrityRecord{UnitID: u.ID, Number: "n", Category: registry.RevokeForgery, Source: registry.FromRevocation, At: t0})
	}))
	for _, table := range []string{"units", "filings", "seals", "seal_applications", "certificates", "certificate_pdfs", "audit_events", "api_keys", "idempotency", "batches", "batch_rows", "integrity_records", "log_hashes", "seal_sm2", "certificate_ses"} {
		if err := s.Exec(ctx, `DELETE FROM `+table); err == nil {
			t.Errorf("DELETE FROM %s was allowed", table)
		}
	}
	if err := s.Exec(ctx, `UPDATE audit_events SET actor = 'x'`); err == nil {
		t.Error("UPDATE of audit events was allowed")
	}
	if err := s.Exec(ctx, `UPDATE log_hashes SET idx = idx + 1000`); err == nil {
		t.Error("UPDATE of the transparency log was allowed")
	}
	CheckLog(t, s)
	must(t, s.View(ctx, func(tx registry.Tx) error {
		if _, err := tx.Unit(ctx, u.ID); err != nil {
			return err
		}
		_, err := audit.Walk(ctx, fetcher(s), nil, audit.Head{})
		return err
	}))
}

func testRollback(t *testing.T, s RawStore) {
	ctx := ctxT(t)
	boom := errors.New("boom")
	err := s.InTx(ctx, func(tx registry.Tx) error {
		u := registry.Unit{Name: "x", USCC: "91370000MA3C000009", Jurisdiction: "威海市", CreatedAt: t0}
		if err := tx.CreateUnit(ctx, &u); err != nil {
			return err
		}
		if err := event(ctx, tx, "unit.create", "unit", u.ID, u); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("got %v", err)
	}
	must(t, s.View(ctx, func(tx registry.Tx) error {
		_, err := tx.UnitByUSCC(ctx, "91370000MA3C000009")
		wantCode(t, err, registry.ErrNotFound)
		evs, err := tx.AuditEvents(ctx, 0, 10)
		if len(evs) != 0 {
			return fmt.Errorf("audit events survived a rollback: %d", len(evs))
		}
		return err
	}))
	if n := CheckLog(t, s); n != 0 {
		t.Fatalf("a rolled-back event left %d leaves", n)
	}
}

// testPII is the key stores in this suite must be opened with (see NewPII).
var testPII = mustPII()

// PII returns the key the suite's stores must use, so the suite can compute
// dedup keys itself.
func PII() *registry.PII { return testPII }

func mustPII() *registry.PII {
	p, err := registry.NewPII(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		panic(err)
	}
	return p
}

func testIntegrityRecords(t *testing.T, s RawStore) {
	ctx := ctxT(t)
	a := newUnit(t, s, "91370000MA3C000010")
	b := registry.Unit{Name: "济南单位", USCC: "91370000MA3C000011", Jurisdiction: "济南市", CreatedAt: t0}
	must(t, s.InTx(ctx, func(tx registry.Tx) error { return tx.CreateUnit(ctx, &b) }))
	for _, u := range []registry.Unit{a, b} {
		must(t, s.InTx(ctx, func(tx registry.Tx) error {
			return tx.CreateIntegrityRecord(ctx, &registry.IntegrityRecord{UnitID: u.ID, Number: "372026000000013", HolderName: "王五",
				Category: registry.RevokeForgery, Source: registry.FromRevocation, Evidence: "学历造假", Actor: "unit", At: t0})
		}))
	}
	must(t, s.View(ctx, func(tx registry.Tx) error {
		all, err := tx.ListIntegrityRecords(ctx, "", 0, registry.Page{})
		if err != nil || len(all) != 2 {
			return fmt.Errorf("all: %v %v", all, err)
		}
		weihai, err := tx.ListIntegrityRecords(ctx, "威海市", 0, registry.Page{})
		if err != nil || len(weihai) != 1 || weihai[0].UnitID != a.ID || weihai[0].Evidence != "学历造假" || !weihai[0].At.Equal(t0) {
			return fmt.Errorf("by jurisdiction: %+v %v", weihai, err)
		}
		one, err := tx.ListIntegrityRecords(ctx, "", b.ID, registry.Page{})
		if err != nil || len(one) != 1 || one[0].UnitID != b.ID {
			return fmt.Errorf("by unit: %+v %v", one, err)
		}
		return nil
	}))
}

func testAPIKeyLifecycle(t *testing.T, s RawStore) {
	ctx := ctxT(t)
	expires := t0.Add(24 * time.Hour)
	keys := []registry.APIKey{
		{Hash: []byte("h1"), Role: registry.RolePlatform, Name: "province", CreatedAt: t0},
		{Hash: []byte("h2"), Role: registry.RoleReviewer, Jurisdiction: "威海市", CreatedAt: t0, ExpiresAt: &expires, CreatedBy: "platform#1"},
	}
	must(t, s.InTx(ctx, func(tx registry.Tx) error {
		for i := range keys {
			if err := tx.CreateAPIKey(ctx, &keys[i]); err != nil {
				return err
			}
		}
		return nil
	}))
	must(t, s.View(ctx, func(tx registry.Tx) error {
		k, err := tx.APIKey(ctx, keys[1].ID, registry.NoLock)
		if err == nil && k.CreatedBy != "platform#1" {
			t.Errorf("created_by %q, want platform#1", k.CreatedBy)
		}
		return err
	}))
	// Two revocations of one key race: exactly one wins, as with seals.
	errs := race(2, func() error {
		return s.InTx(ctx, func(tx registry.Tx) error {
			k, err := tx.APIKey(ctx, keys[0].ID, registry.LockUpdate)
			if err != nil {
				return err
			}
			if err := registry.RevokeAPIKey(&k, "test", t0.Add(time.Hour)); err != nil {
				return err
			}
			if err := tx.UpdateAPIKey(ctx, &k); err != nil {
				return err
			}
			return event(ctx, tx, "apikey.revoke", "apikey", k.ID, k)
		})
	})
	exactlyOne(t, errs)
	// The last use is written once per interval, however many requests.
	used := t0.Add(2 * time.Hour)
	for i := range 3 {
		at := used.Add(time.Duration(i) * time.Second)
		must(t, s.InTx(ctx, func(tx registry.Tx) error {
			return tx.TouchAPIKey(ctx, keys[1].ID, at, at.Add(-registry.APIKeyTouchEvery))
		}))
	}
	must(t, s.View(ctx, func(tx registry.Tx) error {
		list, err := tx.ListAPIKeys(ctx, registry.Page{})
		if err != nil || len(list) != 2 {
			return fmt.Errorf("list: %+v %v", list, err)
		}
		revoked, reviewer := list[0], list[1]
		if revoked.RevokedAt == nil || !revoked.RevokedAt.Equal(t0.Add(time.Hour)) || revoked.RevokedBy != "test" ||
			revoked.StateOn(t0) != registry.APIKeyRevoked {
			return fmt.Errorf("revoked key reads back as %+v", revoked)
		}
		if reviewer.ExpiresAt == nil || !reviewer.ExpiresAt.Equal(expires) || reviewer.LastUsedAt == nil || !reviewer.LastUsedAt.Equal(used) ||
			reviewer.StateOn(t0) != registry.APIKeyActive || reviewer.StateOn(expires) != registry.APIKeyExpired {
			return fmt.Errorf("reviewer key reads back as %+v", reviewer)
		}
		byHash, err := tx.APIKeyByHash(ctx, []byte("h1"))
		if err != nil || byHash.RevokedAt == nil {
			return fmt.Errorf("by hash: %+v %v", byHash, err)
		}
		second, err := tx.ListAPIKeys(ctx, registry.Page{AfterID: revoked.ID, Limit: 1})
		if err != nil || len(second) != 1 || second[0].ID != reviewer.ID {
			return fmt.Errorf("second page: %+v %v", second, err)
		}
		_, err = tx.APIKey(ctx, 999999, registry.NoLock)
		wantCode(t, err, registry.ErrNotFound)
		return nil
	}))
	// A revoked key stays revoked: revoking again is an illegal move.
	must(t, s.View(ctx, func(tx registry.Tx) error {
		k, err := tx.APIKey(ctx, keys[0].ID, registry.NoLock)
		if err != nil {
			return err
		}
		wantCode(t, registry.RevokeAPIKey(&k, "again", t0), registry.ErrIllegalTransition)
		return nil
	}))
}

func testCertificateListing(t *testing.T, s RawStore) {
	ctx := ctxT(t)
	a := newUnit(t, s, "91370000MA3C000012")
	b := newUnit(t, s, "91370000MA3C000013")
	sealA, sealB := newSeal(t, s, a.ID, 1), newSeal(t, s, b.ID, 1)
	const holder, other = "11010519491231002X", "110105194912310037"
	day := func(n int) time.Time { return t0.Add(time.Duration(n) * 24 * time.Hour) }
	number := func(seq int64) string {
		n, err := registry.FormatCertNumber(2026, seq)
		must(t, err)
		return n
	}
	expired := appointment(a.ID, other)
	expired.Series, expired.Level, expired.TermTo = "卫生", "中级", registry.Date{Year: 2025, Month: 12, Day: 31}
	senior := appointment(b.ID, holder)
	senior.Level = "正高级"
	certs := []registry.Certificate{
		cert(number(1), 1, appointment(a.ID, holder), sealA), // then superseded by version 2
		cert(number(2), 1, expired, sealA),
		cert(number(3), 1, appointment(a.ID, holder), sealA), // revoked
		cert(number(4), 1, senior, sealB),
		cert(number(1), 2, appointment(a.ID, holder), sealA),
	}
	certs[0].State = registry.CertSuperseded
	certs[1].BatchID = 7
	certs[2].State = registry.CertRevoked
	for i := range certs {
		certs[i].IssuedAt = day(i)
		certs[i].PDFSHA256 = []byte(fmt.Sprintf("listing pdf %d", i))
		must(t, s.InTx(ctx, func(tx registry.Tx) error { return tx.CreateCertificate(ctx, &certs[i], []byte("%PDF")) }))
	}
	on := registry.Today(t0)
	tests := []struct {
		name string
		q    registry.CertFilter
		want []int // indexes into certs, in order
	}{
		{"unit, newest versions", registry.CertFilter{UnitID: a.ID, LatestOnly: true}, []int{1, 2, 4}},
		{"series", registry.CertFilter{Series: "高校教师"}, []int{0, 2, 3, 4}},
		{"level", registry.CertFilter{Level: "正高级"}, []int{3}},
		{"valid", registry.CertFilter{Status: registry.CertValid, On: on}, []int{3, 4}},
		{"expired", registry.CertFilter{Status: registry.CertExpired, On: on}, []int{1}},
		{"revoked", registry.CertFilter{Status: registry.CertRevoked, On: on}, []int{2}},
		{"superseded", registry.CertFilter{Status: registry.CertSuperseded, On: on}, []int{0}},
		{"batch", registry.CertFilter{BatchID: 7}, []int{1}},
		{"issued in a range", registry.CertFilter{IssuedSince: day(1), IssuedUntil: day(3)}, []int{1, 2}},
		{"holder", registry.CertFilter{HolderIDNumber: holder}, []int{0, 2, 3, 4}},
		{"holder typed with a small x", registry.CertFilter{HolderIDNumber: "11010519491231002x", LatestOnly: true}, []int{2, 3, 4}},
		{"holder with nothing", registry.CertFilter{HolderIDNumber: "110105194912310010"}, nil},
		{"holder in one unit", registry.CertFilter{HolderIDNumber: holder, UnitID: b.ID}, []int{3}},
		{"first page", registry.CertFilter{UnitID: a.ID, Page: registry.Page{Limit: 2}}, []int{0, 1}},
		{"next page", registry.CertFilter{UnitID: a.ID, Page: registry.Page{AfterID: certs[1].RowID, Limit: 2}}, []int{2, 4}},
	}
	for _, tc := range tests {
		var got []registry.Certificate
		must(t, s.View(ctx, func(tx registry.Tx) (err error) {
			got, err = tx.ListCertificates(ctx, tc.q)
			return err
		}))
		var gotIdx []int
		for _, c := range got {
			for i := range certs {
				if certs[i].RowID == c.RowID {
					gotIdx = append(gotIdx, i)
				}
			}
		}
		if fmt.Sprint(gotIdx) != fmt.Sprint(tc.want) {
			t.Errorf("%s: got certificates %v, want %v", tc.name, gotIdx, tc.want)
		}
	}
	// What a listing leaves out is left out; the rest is read as stored.
	must(t, s.View(ctx, func(tx registry.Tx) error {
		for _, q := range []registry.CertFilter{
			{Number: certs[3].Number},
			{Number: certs[3].Number, WithoutPhoto: true},
			{Number: certs[3].Number, WithoutPersonalData: true},
		} {
			got, err := tx.ListCertificates(ctx, q)
			if err != nil || len(got) != 1 {
				return fmt.Errorf("%+v: %d, %v", q, len(got), err)
			}
			a := got[0].Appointment
			wantID, wantPhoto := !q.WithoutPersonalData, !q.WithoutPersonalData && !q.WithoutPhoto
			if (a.IDNumber == holder) != wantID || (string(a.Photo) == "jpeg bytes") != wantPhoto || a.Series != "高校教师" || got[0].Number != certs[3].Number {
				return fmt.Errorf("%+v read back ID %q, photo %q, series %q", q, a.IDNumber, a.Photo, a.Series)
			}
		}
		return nil
	}))
}
