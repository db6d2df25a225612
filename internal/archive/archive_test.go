package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/certseal/certseal/keys"
	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/audit"
	"github.com/certseal/certseal/registry/sqlite"
	"github.com/certseal/certseal/registry/storetest"
)

// unitWithRecords stores a unit with a filing, a seal, two versions of a
// certificate, an integrity record, two batches and their audit events,
// plus a second unit that must not leak into the first one's archive.
// Batch "issued" is known only from the certificate it issued (no event),
// batch "failed" only from its events (it issued nothing).
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
			appt := registry.Appointment{UnitID: u.ID, Name: "王", IDNumber: "370102198001010015", Photo: []byte("jpg"), Series: "高校教师"}
			issued := registry.Batch{UnitID: u.ID, Actor: "t", State: registry.BatchDone, CreatedAt: now}
			if err := tx.CreateBatch(ctx, &issued, []registry.BatchRow{{Row: 1, Appointment: appt, State: registry.RowIssued, Number: number}}); err != nil {
				return err
			}
			failedAppt := appt
			failedAppt.IDNumber, failedAppt.Photo = "11010519491231002X", []byte("row photo "+uscc)
			failed := registry.Batch{UnitID: u.ID, Actor: "t", State: registry.BatchDone, CreatedAt: now}
			if err := tx.CreateBatch(ctx, &failed, []registry.BatchRow{{Row: 1, Appointment: failedAppt, State: registry.RowFailed, Error: "bad"}}); err != nil {
				return err
			}
			for v := 1; v <= 2; v++ {
				state := registry.CertValid
				if v == 1 {
					state = registry.CertSuperseded // by the correction, version 2
				}
				pdf := []byte(fmt.Sprintf("%%PDF %s v%d", number, v))
				sum := sha256.Sum256(pdf)
				c := registry.Certificate{Number: number, Version: v, State: state, SealID: seal.ID, IssuedAt: now,
					TokenHash: []byte("t"), PDFSHA256: sum[:], BatchID: issued.ID, Appointment: appt}
				if err := tx.CreateCertificate(ctx, &c, pdf); err != nil {
					return err
				}
			}
			rec := registry.IntegrityRecord{UnitID: u.ID, Number: number, HolderName: "王", Category: registry.RevokeForgery,
				Source: registry.FromUpload, Evidence: "evidence " + uscc, At: now}
			if err := tx.CreateIntegrityRecord(ctx, &rec); err != nil {
				return err
			}
			unitID = u.ID
			return errors.Join(ev(tx, "unit.register", "unit", itoa(u.ID)), ev(tx, "certificate.sign", "certificate", number),
				ev(tx, "batch.submit", "batch", itoa(failed.ID)), ev(tx, "batch.done", "batch", itoa(failed.ID)))
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
		"certificates/372026000000013/v2.pdf", "audit.jsonl", "integrity-records.json",
		"batches/1/batch.json", "batches/1/rows.json", "batches/2/batch.json", "batches/2/rows.json", "batches/2/row-1-photo"} {
		if !paths[want] {
			t.Errorf("archive lacks %s", want)
		}
	}
	for _, other := range []string{"certificates/372026000000021/v1.pdf", "batches/3/batch.json", "batches/4/batch.json"} {
		if paths[other] {
			t.Errorf("another unit's %s is in the archive", other)
		}
	}
	audit, _ := os.ReadFile(filepath.Join(dir, "audit.jsonl"))
	if n := strings.Count(string(audit), "\n"); n != 4 || !strings.Contains(string(audit), "batch.done") {
		t.Errorf("%d audit events, want the unit's 4 with its batch's", n)
	}
	records, _ := os.ReadFile(filepath.Join(dir, "integrity-records.json"))
	if !strings.Contains(string(records), "evidence 12371000494360979B") || strings.Contains(string(records), "91371000MA3C8ABCDY") {
		t.Errorf("integrity records: %s", records)
	}
	// A batch row's personal data is kept like a certificate's: the ID
	// number in the JSON, the photo beside it.
	if rows, _ := os.ReadFile(filepath.Join(dir, "batches/2/rows.json")); !strings.Contains(string(rows), "11010519491231002X") {
		t.Errorf("batch row without its appointment: %s", rows)
	}
	if photo, _ := os.ReadFile(filepath.Join(dir, "batches/2/row-1-photo")); string(photo) != "row photo 12371000494360979B" {
		t.Errorf("batch row photo %q", photo)
	}
	if seals, _ := os.ReadFile(filepath.Join(dir, "seals/seals.json")); strings.Contains(string(seals), "secret key blob") ||
		strings.Contains(string(seals), "c2VjcmV0IGtleSBibG9i") {
		t.Error("a seal key is in the archive")
	}
	if problems, err := Verify(context.Background(), dir, nil); err != nil || len(problems) != 0 {
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
		problems, err := Verify(context.Background(), dir, nil)
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

func TestExportPagesIntegrityRecords(t *testing.T) {
	s, unitID := unitWithRecords(t)
	ctx := context.Background()
	err := s.InTx(ctx, func(tx registry.Tx) error {
		for range pageSize { // with the fixture's one: more than a page
			if err := tx.CreateIntegrityRecord(ctx, &registry.IntegrityRecord{UnitID: unitID, Number: "372026000000013",
				Category: registry.RevokeAbuse, Source: registry.FromRevocation, At: time.Now()}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "archive")
	if _, err := Export(ctx, s, unitID, dir, nil); err != nil {
		t.Fatal(err)
	}
	var records []registry.IntegrityRecord
	b, _ := os.ReadFile(filepath.Join(dir, "integrity-records.json"))
	if err := json.Unmarshal(b, &records); err != nil || len(records) != pageSize+1 {
		t.Fatalf("%d integrity records (%v), want %d", len(records), err, pageSize+1)
	}
}

// TestVerifyForgedArchive forges archives as someone who can rewrite the
// whole directory, manifest included, would.
func TestVerifyForgedArchive(t *testing.T) {
	s, unitID := unitWithRecords(t)
	outside := filepath.Join(t.TempDir(), "outside.pdf")
	if err := os.WriteFile(outside, []byte("%PDF elsewhere"), 0o600); err != nil {
		t.Fatal(err)
	}
	const v2 = "certificates/372026000000013/v2"
	cases := []struct {
		name  string
		forge func(t *testing.T, dir string)
		want  string // "" wants an intact archive
	}{
		{"parent path", func(t *testing.T, dir string) {
			copyFile(t, outside, filepath.Join(dir, "..", "outside.pdf"))
			list(t, dir, "../outside.pdf")
		}, "../outside.pdf: not a clean path"},
		{"absolute path", func(t *testing.T, dir string) { list(t, dir, filepath.ToSlash(outside)) },
			filepath.ToSlash(outside) + ": not a clean path"},
		{"unclean path", func(t *testing.T, dir string) { list(t, dir, "certificates/../unit.json") },
			"certificates/../unit.json: not a clean path"},
		{"PDF replaced with its manifest entry", func(t *testing.T, dir string) {
			rewrite(t, dir, v2+".pdf", []byte("%PDF forged"))
		}, v2 + ".json: pdf_sha256 differs"},
		{"PDF removed with its manifest entry", func(t *testing.T, dir string) {
			must(t, os.Remove(filepath.Join(dir, filepath.FromSlash(v2+".pdf"))))
			editManifest(t, dir, func(m *Manifest) {
				m.Files = slices.DeleteFunc(m.Files, func(f File) bool { return f.Path == v2+".pdf" })
			})
		}, v2 + ".pdf: missing (v2.json describes it)"},
		{"record without pdf_sha256", func(t *testing.T, dir string) {
			rewrite(t, dir, v2+".json", []byte(`{"number": "372026000000013"}`))
		}, ""},
		{"event altered and re-hashed", func(t *testing.T, dir string) {
			editEvents(t, dir, func(evs []registry.AuditEvent) { evs[0].Actor = "someone else" })
		}, "audit.jsonl: chain broken: event 2 (line 2)"},
		{"link replaced and re-hashed", func(t *testing.T, dir string) {
			editEvents(t, dir, func(evs []registry.AuditEvent) { evs[1].PrevHash = audit.Digest("elsewhere") })
		}, "audit.jsonl: chain broken: event 2 (line 2)"},
		{"archive from before integrity records and batches", func(t *testing.T, dir string) {
			must(t, os.RemoveAll(filepath.Join(dir, "integrity-records.json")))
			must(t, os.RemoveAll(filepath.Join(dir, "batches")))
			editManifest(t, dir, func(m *Manifest) {
				m.Files = slices.DeleteFunc(m.Files, func(f File) bool {
					return f.Path == "integrity-records.json" || strings.HasPrefix(f.Path, "batches/")
				})
			})
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "archive")
			if _, err := Export(context.Background(), s, unitID, dir, nil); err != nil {
				t.Fatal(err)
			}
			tc.forge(t, dir)
			problems, err := Verify(context.Background(), dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if len(problems) > 0 {
					t.Fatalf("problems %v, want none", problems)
				}
				return
			}
			if !slices.ContainsFunc(problems, func(p Problem) bool { return strings.HasPrefix(p.String(), tc.want) }) {
				t.Errorf("problems %v, want %q", problems, tc.want)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	must(t, err)
	must(t, os.WriteFile(to, b, 0o600))
}

func editManifest(t *testing.T, dir string, edit func(*Manifest)) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, ManifestName))
	must(t, err)
	var m Manifest
	must(t, json.Unmarshal(b, &m))
	edit(&m)
	b, err = json.Marshal(m)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, ManifestName), b, 0o600))
}

// list adds a manifest entry that matches the file name points to.
func list(t *testing.T, dir, name string) {
	t.Helper()
	full := name
	if !filepath.IsAbs(filepath.FromSlash(name)) {
		full = filepath.Join(dir, filepath.FromSlash(name))
	}
	b, err := os.ReadFile(full)
	must(t, err)
	sum := sha256.Sum256(b)
	editManifest(t, dir, func(m *Manifest) {
		m.Files = append(m.Files, File{Path: name, Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:])})
	})
}

