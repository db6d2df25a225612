package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/certseal/certseal/registry"
)

// An application to change or revoke a seal is about the seal the unit had
// when it applied. When another change is approved first, approving it
// must not act on the new seal: a key compromise is recorded on the seal
// reported, anything else is refused for the unit to apply again.
func TestStaleSealApplication(t *testing.T) {
	for _, tc := range []struct {
		name     string
		kind     registry.SealApplicationKind
		reason   registry.RevocationReason
		status   int
		v1, v2   registry.SealState
		v1Reason registry.RevocationReason
	}{
		{"revoke for key compromise", registry.KindRevoke, registry.ReasonKeyCompromise, http.StatusOK,
			registry.SealRevoked, registry.SealActive, registry.ReasonKeyCompromise},
		{"revoke for cessation", registry.KindRevoke, registry.ReasonCessationOfOperation, http.StatusConflict,
			registry.SealSuperseded, registry.SealActive, registry.ReasonSuperseded},
		{"change", registry.KindChange, "", http.StatusConflict,
			registry.SealSuperseded, registry.SealActive, registry.ReasonSuperseded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			u := w.a
			v1 := w.activeSeal(u)
			body := sealAppBody(tc.kind)
			if tc.reason != "" {
				body["revoke_reason"] = tc.reason
			}
			var stale idAnswer
			w.must(call{method: "POST", path: fmt.Sprintf("/api/v1/units/%d/seal-applications", u.ID), key: u.key, body: body}, http.StatusCreated, &stale)
			w.clock.Set(w.clock.Now().Add(time.Hour))
			// The change the unit applied for earlier is approved first.
			review := func(id int64) *http.Response {
				return w.do(call{method: "POST", path: fmt.Sprintf("/api/v1/seal-applications/%d/review", id), key: w.reviewer[u.Jurisdiction],
					body: map[string]any{"decision": "approve", "opinion": "同意"}}).Result()
			}
			if got := review(u.pendingApp).StatusCode; got != http.StatusOK {
				t.Fatalf("approve the change: %d", got)
			}
			v2 := w.activeSeal(u)
			w.clock.Set(w.clock.Now().Add(time.Hour))
			if got := review(stale.ID).StatusCode; got != tc.status {
				t.Errorf("approve the application made for version 1: %d, want %d", got, tc.status)
			}
			for _, s := range w.seals(u.ID) {
				switch s.ID {
				case v1:
					if s.State != tc.v1 || s.Reason != tc.v1Reason {
						t.Errorf("version 1: %s (%s), want %s (%s)", s.State, s.Reason, tc.v1, tc.v1Reason)
					}
				case v2:
					if s.State != tc.v2 {
						t.Errorf("version 2, made after the application, is %s (%s)", s.State, s.Reason)
					}
				}
			}
		})
	}
}

// A unit registered with a USCC whose check character fails is flagged,
// and the flag is not silently taken: its seal, whose certificate carries
// the code, is approved only when the reviewer confirms the code.
func TestLegacyUSCCNeedsTheReviewersWord(t *testing.T) {
	w := newWorld(t)
	body := w.unitBody("威海旧证学校", weihai)
	good := body["uscc"].(string)
	bad, err := registry.USCCCheckChar(good[:17])
	if err != nil {
		t.Fatal(err)
	}
	wrong := "0"
	if bad == '0' {
		wrong = "1"
	}
	body["uscc"] = good[:17] + wrong
	var u e2eUnit
	w.must(call{method: "POST", path: "/api/v1/units", key: w.platform, body: body}, http.StatusCreated, &u.Unit)
	if !u.USCCLegacy {
		t.Fatalf("unit with USCC %s is not flagged", body["uscc"])
	}
	u.key = w.unitKey(u.ID)
	id := w.apply(&u, registry.KindNew)
	path := fmt.Sprintf("/api/v1/seal-applications/%d/review", id)
	rec := w.do(call{method: "POST", path: path, key: w.reviewer[weihai], body: map[string]any{"decision": "approve", "opinion": "同意"}})
	if rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), `"field":"uscc_confirmed"`) {
		t.Fatalf("approval without the reviewer's word: %d %s", rec.Code, rec.Body)
	}
	if seals := w.seals(u.ID); len(seals) != 0 {
		t.Fatalf("a seal was made: %+v", seals)
	}
	var a registry.SealApplication
	w.must(call{method: "POST", path: path, key: w.reviewer[weihai], body: map[string]any{"decision": "approve", "opinion": "已核对营业执照", "uscc_confirmed": true}},
		http.StatusOK, &a)
	if a.Review == nil || !a.Review.USCCConfirmed || a.State != registry.ApplicationApproved {
		t.Errorf("approved application: %+v", a)
	}
}
