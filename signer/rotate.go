package signer

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/certseal/certseal/registry"
)

// RotateToken invalidates the QR token of a certificate's current version
// (it leaked): the same data is issued again as the next version, with a
// new token and the same number, and the old version's stored token hash
// is replaced, so its token then finds nothing, exactly like a token that
// never existed, while an uploaded old PDF is reported as superseded. The
// old hash is kept in the rotation record. Like a reissue, it needs the
// unit's filing in force and an active seal.
func (is *Issuer) RotateToken(ctx context.Context, number string, req Request) (Issued, error) {
	var cur registry.Certificate
	if err := is.store.View(ctx, func(tx registry.Tx) (err error) {
		cur, err = tx.Certificate(ctx, number)
		return err
	}); err != nil {
		return Issued{}, err
	}
	return is.reissue(ctx, number, cur.Appointment, req, func(ctx context.Context, tx registry.Tx, old registry.Certificate) error {
		if old.Version != cur.Version {
			// Corrected meanwhile: issuing cur's data again would undo that.
			return registry.Errf(registry.CodeConflict, "certificate %s changed while its token was being rotated; retry", number)
		}
		replacement := make([]byte, 32)
		if _, err := rand.Read(replacement); err != nil {
			return fmt.Errorf("signer: token rotation: %w", err)
		}
		rot := registry.TokenRotation{Number: number, Version: old.Version, NewVersion: old.Version + 1, At: is.now(),
			Actor: req.Actor, RequestID: req.RequestID}
		if err := tx.RetireToken(ctx, &rot, replacement); err != nil {
			return err
		}
		return appendEvent(ctx, tx, req, "certificate.token_rotate", number, map[string]any{
			"number": number, "version": old.Version, "new_version": rot.NewVersion, "old_token_hash": fmt.Sprintf("%x", rot.OldTokenHash)})
	})
}