// rewrite replaces a file and its manifest entry.
func rewrite(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	must(t, os.WriteFile(filepath.Join(dir, filepath.FromSlash(name)), data, 0o600))
	sum := sha256.Sum256(data)
	editManifest(t, dir, func(m *Manifest) {
		for i := range m.Files {
			if m.Files[i].Path == name {
				m.Files[i].Size, m.Files[i].SHA256 = int64(len(data)), hex.EncodeToString(sum[:])
			}
		}
	})
}

// editEvents edits the exported events and re-hashes each, so every event
// still matches its own hash.
func editEvents(t *testing.T, dir string, edit func([]registry.AuditEvent)) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "audit.jsonl"))
	must(t, err)
	var evs []registry.AuditEvent
	for line := range strings.Lines(string(b)) {
		var e registry.AuditEvent
		must(t, json.Unmarshal([]byte(line), &e))
		evs = append(evs, e)
	}
	edit(evs)
	var out bytes.Buffer
	for _, e := range evs {
		sum := sha256.Sum256(audit.Canonical(&e))
		e.Hash = sum[:]
		line, err := json.Marshal(e)
		must(t, err)
		out.Write(append(line, '\n'))
	}
	rewrite(t, dir, "audit.jsonl", out.Bytes())
}

// Timestamp stamps every certificate PDF it can, names the ones it cannot,
// keeps what it wrote in the manifest, and a second run does only the rest.
func TestTimestampGoesOnPastAFailure(t *testing.T) {
	s, unitID := unitWithRecords(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "archive")
	if _, err := Export(ctx, s, unitID, dir, nil); err != nil {
		t.Fatal(err)
	}
	ca, err := keys.LoadOrCreateDevCA(filepath.Join(t.TempDir(), "pki"), nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	fail := true
	var stamped []string
	stamp := func(_ context.Context, pdf []byte) ([]byte, error) {
		if fail && strings.Contains(string(pdf), "v2") { // the fixture's PDFs name their version
			return nil, errors.New("TSA down")
		}
		stamped = append(stamped, string(pdf))
		return append(bytes.Clone(pdf), "\n% stamped\n"...), nil
	}
	n, sum, err := Timestamp(ctx, dir, ca.Root(), ca.Issuing(), stamp, nil)
	if err == nil || !strings.Contains(err.Error(), "TSA down") || !strings.Contains(err.Error(), "1 of 2 PDFs not time-stamped") {
		t.Fatalf("first run: %v", err)
	}
	if n != 1 || len(sum) != 64 {
		t.Fatalf("first run stamped %d, manifest %q", n, sum)
	}
	fail = false
	if n, _, err = Timestamp(ctx, dir, ca.Root(), ca.Issuing(), stamp, nil); err != nil || n != 1 {
		t.Fatalf("second run: %d %v", n, err)
	}
	if n, _, err = Timestamp(ctx, dir, ca.Root(), ca.Issuing(), stamp, nil); err != nil || n != 0 {
		t.Fatalf("third run: %d %v", n, err)
	}
	m, err := readManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	copies := 0
	for _, f := range m.Files {
		if strings.HasSuffix(f.Path, ltvSuffix) {
			copies++
		}
	}
	if copies != 2 || len(stamped) != 2 {
		t.Errorf("%d copies in the manifest, %d stamped; want 2 and 2", copies, len(stamped))
	}
}
