package keys

import (
	"context"
	"time"

	"github.com/certseal/certseal/registry"
	"github.com/certseal/certseal/registry/audit"
	"github.com/certseal/certseal/registry/units"
)

// Seals runs the commands on a unit's seals: apply for one, withdraw or
// review the application (approval makes the seal's key and certificate,
// supersedes or revokes the old one), and revoke a seal at once. Each is
// one transaction with its audit events, and notes the seals it changed
// (registry.Changes), so CRL, OCSP and the pages of what they signed are
// refreshed once it commits.
type Seals struct {
	w       *registry.Writer
	keys    KeyManager
	ca      *CA
	alg     Alg
	baseURL string // written into seal certificates (CRL, OCSP, CA addresses)
	now     func() time.Time
	twin    *SM2Twin // makes each new seal version's 国密 twin (sm2.go); nil: none
}

// NewSeals returns the seal commands over store (see registry.Writing).
func NewSeals(store registry.Store, km KeyManager, ca *CA, alg Alg, baseURL string, now func() time.Time) *Seals {
	return &Seals{w: registry.Writing(store), keys: km, ca: ca, alg: alg, baseURL: baseURL, now: now}
}

// Applications is the units.Reviewed of seal applications.
var Applications = units.Reviewed[registry.SealApplication]{
	Subject: "seal_application", What: "seal application",
	Read: func(ctx context.Context, tx registry.Tx, id int64) (registry.SealApplication, error) {
		return tx.SealApplication(ctx, id)
	},
	UnitOf: func(a registry.SealApplication) int64 { return a.UnitID },
	Update: func(ctx context.Context, tx registry.Tx, a *registry.SealApplication) error {
		return tx.UpdateSealApplication(ctx, a)
	},
	IDOf: func(a registry.SealApplication) int64 { return a.ID },
}

// Apply submits a seal application of a.UnitID, which the caller must see.
// A change or revocation is for the seal active now, whatever is approved
// first.
func (s *Seals) Apply(ctx context.Context, c registry.Caller, a registry.SealApplication) (registry.SealApplication, error) {
	a.SubmittedAt = s.now()
	err := s.w.Write(ctx, func(tx registry.Tx, _ *registry.Changes) error {
		if _, err := units.Visible(ctx, tx, c, a.UnitID); err != nil {
			return err
		}
		seals, err := tx.ListSeals(ctx, a.UnitID)
		if err != nil {
			return err
		}
		a.TargetSealID = 0 // Write may run this again
		if active := registry.ActiveSeal(seals); active != nil && a.Kind != registry.KindNew {
			a.TargetSealID = active.ID
		}
		if err := registry.CheckSealApplication(a, seals); err != nil {
			return err
		}
		if err := tx.CreateSealApplication(ctx, &a); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, audit.Event(c, s.now(), "seal_application.submit", "seal_application", a.ID, a))
	})
	return a, err
}

// Withdraw takes back application id before review.
func (s *Seals) Withdraw(ctx context.Context, c registry.Caller, id int64) (registry.SealApplication, error) {
	return Applications.Change(ctx, s.w, c, s.now(), id, "withdraw",
		func(_ registry.Tx, a *registry.SealApplication, _ registry.Unit, _ *registry.Changes) (any, error) {
			err := registry.WithdrawSealApplication(a)
			return a.State, err // the new state
		})
}

// Review decides application id; approval acts on the unit's seals in the
// same transaction: new makes version 1, change makes the next version and
// supersedes the old one, revoke revokes the seal.
func (s *Seals) Review(ctx context.Context, c registry.Caller, id int64, rv registry.Review) (registry.SealApplication, error) {
	return Applications.Change(ctx, s.w, c, s.now(), id, "review",
		func(tx registry.Tx, a *registry.SealApplication, unit registry.Unit, changed *registry.Changes) (any, error) {
			if err := registry.ReviewSealApplication(a, unit, rv); err != nil {
				return nil, err
			}
			if a.State == registry.ApplicationApproved {
				var err error
				if a.SealID, err = s.approve(ctx, tx, c, changed, *a, unit); err != nil {
					return nil, err
				}
			}
			return rv, nil
		})
}

