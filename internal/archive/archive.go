// Package archive writes a unit's complete record to a directory for the
// 10-year retention the notice asks for, and checks such a directory
// offline: every file is listed in a manifest with its SHA-256, every
// certificate record matches its PDF, and every audit event still matches
// its own hash and links to the exported event before it.
package archive

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/audit"
)

// ManifestName is the manifest file in an archive directory.
const ManifestName = "manifest.json"

// Manifest lists every file of an archive.
type Manifest struct {
	Format    string    `json:"format"` // "certseal-archive-v1"
	UnitID    int64     `json:"unit_id"`
	USCC      string    `json:"uscc"`
	CreatedAt time.Time `json:"created_at"`
	Files     []File    `json:"files"`
}

// File is one entry of the manifest.
type File struct {
	Path   string `json:"path"` // slash-separated, relative to the directory
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

const format = "certseal-archive-v1"

// Progress is told what is being written or checked.
type Progress func(what string)

// Export writes everything about one unit to dir, which must not exist or
// be empty: the unit, its filings, seal applications, seals (with their
// certificates, never their keys), every version of every certificate with
// its signed PDF, its integrity records (诚信档案), its batches with their
// rows, the audit events about any of these, and the manifest.
// Personal data is written in clear: the archive is the official record,
// kept by the operator (files are created 0600).
func Export(ctx context.Context, store registry.Store, unitID int64, dir string, progress Progress) (Manifest, error) {
	if progress == nil {
		progress = func(string) {}
	}
	if err := emptyDir(dir); err != nil {
		return Manifest{}, err
	}
	w := &writer{dir: dir}
	m := Manifest{Format: format, UnitID: unitID, CreatedAt: time.Now().UTC()}
	subjects := map[string]bool{}
	err := store.View(ctx, func(tx registry.Tx) error {
		unit, err := tx.Unit(ctx, unitID)
		if err != nil {
			return err
		}
		m.USCC = unit.USCC
		subjects["unit/"+strconv.FormatInt(unit.ID, 10)] = true
		w.json("unit.json", unit)

		filings, err := all(func(after int64) ([]registry.Filing, error) {
			return tx.ListFilings(ctx, registry.FilingFilter{UnitID: unitID, Page: registry.Page{AfterID: after, Limit: pageSize}})
		}, func(f registry.Filing) int64 { return f.ID })
		if err != nil {
			return err
		}
		for _, f := range filings {
			subjects["filing/"+strconv.FormatInt(f.ID, 10)] = true
		}
		w.json("filings.json", filings)

		apps, err := tx.ListSealApplications(ctx, unitID)
		if err != nil {
			return err
		}
		for i, a := range apps {
			subjects["seal_application/"+strconv.FormatInt(a.ID, 10)] = true
			w.file(fmt.Sprintf("seal-applications/%d-imprint.png", a.ID), apps[i].ImprintPNG)
		}
		w.json("seal-applications/applications.json", apps)

		seals, err := tx.ListSeals(ctx, unitID)
		if err != nil {
			return err
		}
		for _, s := range seals {
			subjects["seal/"+strconv.FormatInt(s.ID, 10)] = true
			w.file(fmt.Sprintf("seals/v%d-certificate.der", s.Version), s.CertDER)
			w.file(fmt.Sprintf("seals/v%d-imprint.png", s.Version), s.ImprintPNG)
		}
		w.json("seals/seals.json", seals)
		progress(fmt.Sprintf("unit, %d filings, %d seal applications, %d seals", len(filings), len(apps), len(seals)))

		records, err := all(func(after int64) ([]registry.IntegrityRecord, error) {
			return tx.ListIntegrityRecords(ctx, "", unitID, registry.Page{AfterID: after, Limit: pageSize})
		}, func(r registry.IntegrityRecord) int64 { return r.ID })
		if err != nil {
			return err
		}
		w.json("integrity-records.json", records)
		progress(fmt.Sprintf("%d integrity records", len(records)))

		batches := &batchSet{unitID: unitID, of: map[int64]bool{}}
		n, err := exportCertificates(ctx, tx, unitID, w, subjects, batches, progress)
		if err != nil {
			return err
		}
		progress(fmt.Sprintf("%d certificate versions", n))
		events, err := exportAudit(ctx, tx, w, subjects, batches)
		if err != nil {
			return err
		}
		progress(fmt.Sprintf("%d audit events", events))
		n, err = exportBatches(ctx, tx, w, batches)
		progress(fmt.Sprintf("%d batches", n))
		return err
	})
	if err == nil {
		err = w.err
	}
	if err != nil {
		return m, fmt.Errorf("archive: export unit %d: %w", unitID, err)
	}
	m.Files = w.files
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, err
	}
	return m, os.WriteFile(filepath.Join(dir, ManifestName), b, 0o600)
}

