package signer

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/audit"
)

// RotateToken invalidates the QR token of certificate number's current
// version (it leaked), for a caller that sees it: the same data is issued
// again as the next version, with a new token and the same number, and the
// old version's stored token hash is replaced, so its token then finds
// nothing, exactly like a token that never existed, while an uploaded old
// PDF is reported as superseded. The old hash is kept in the rotation
// record. Like a reissue, it needs the unit's filing in force and an
// active seal.
func (cs *Certificates) RotateToken(ctx context.Context, c registry.Caller, number string) (Issued, error) {
	var cur registry.Certificate
	if err := cs.w.View(ctx, func(tx registry.Tx) (err error) {
		cur, err = VisibleCertificate(ctx, tx, c, number)
		return err
	}); err != nil {
		return Issued{}, err
	}
	return cs.is.reissue(ctx, cs.w, cur.Number, cur.Appointment, request(c, cur.Appointment), func(ctx context.Context, tx registry.Tx, old registry.Certificate) error {
		if old.Version != cur.Version {
			// Corrected meanwhile: issuing cur's data again would undo that.
			return registry.Errf(registry.CodeConflict, "certificate %s changed while its token was being rotated; retry", cur.Number)
		}
		replacement := make([]byte, 32)
		if _, err := rand.Read(replacement); err != nil {
			return fmt.Errorf("signer: token rotation: %w", err)
		}
		now := cs.now()
		rot := registry.TokenRotation{Number: cur.Number, Version: old.Version, NewVersion: old.Version + 1, At: now,
			Actor: c.Actor, RequestID: c.RequestID}
		if err := tx.RetireToken(ctx, &rot, replacement); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, audit.Event(c, now, "certificate.token_rotate", "certificate", cur.Number, map[string]any{
			"version": old.Version, "new_version": rot.NewVersion, "old_token_hash": fmt.Sprintf("%x", rot.OldTokenHash)}))
	})
}
