package archive

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/audit"
	"github.com/certseal/certseal/registry/sqlite"
	"github.com/certseal/certseal/registry/storetest"
)

// unitWithRecords stores a unit with a filing, a seal, two versions of a
// certificate and their audit events, plus a second unit that must not
// leak into the first one's archive.
func unitWithRecords(t *testing.T) (registry.Store, int64) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"), storetest.PII())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	now := time.Date(2026, 5, 6, 10, 0, 0, 0, registry.ChinaTZ)
	ev := func(tx registry.Tx, action, typ, id string) error {
		return tx.AppendAudit(ctx, &registry.AuditEvent{At: now, Actor: "t", Action: action, SubjectType: typ, SubjectID: id, PayloadDigest: audit.Digest(id)})
	}
	var unitID int64
	for i, uscc := range []string{"12371000494360979B", "91371000MA3C8ABCDY"} {
		err := s.InTx(ctx, func(tx registry.Tx) error {
			u := registry.Unit{Name: "单位", USCC: uscc, Jurisdiction: "威海市", CreatedAt: now}
			if err := tx.CreateUnit(ctx, &u); err != nil {
				return err
			}
			f := registry.Filing{UnitID: u.ID, Series: "高校教师", AppointedLast3Years: []int{1, 2, 3}, State: registry.FilingSubmitted, SubmittedAt: now}
			if err := tx.CreateFiling(ctx, &f); err != nil {
				return err
			}
			seal := registry.Seal{UnitID: u.ID, Version: 1, State: registry.SealActive, ImprintPNG: []byte("png"), KeyBlob: []byte("secret key blob"),
				CertDER: []byte("der"), Serial: uscc, CreatedAt: now}
			if err := tx.CreateSeal(ctx, &seal); err != nil {
				return err
			}
			number := []string{"372026000000013", "372026000000021"}[i]
			for v := 1; v <= 2; v++ {
				state := registry.CertValid
				if v == 1 {
					state = registry.CertSuperseded // by the correction, version 2
				}
				c := registry.Certificate{Number: number, Version: v, State: state, SealID: seal.ID, IssuedAt: now,
					TokenHash: []byte("t"), PDFSHA256: []byte(number + string(rune('0'+v))),
					Appointment: registry.Appointment{UnitID: u.ID, Name: "王", IDNumber: "370102198001010015", Photo: []byte("jpg"), Series: "高校教师"}}
				if err := tx.CreateCertificate(ctx, &c, []byte("%PDF "+number)); err != nil {
					return err
				}
			}
			unitID = u.ID
			return errors.Join(ev(tx, "unit.register", "unit", itoa(u.ID)), ev(tx, "certificate.sign", "certificate", number))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return s, unitID - 1 // the first unit
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

func TestExportAndVerify(t *testing.T) {
	s, unitID := unitWithRecords(t)
	dir := filepath.Join(t.TempDir(), "archive")
	m, err := Export(context.Background(), s, unitID, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]bool{}
	for _, f := range m.Files {
		paths[f.Path] = true
	}
	for _, want := range []string{"unit.json", "filings.json", "seals/seals.json", "certificates/372026000000013/v1.pdf",
		"certificates/372026000000013/v2.pdf", "audit.jsonl"} {
		if !paths[want] {
			t.Errorf("archive lacks %s", want)
		}
	}
	if paths["certificates/372026000000021/v1.pdf"] {
		t.Error("another unit's certificate is in the archive")
	}
	audit, _ := os.ReadFile(filepath.Join(dir, "audit.jsonl"))
	if n := strings.Count(string(audit), "\n"); n != 2 {
		t.Errorf("%d audit events, want the unit's 2", n)
	}
	if seals, _ := os.ReadFile(filepath.Join(dir, "seals/seals.json")); strings.Contains(string(seals), "secret key blob") ||
		strings.Contains(string(seals), "c2VjcmV0IGtleSBibG9i") {
		t.Error("a seal key is in the archive")
	}
	if problems, err := Verify(dir, nil); err != nil || len(problems) != 0 {
		t.Fatalf("fresh archive: %v %v", problems, err)
	}
	// Export refuses a directory in use.
	if _, err := Export(context.Background(), s, unitID, dir, nil); err == nil {
		t.Error("export over an existing archive was allowed")
	}

	tamper := []struct {
		name string
		do   func() error
		want string
	}{
		{"altered PDF", func() error {
			return os.WriteFile(filepath.Join(dir, "certificates/372026000000013/v2.pdf"), []byte("%PDF forged"), 0o600)
		}, "certificates/372026000000013/v2.pdf: altered"},
		{"missing file", func() error { return os.Remove(filepath.Join(dir, "filings.json")) }, "filings.json: missing"},
		{"added file", func() error { return os.WriteFile(filepath.Join(dir, "extra.pdf"), []byte("x"), 0o600) }, "extra.pdf: not in the manifest"},
	}
	for _, tc := range tamper {
		if err := tc.do(); err != nil {
			t.Fatal(err)
		}
		problems, err := Verify(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, p := range problems {
			found = found || strings.HasPrefix(p.String(), tc.want)
		}
		if !found {
			t.Errorf("%s: problems %v, want %q", tc.name, problems, tc.want)
		}
	}
}