// pageSize is the most the stores return in one page.
const pageSize = 1000

// all pages through a list ordered by id; list returns the page after id.
func all[T any](list func(after int64) ([]T, error), id func(T) int64) ([]T, error) {
	var out []T
	for after := int64(0); ; {
		page, err := list(after)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < pageSize {
			return out, nil
		}
		after = id(page[len(page)-1])
	}
}

// exportCertificates writes certificates/<number>/v<N>.json and .pdf. The
// list is paged by row id; a page holds photos, so it is kept small.
func exportCertificates(ctx context.Context, tx registry.Tx, unitID int64, w *writer, subjects map[string]bool, batches *batchSet, progress Progress) (int, error) {
	n := 0
	for after := int64(0); ; {
		page, err := tx.ListCertificates(ctx, registry.CertFilter{UnitID: unitID, Page: registry.Page{AfterID: after, Limit: 200}})
		if err != nil {
			return n, err
		}
		for _, c := range page {
			subjects["certificate/"+c.Number] = true
			if c.BatchID != 0 {
				if _, err := batches.has(ctx, tx, c.BatchID); err != nil {
					return n, err
				}
			}
			pdf, err := tx.CertificatePDF(ctx, c.Number, c.Version)
			if err != nil {
				return n, err
			}
			base := fmt.Sprintf("certificates/%s/v%d", c.Number, c.Version)
			w.json(base+".json", certificateRecord{Certificate: c, PDFSHA256: hex.EncodeToString(c.PDFSHA256), IDNumber: c.Appointment.IDNumber})
			w.file(base+".pdf", pdf)
			w.file(base+"-photo", c.Appointment.Photo)
			n++
		}
		progress(fmt.Sprintf("… %d certificate versions", n))
		if len(page) < 200 {
			return n, nil
		}
		after = page[len(page)-1].RowID
	}
}

// certificateRecord adds what the registry's JSON form leaves out.
type certificateRecord struct {
	registry.Certificate
	PDFSHA256 string `json:"pdf_sha256"`
	IDNumber  string `json:"id_number"`
}

// exportAudit writes the unit's events as JSON lines, in chain order.
// Events about a batch are the unit's when the batch is.
func exportAudit(ctx context.Context, tx registry.Tx, w *writer, subjects map[string]bool, batches *batchSet) (int, error) {
	var buf bytes.Buffer
	n := 0
	for after := int64(0); ; {
		evs, err := tx.AuditEvents(ctx, after, 1000)
		if err != nil {
			return n, err
		}
		for _, e := range evs {
			ours := subjects[e.SubjectType+"/"+e.SubjectID]
			if id, err := strconv.ParseInt(e.SubjectID, 10, 64); err == nil && e.SubjectType == "batch" {
				if ours, err = batches.has(ctx, tx, id); err != nil {
					return n, err
				}
			}
			if ours {
				b, err := json.Marshal(e)
				if err != nil {
					return n, err
				}
				buf.Write(b)
				buf.WriteByte('\n')
				n++
			}
		}
		if len(evs) < 1000 {
			break
		}
		after = evs[len(evs)-1].Seq
	}
	w.file("audit.jsonl", buf.Bytes())
	return n, nil
}

// batchSet finds the unit's batches. The registry cannot list a unit's
// batches, but every batch is submitted with a batch.submit event and the
// certificates it issued carry its id, so each is met on the way.
type batchSet struct {
	unitID int64
	of     map[int64]bool // batch id: whether it is the unit's
}

