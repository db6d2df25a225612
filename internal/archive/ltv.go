package archive

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/certseal/certseal/keys"
	"github.com/certseal/certseal/signer"
	"github.com/certseal/certseal/verify"
)

// The platform's trust anchors in an archive (PEM), so that its signatures
// and time-stamps can be checked offline. They prove nothing by being
// there: Verify prints the root's fingerprint for the operator to compare
// with the platform's own.
const (
	rootPath    = "pki/root.crt"
	issuingPath = "pki/issuing.crt"
)

// ltvSuffix names the long-term copy of a certificate PDF: vN.ltv.pdf is
// vN.pdf, byte for byte, followed by a document time-stamp and DSS.
const ltvSuffix = ".ltv.pdf"

// Stamper adds a document time-stamp and revocation data to a signed PDF
// in an incremental update (signer.AddDocumentTimestamp with the
// platform's TSA and the seal's revocation data).
type Stamper func(ctx context.Context, pdf []byte) ([]byte, error)

// Timestamp gives every certificate PDF of the archive in dir a long-term
// copy beside it (vN.ltv.pdf): the signed bytes unchanged, then a document
// time-stamp, so certificates signed before signatures carried a
// time-stamp gain a proof of time, and every certificate gets fresh
// revocation data. The originals are not touched: their records keep
// pointing at them. It writes the platform's root and issuing CA
// certificates into the archive, adds everything to the manifest, skips
// PDFs that already have a copy (so an interrupted run can be repeated),
// and refuses a PDF that no longer matches the manifest. A PDF that cannot
// be stamped is named in the error and the others are still stamped.
// The manifest changes: its new SHA-256 is returned, to keep apart.
func Timestamp(ctx context.Context, dir string, root, issuing *x509.Certificate, stamp Stamper, progress Progress) (added int, manifestSHA256 string, err error) {
	if progress == nil {
		progress = func(string) {}
	}
	m, err := readManifest(dir)
	if err != nil {
		return 0, "", err
	}
	listed := map[string]File{}
	for _, f := range m.Files {
		listed[f.Path] = f
	}
	var todo []File
	for _, f := range m.Files {
		if isCertificatePDF(f.Path) {
			if _, done := listed[ltvPath(f.Path)]; !done {
				todo = append(todo, f)
			}
		}
	}
	w := &writer{dir: dir}
	for _, a := range []struct {
		path string
		cert *x509.Certificate
	}{{rootPath, root}, {issuingPath, issuing}} {
		if _, ok := listed[a.path]; !ok {
			w.file(a.path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.cert.Raw}))
		}
	}
	var failed []error
	for i, f := range todo {
		if ctx.Err() != nil || w.err != nil { // cancelled, or the archive cannot be written
			break
		}
		if err := stampOne(ctx, dir, f, stamp, w); err != nil {
			failed = append(failed, err)
			progress(err.Error())
		} else {
			added++
		}
		if (i+1)%100 == 0 {
			progress(fmt.Sprintf("… %d of %d PDFs time-stamped", i+1, len(todo)))
		}
	}
	// What was written is kept in the manifest even when a PDF failed: a
	// second run goes on from there.
	m.Files = append(m.Files, w.files...)
	if manifestSHA256, err = writeManifest(dir, m); err != nil {
		return added, "", err
	}
	errs := append([]error{w.err, ctx.Err()}, failed...)
	if len(failed) > 0 {
		errs = append(errs, fmt.Errorf("%d of %d PDFs not time-stamped", len(failed), len(todo)))
	}
	if err := errors.Join(errs...); err != nil {
		return added, manifestSHA256, fmt.Errorf("archive: time-stamp %s: %w", dir, err)
	}
	return added, manifestSHA256, nil
}

// stampOne writes the long-term copy of the certificate PDF f.
func stampOne(ctx context.Context, dir string, f File, stamp Stamper, w *writer) error {
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Path)))
	if err != nil {
		return err
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != f.SHA256 {
		return fmt.Errorf("%s does not match the manifest (altered?); not stamped", f.Path)
	}
	stamped, err := stamp(ctx, data)
	if err != nil {
		return fmt.Errorf("%s: %w", f.Path, err)
	}
	w.file(ltvPath(f.Path), stamped)
	return w.err
}