// approve does what approving a does to the unit's seals and returns the
// seal it created (new, change) or revoked.
func (s *Seals) approve(ctx context.Context, tx registry.Tx, c registry.Caller, changed *registry.Changes, a registry.SealApplication, unit registry.Unit) (int64, error) {
	seals, err := tx.ListSeals(ctx, unit.ID)
	if err != nil {
		return 0, err
	}
	if err := registry.CheckSealApplication(a, seals); err != nil {
		return 0, err // the seals changed since the unit applied
	}
	now := s.now()
	if target := registry.SealApplicationTarget(a, seals); target != nil {
		old := *target
		switch a.Kind {
		case registry.KindChange:
			err = registry.SupersedeSeal(&old, now)
		case registry.KindRevoke:
			// The unit reported the compromise when it applied.
			var since *time.Time
			if a.RevokeReason == registry.ReasonKeyCompromise {
				since = &a.SubmittedAt
			}
			err = registry.RevokeSeal(&old, a.RevokeReason, since, now)
		}
		if err != nil {
			return 0, err
		}
		if err := s.retire(ctx, tx, c, changed, &old, map[string]any{"reason": old.Reason, "application": a.ID}); err != nil {
			return 0, err
		}
		if a.Kind == registry.KindRevoke {
			return old.ID, nil
		}
	}
	seal := registry.Seal{UnitID: unit.ID, Version: registry.NextSealVersion(seals), State: registry.SealActive,
		ImprintPNG: a.ImprintPNG, ApplicationID: a.ID, CreatedAt: now}
	pub, blob, err := s.keys.GenerateSealKey(ctx, s.alg, unit.ID, seal.Version)
	if err != nil {
		return 0, err
	}
	seal.KeyBlob = blob
	if seal.CertDER, seal.Serial, err = s.ca.IssueSealCert(unit, seal.Version, pub, now, s.baseURL); err != nil {
		return 0, err
	}
	if err := tx.CreateSeal(ctx, &seal); err != nil {
		return 0, err
	}
	if err := s.addTwin(ctx, tx, unit, seal, now); err != nil {
		return 0, err
	}
	return seal.ID, tx.AppendAudit(ctx, audit.Event(c, now, "seal.create", "seal", seal.ID,
		map[string]any{"version": seal.Version, "serial": seal.Serial, "application": a.ID}))
}

// retire stores a seal superseded or revoked with its audit event, and
// notes it changed: its revocation answers and the pages of what it signed.
// retireTx is what retiring a seal needs of a transaction.
type retireTx interface {
	registry.SealTx
	registry.AuditTx
	registry.CertTx
}

func (s *Seals) retire(ctx context.Context, tx retireTx, c registry.Caller, changed *registry.Changes, seal *registry.Seal, payload any) error {
	if err := tx.UpdateSeal(ctx, seal); err != nil {
		return err
	}
	if err := tx.AppendAudit(ctx, audit.Event(c, s.now(), "seal."+string(seal.State), "seal", seal.ID, payload)); err != nil {
		return err
	}
	signed, err := tx.CertificateNumbersBySeal(ctx, seal.ID)
	if err != nil {
		return err
	}
	changed.Seal(seal.ID, signed)
	return nil
}

// Revoke stops seal id at once, without review: a lost or misused seal must
// stop working now. invalidity is, for keyCompromise, when the key is
// suspected to have been compromised.
func (s *Seals) Revoke(ctx context.Context, c registry.Caller, id int64, reason registry.RevocationReason, invalidity *time.Time) (registry.Seal, error) {
	var seal registry.Seal
	err := s.w.Write(ctx, func(tx registry.Tx, changed *registry.Changes) (err error) {
		if seal, err = tx.Seal(ctx, id, registry.LockUpdate); err != nil {
			return err
		}
		unit, err := tx.Unit(ctx, seal.UnitID)
		if err != nil {
			return err
		}
		if !c.CanSee(unit) {
			return registry.NotFound("seal", id)
		}
		if err := registry.RevokeSeal(&seal, reason, invalidity, s.now()); err != nil {
			return err
		}
		return s.retire(ctx, tx, c, changed, &seal, revocationRequest{reason, invalidity})
	})
	return seal, err
}

// revocationRequest is the audit payload of a seal revoked at once: what
// the caller asked for.
type revocationRequest struct {
	Reason         registry.RevocationReason `json:"reason"`
	InvalidityDate *time.Time                `json:"invalidity_date"`
}