func (b *batchSet) has(ctx context.Context, tx registry.Tx, id int64) (bool, error) {
	if ours, seen := b.of[id]; seen {
		return ours, nil
	}
	batch, err := tx.Batch(ctx, id)
	if errors.Is(err, registry.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	b.of[id] = batch.UnitID == b.unitID
	return b.of[id], nil
}

// exportBatches writes batches/<id>/batch.json and rows.json. A row's
// appointment is personal data kept like a certificate version's: the ID
// number in the JSON, the photo beside it (row-<n>-photo).
func exportBatches(ctx context.Context, tx registry.Tx, w *writer, batches *batchSet) (int, error) {
	var ids []int64
	for id, ours := range batches.of {
		if ours {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		b, err := tx.Batch(ctx, id)
		if err != nil {
			return 0, err
		}
		rows, err := tx.BatchRows(ctx, id, "")
		if err != nil {
			return 0, err
		}
		base := fmt.Sprintf("batches/%d/", id)
		records := make([]batchRowRecord, len(rows))
		for i, r := range rows {
			records[i] = batchRowRecord{BatchRow: r, Appointment: r.Appointment}
			w.file(fmt.Sprintf("%srow-%d-photo", base, r.Row), r.Appointment.Photo)
		}
		w.json(base+"batch.json", b)
		w.json(base+"rows.json", records)
	}
	return len(ids), nil
}

// batchRowRecord adds the appointment the registry's JSON form of a row
// leaves out.
type batchRowRecord struct {
	registry.BatchRow
	Appointment registry.Appointment `json:"appointment"`
}

// writer writes files and remembers them for the manifest; the first
// error sticks.
type writer struct {
	dir   string
	files []File
	err   error
}

func (w *writer) json(path string, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		w.err = cmpErr(w.err, err)
		return
	}
	w.file(path, b)
}

func (w *writer) file(path string, data []byte) {
	if w.err != nil {
		return
	}
	full := filepath.Join(w.dir, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(full), 0o700); err != nil {
		w.err = err
		return
	}
	if err := os.WriteFile(full, data, 0o600); err != nil {
		w.err = err
		return
	}
	sum := sha256.Sum256(data)
	w.files = append(w.files, File{Path: path, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])})
}

func cmpErr(old, err error) error {
	if old != nil {
		return old
	}
	return err
}

func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return os.MkdirAll(dir, 0o700)
	}
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return fmt.Errorf("archive: %s is not empty; choose a new directory", dir)
	}
	return nil
}

// Problem is one thing wrong with an archive directory.
type Problem struct {
	Path   string
	Reason string
}

func (p Problem) String() string { return p.Path + ": " + p.Reason }