func isCertificatePDF(p string) bool {
	return strings.HasPrefix(p, "certificates/") && path.Ext(p) == ".pdf" && !strings.HasSuffix(p, ltvSuffix)
}

func ltvPath(pdfPath string) string { return strings.TrimSuffix(pdfPath, ".pdf") + ltvSuffix }

func readManifest(dir string) (Manifest, error) {
	var m Manifest
	b, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return m, fmt.Errorf("archive: read manifest: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil || m.Format != format {
		return m, errNotManifest
	}
	return m, nil
}

var errNotManifest = errors.New("archive: not a certseal archive manifest")

// writeManifest replaces the manifest in one step, synced, so a crash
// leaves the old or the new one, never half of one; it returns the new
// one's SHA-256.
func writeManifest(dir string, m Manifest) (string, error) {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return "", err
	}
	tmp := filepath.Join(dir, ManifestName+".new")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return "", err
	}
	_, err = f.Write(b)
	err = errors.Join(err, f.Sync(), f.Close())
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, ManifestName))
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return "", fmt.Errorf("archive: write manifest: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// signatureChecker checks the PDFs of an archive that carries the
// platform's trust anchors: each certificate PDF's seal signature and its
// time-stamp, and each long-term copy's document time-stamp.
type signatureChecker struct {
	pdfTrust verify.PDFTrust
	tsTrust  keys.TimestampTrust
	pdfs     map[string]signedBytes // certificate PDFs checked so far, for their copies
}

type signedBytes struct {
	size int
	sum  [32]byte
}

// newSignatureChecker reads the archive's anchors; ok is false when the
// archive has none (exported before they were written), and the
// fingerprint is the root's SHA-256.
func newSignatureChecker(dir string) (c *signatureChecker, fingerprint string, err error) {
	root, err := keys.ReadCertFile(filepath.Join(dir, rootPath))
	if errors.Is(err, os.ErrNotExist) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	issuing, err := keys.ReadCertFile(filepath.Join(dir, issuingPath))
	if err != nil {
		return nil, "", err
	}
	sum := sha256.Sum256(root.Raw)
	chains := &keys.ChainMemo{} // an archive's tokens come from a few TSAs
	return &signatureChecker{
		pdfTrust: verify.PDFTrust{Root: root, Issuing: []*x509.Certificate{issuing}, Timestamps: keys.TimestampTrust{Chains: chains}},
		tsTrust:  keys.TimestampTrust{Roots: []*x509.Certificate{root}, Intermediates: []*x509.Certificate{issuing}, Chains: chains},
		pdfs:     map[string]signedBytes{},
	}, hex.EncodeToString(sum[:]), nil
}

// check returns what is wrong with the certificate PDF or copy at p.
func (c *signatureChecker) check(ctx context.Context, p string, data []byte) []Problem {
	if !strings.HasSuffix(p, ltvSuffix) {
		c.pdfs[p] = signedBytes{len(data), sha256.Sum256(data)}
		res := verify.CheckPDF(ctx, data, c.pdfTrust)
		switch {
		case res.Indication != verify.Passed:
			return []Problem{{p, "seal signature: " + res.Indication + " " + res.SubIndication + ": " + res.Detail}}
		case res.TimestampStatus == verify.TimestampInvalid:
			return []Problem{{p, "signature time-stamp does not verify: " + res.TimestampDetail}}
		}
		return nil
	}
	orig, ok := c.pdfs[strings.TrimSuffix(p, ltvSuffix)+".pdf"]
	switch {
	case !ok:
		return []Problem{{p, "a long-term copy without its certificate PDF"}}
	case len(data) <= orig.size || sha256.Sum256(data[:orig.size]) != orig.sum:
		return []Problem{{p, "does not begin with the signed bytes of " + path.Base(strings.TrimSuffix(p, ltvSuffix)+".pdf")}}
	}
	if _, err := signer.CheckDocumentTimestamp(data, c.tsTrust); err != nil {
		return []Problem{{p, "document time-stamp: " + err.Error()}}
	}
	return nil
}
