// Package archive writes a unit's complete record to a directory for the
// 10-year retention the notice asks for, and checks such a directory
// offline: every file is listed in a manifest with its SHA-256, and every
// audit event still matches its own hash.
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
	"path/filepath"
	"slices"
	"sort"
	"strconv"
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
// its signed PDF, the audit events about any of these, and the manifest.
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

		filings, err := allFilings(ctx, tx, unitID)
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

		n, err := exportCertificates(ctx, tx, unitID, w, subjects, progress)
		if err != nil {
			return err
		}
		progress(fmt.Sprintf("%d certificate versions", n))
		events, err := exportAudit(ctx, tx, w, subjects)
		progress(fmt.Sprintf("%d audit events", events))
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

func allFilings(ctx context.Context, tx registry.Tx, unitID int64) ([]registry.Filing, error) {
	var out []registry.Filing
	for after := int64(0); ; {
		page, err := tx.ListFilings(ctx, registry.FilingFilter{UnitID: unitID, Page: registry.Page{AfterID: after, Limit: 1000}})
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < 1000 {
			return out, nil
		}
		after = page[len(page)-1].ID
	}
}

// exportCertificates writes certificates/<number>/v<N>.json and .pdf. The
// list is paged by row id; a page holds photos, so it is kept small.
func exportCertificates(ctx context.Context, tx registry.Tx, unitID int64, w *writer, subjects map[string]bool, progress Progress) (int, error) {
	n := 0
	for after := int64(0); ; {
		page, err := tx.ListCertificates(ctx, registry.CertFilter{UnitID: unitID, Page: registry.Page{AfterID: after, Limit: 200}})
		if err != nil {
			return n, err
		}
		for _, c := range page {
			subjects["certificate/"+c.Number] = true
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
func exportAudit(ctx context.Context, tx registry.Tx, w *writer, subjects map[string]bool) (int, error) {
	var buf bytes.Buffer
	n := 0
	for after := int64(0); ; {
		evs, err := tx.AuditEvents(ctx, after, 1000)
		if err != nil {
			return n, err
		}
		for _, e := range evs {
			if subjects[e.SubjectType+"/"+e.SubjectID] {
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

// Verify checks an archive directory offline: every file in the manifest is
// there with its size and SHA-256, no file is there that the manifest does
// not list, and every audit event matches its own hash. It returns every
// problem found, in path order; none means the archive is intact.
func Verify(dir string, progress Progress) ([]Problem, error) {
	if progress == nil {
		progress = func(string) {}
	}
	b, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return nil, fmt.Errorf("archive: read manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil || m.Format != format {
		return []Problem{{ManifestName, "not a certseal archive manifest (altered?)"}}, nil
	}
	var problems []Problem
	listed := map[string]bool{ManifestName: true}
	for i, f := range m.Files {
		listed[f.Path] = true
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
		if f.Path == "audit.jsonl" {
			problems = append(problems, checkEvents(data)...)
		}
		if (i+1)%1000 == 0 {
			progress(fmt.Sprintf("… %d of %d files checked", i+1, len(m.Files)))
		}
	}
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		if rel = filepath.ToSlash(rel); !listed[rel] {
			problems = append(problems, Problem{rel, "not in the manifest (added after export)"})
		}
		return nil
	})
	sort.Slice(problems, func(i, j int) bool { return problems[i].Path < problems[j].Path })
	return slices.Clip(problems), err
}

// checkEvents re-hashes every exported audit event. The chain links to
// events of other units, so only each event's own hash is checked here;
// `certseal audit verify` checks the whole chain in the database.
func checkEvents(data []byte) []Problem {
	var problems []Problem
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
	}
	return problems
}