// Verify checks an archive directory offline: every path in the manifest
// stays inside the directory, every file in the manifest is there with its
// size and SHA-256, no file is there that the manifest does not list, every
// certificate record's pdf_sha256 is its PDF's, and every audit event
// matches its own hash and links to the exported event before it. Where
// the archive carries the platform's trust anchors (pki/, written by
// Timestamp), every certificate PDF's seal signature and time-stamp are
// checked against them, and every long-term copy's document time-stamp.
// It returns every problem found, in path order; none means the archive
// is intact.
func Verify(ctx context.Context, dir string, progress Progress) ([]Problem, error) {
	if progress == nil {
		progress = func(string) {}
	}
	sigs, fingerprint, err := newSignatureChecker(dir)
	if err != nil {
		return []Problem{{rootPath, "unreadable trust anchors: " + err.Error()}}, nil
	}
	if sigs != nil {
		progress("checking signatures and time-stamps against the archive's root certificate, SHA-256 " + fingerprint +
			" (compare it with the platform's /pki/root.crt)")
	}
	m, err := readManifest(dir)
	if errors.Is(err, errNotManifest) {
		return []Problem{{ManifestName, "not a certseal archive manifest (altered?)"}}, nil
	}
	if err != nil {
		return nil, err
	}
	var problems []Problem
	listed := map[string]string{ManifestName: ""} // path: SHA-256 in the manifest
	var claims []pdfClaim
	for i, f := range m.Files {
		// An altered manifest must not make Verify read, and vouch for,
		// files outside the archive.
		if !filepath.IsLocal(filepath.FromSlash(f.Path)) || path.Clean(f.Path) != f.Path {
			problems = append(problems, Problem{f.Path, "not a clean path inside the archive (absolute or with ..); not read"})
			continue
		}
		listed[f.Path] = f.SHA256
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Path)))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			problems = append(problems, Problem{f.Path, "missing"})
			continue
		case err != nil:
			problems = append(problems, Problem{f.Path, err.Error()})
			continue
		}
		sum := sha256.Sum256(data)
		if int64(len(data)) != f.Size || hex.EncodeToString(sum[:]) != f.SHA256 {
			problems = append(problems, Problem{f.Path, "altered (size or SHA-256 differs from the manifest)"})
			continue
		}
		if sigs != nil && (isCertificatePDF(f.Path) || strings.HasSuffix(f.Path, ltvSuffix)) {
			problems = append(problems, sigs.check(ctx, f.Path, data)...)
		}
		switch {
		case f.Path == "audit.jsonl":
			problems = append(problems, checkEvents(data)...)
		case strings.HasPrefix(f.Path, "certificates/") && path.Ext(f.Path) == ".json":
			var rec struct {
				PDFSHA256 string `json:"pdf_sha256"`
			}
			if err := json.Unmarshal(data, &rec); err != nil {
				problems = append(problems, Problem{f.Path, "not a certificate record"})
			} else if rec.PDFSHA256 != "" {
				claims = append(claims, pdfClaim{f.Path, rec.PDFSHA256})
			}
		}
		if (i+1)%1000 == 0 {
			progress(fmt.Sprintf("… %d of %d files checked", i+1, len(m.Files)))
		}
	}
	problems = append(problems, checkClaims(claims, listed)...)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if _, ok := listed[rel]; !ok {
			problems = append(problems, Problem{rel, "not in the manifest (added after export)"})
		}
		return nil
	})
	sort.Slice(problems, func(i, j int) bool { return problems[i].Path < problems[j].Path })
	return slices.Clip(problems), err
}

// pdfClaim is the pdf_sha256 a certificate record (vN.json) gives for the
// vN.pdf beside it.
type pdfClaim struct {
	record, sha256 string
}

// checkClaims compares each record's pdf_sha256 with the manifest's digest
// of its PDF, which the file itself was checked against: a PDF replaced
// together with its manifest entry still differs from its record.
func checkClaims(claims []pdfClaim, listed map[string]string) []Problem {
	var problems []Problem
	for _, c := range claims {
		pdf := strings.TrimSuffix(c.record, ".json") + ".pdf"
		switch sum, ok := listed[pdf]; {
		case !ok:
			problems = append(problems, Problem{pdf, "missing (" + path.Base(c.record) + " describes it)"})
		case !strings.EqualFold(sum, c.sha256):
			problems = append(problems, Problem{c.record, "pdf_sha256 differs from the SHA-256 of " + path.Base(pdf)})
		}
	}
	return problems
}

// checkEvents re-hashes every exported audit event and checks each link
// between events that follow each other in the chain (seq differs by 1;
// the first event links to nothing). The chain runs through events of other
// units, which are not exported, so links across them cannot be checked
// here; `certseal audit verify` checks the whole chain in the database.
func checkEvents(data []byte) []Problem {
	var problems []Problem
	var prevSeq int64 // the event before the first has seq 0 and no hash
	var prevHash []byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		var e registry.AuditEvent
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			problems = append(problems, Problem{"audit.jsonl", fmt.Sprintf("line %d is not an audit event", line)})
			continue
		}
		sum := sha256.Sum256(audit.Canonical(&e))
		if !bytes.Equal(sum[:], e.Hash) {
			problems = append(problems, Problem{"audit.jsonl", fmt.Sprintf("event %d (line %d) does not match its hash", e.Seq, line)})
		}
		if e.Seq == prevSeq+1 && !bytes.Equal(e.PrevHash, prevHash) {
			problems = append(problems, Problem{"audit.jsonl", fmt.Sprintf("chain broken: event %d (line %d) does not link to event %d before it", e.Seq, line, prevSeq)})
		}
		prevSeq, prevHash = e.Seq, e.Hash
	}
	return problems
}
