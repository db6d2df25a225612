package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/audit"
	"github.com/certseal/certseal/signer"
	"github.com/certseal/certseal/verify"
)

// checkpointOf fetches and opens the current checkpoint with the key the
// log publishes.
func (w *e2eWorld) checkpointOf(v note.Verifier) audit.Checkpoint {
	w.t.Helper()
	rec := w.must(call{method: "GET", path: "/log/checkpoint"}, http.StatusOK, nil)
	cp, err := audit.OpenCheckpoint(rec.Body.Bytes(), v)
	if err != nil {
		w.t.Fatalf("checkpoint %q: %v", rec.Body, err)
	}
	return cp
}

// checkEntry checks a certificate's log entry as an outside verifier
// would, with tlog itself: the event hashes to the leaf, the proof leads
// from the leaf to the checkpoint's root, and the checkpoint is signed.
func checkEntry(t *testing.T, v note.Verifier, e verify.CertificateEntry, number string, version int) {
	t.Helper()
	if e.Event.Action != "certificate.sign" || e.Event.SubjectID != number || e.LeafIndex != audit.LeafIndex(e.Event.Seq) {
		t.Fatalf("entry of %s v%d is event %d %s %s at leaf %d", number, version, e.Event.Seq, e.Event.Action, e.Event.SubjectID, e.LeafIndex)
	}
	data := sha256.Sum256(audit.Canonical(&e.Event))
	if !bytes.Equal(data[:], e.Event.Hash) {
		t.Fatal("the event does not hash to its hash member")
	}
	if err := tlog.CheckRecord(e.Proof, e.TreeSize, e.RootHash, e.LeafIndex, tlog.RecordHash(data[:])); err != nil {
		t.Fatalf("inclusion proof of leaf %d in %d: %v", e.LeafIndex, e.TreeSize, err)
	}
	cp, err := audit.OpenCheckpoint([]byte(e.Checkpoint), v)
	if err != nil || cp.Size != e.TreeSize || cp.Root != e.RootHash {
		t.Fatalf("checkpoint %+v (%v) is not the proof's tree %d %s", cp, err, e.TreeSize, e.RootHash)
	}
}

func TestTransparencyLogOverHTTP(t *testing.T) {
	w := newWorld(t)
	rec := w.must(call{method: "GET", path: "/log/key"}, http.StatusOK, nil)
	v, err := note.NewVerifier(strings.TrimSpace(rec.Body.String()))
	if err != nil {
		t.Fatalf("/log/key %q: %v", rec.Body, err)
	}
	before := w.checkpointOf(v)
	// Every committed event is a leaf: the count of the trail is the size.
	var events int64
	must(t, w.raw.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM audit_events`).Scan(&events))
	if before.Size != events || before.Origin != "certseal.test/log" {
		t.Fatalf("checkpoint %+v, %d audit events", before, events)
	}

	// The QR token's JSON carries the version's entry, checked by tlog.
	var ans struct {
		verify.Answer
		Log verify.CertificateEntry `json:"log"`
	}
	path := "/v/" + w.a.cert + "?k=" + w.a.token
	w.must(call{method: "GET", path: path, header: map[string]string{"Accept": "application/json"}}, http.StatusOK, &ans)
	checkEntry(t, v, ans.Log, w.a.cert, 1)
	if ans.Log.TreeSize != before.Size || ans.Number != w.a.cert || ans.Version != 1 {
		t.Fatalf("answer for %s v%d against tree %d, checkpoint %d", ans.Number, ans.Version, ans.Log.TreeSize, before.Size)
	}
	// The page, the one that is cached, carries no proof.
	html := w.must(call{method: "GET", path: path, header: map[string]string{"Accept": "text/html"}}, http.StatusOK, nil)
	if strings.Contains(html.Body.String(), "inclusion_proof") || strings.Contains(html.Body.String(), e2eCheckpointLine(before)) {
		t.Error("the HTML page carries the log entry")
	}

	// A reissue appends; version 2's entry is its own signing, and the
	// old checkpoint is consistent with the new one.
	var c2 certAnswer
	w.must(call{method: "POST", path: "/api/v1/certificates/" + w.a.cert + "/reissue", key: w.a.key,
		body: withField(w.appointment(w.a.ID), "post", "教授")}, http.StatusCreated, &c2)
	after := w.checkpointOf(v)
	if after.Size <= before.Size {
		t.Fatalf("the log did not grow with a reissue: %d then %d", before.Size, after.Size)
	}
	var e2 verify.CertificateEntry
	w.must(call{method: "GET", path: "/log/certificates/" + c2.Number + "?k=" + tokenOf(t, c2.VerifyURL)}, http.StatusOK, &e2)
	checkEntry(t, v, e2, c2.Number, 2)
	if e2.LeafIndex <= ans.Log.LeafIndex {
		t.Errorf("version 2 at leaf %d, not after version 1's %d", e2.LeafIndex, ans.Log.LeafIndex)
	}
	var cons verify.Proof
	w.must(call{method: "GET", path: fmt.Sprintf("/log/proof/consistency?old=%d", before.Size)}, http.StatusOK, &cons)
	if err := tlog.CheckTree(cons.Hashes, cons.TreeSize, after.Root, before.Size, before.Root); err != nil || cons.TreeSize != after.Size {
		t.Fatalf("consistency %d -> %d: %v", before.Size, cons.TreeSize, err)
	}
	// Any leaf's inclusion proof, and the leaves themselves.
	var incl verify.Proof
	w.must(call{method: "GET", path: fmt.Sprintf("/log/proof/inclusion?index=%d&size=%d", ans.Log.LeafIndex, before.Size)}, http.StatusOK, &incl)
	if err := tlog.CheckRecord(incl.Hashes, before.Size, before.Root, ans.Log.LeafIndex, tlog.RecordHash(ans.Log.Event.Hash)); err != nil {
		t.Fatalf("inclusion at the old size: %v", err)
	}
	var leaves struct {
		Leaves []verify.Leaf `json:"leaves"`
	}
	w.must(call{method: "GET", path: fmt.Sprintf("/log/leaves?start=%d&end=%d", ans.Log.LeafIndex, ans.Log.LeafIndex+1)}, http.StatusOK, &leaves)
	if len(leaves.Leaves) != 1 || !bytes.Equal(leaves.Leaves[0].Data, ans.Log.Event.Hash) {
		t.Fatalf("leaf %d: %+v", ans.Log.LeafIndex, leaves)
	}
	w.must(call{method: "GET", path: "/log/leaves?start=3&end=3"}, http.StatusOK, &leaves)
	if len(leaves.Leaves) != 0 {
		t.Fatalf("an empty range gave %d leaves", len(leaves.Leaves))
	}

	// Lookups that find nothing answer alike; sizes outside the tree are refused.
	unknown, err := registry.FormatCertNumber(2026, 99999999)
	must(t, err)
	for _, tc := range []struct {
		name, path, field string
		status            int
		code              registry.Code
	}{
		{"wrong token", "/log/certificates/" + w.a.cert + "?k=wrong", "", http.StatusNotFound, registry.CodeNotFound},
		{"unknown number", "/log/certificates/" + unknown + "?k=" + w.a.token, "", http.StatusNotFound, registry.CodeNotFound},
		{"index past the tree", fmt.Sprintf("/log/proof/inclusion?index=%d", after.Size), "", http.StatusUnprocessableEntity, registry.CodeInvalid},
		{"no index", "/log/proof/inclusion", "index", http.StatusUnprocessableEntity, registry.CodeInvalid},
		{"size past the tree", fmt.Sprintf("/log/proof/consistency?old=1&size=%d", after.Size+1), "", http.StatusUnprocessableEntity, registry.CodeInvalid},
		{"old after new", "/log/proof/consistency?old=3&size=2", "", http.StatusUnprocessableEntity, registry.CodeInvalid},
		{"negative start", "/log/leaves?start=-1", "start", http.StatusUnprocessableEntity, registry.CodeInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := w.do(call{method: "GET", path: tc.path})
			p := wantProblem(t, rec, tc.status, tc.code, tc.field)
			if tc.status == http.StatusNotFound && p.Detail != "no such certificate" {
				t.Errorf("detail %q", p.Detail)
			}
		})
	}
}

// e2eCheckpointLine is a checkpoint's root line, which a page carrying the
// log entry would contain.
func e2eCheckpointLine(cp audit.Checkpoint) string {
	b, _ := json.Marshal(cp.Root)
	return strings.Trim(string(b), `"`)
}

// A certificate record the trail holds no signing of (written outside
// certseal's issuing) still gets its verification answer, without a log
// entry; the log's own route says it has none to give.
func TestVerifyJSONWithoutSigningEvent(t *testing.T) {
	w := newWorld(t)
	ctx := t.Context()
	number, err := registry.FormatCertNumber(2026, 99999998)
	must(t, err)
	token := "token-of-a-record-made-by-hand"
	must(t, w.store.InTx(ctx, func(tx registry.Tx) error {
		c, err := tx.Certificate(ctx, w.a.cert)
		if err != nil {
			return err
		}
		at, sum := c.IssuedAt, sha256.Sum256([]byte("%PDF-by-hand"))
		c.PDFSHA256 = sum[:]
		c.Number, c.TokenHash, c.State, c.RevokedAt, c.RevokeReason, c.Category = number, signer.TokenHash(token), registry.CertRevoked, &at, "test", registry.RevokeError
		return tx.CreateCertificate(ctx, &c, []byte("%PDF-by-hand"))
	}))
	rec := w.must(call{method: "GET", path: "/v/" + number + "?k=" + token, header: map[string]string{"Accept": "application/json"}}, http.StatusOK, nil)
	if !strings.Contains(rec.Body.String(), `"status":"revoked"`) || strings.Contains(rec.Body.String(), `"log"`) {
		t.Fatalf("answer: %s", rec.Body)
	}
	wantProblem(t, w.do(call{method: "GET", path: "/log/certificates/" + number + "?k=" + token}), http.StatusInternalServerError, CodeInternal, "")
}
