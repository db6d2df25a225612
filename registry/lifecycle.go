package registry

import (
	"strings"
	"time"
)

// The lifecycle transitions of DESIGN.md §3 as plain functions: each checks
// the current state, refuses an illegal move with a typed error, and
// changes the value in memory only. The caller stores the result and its
// audit event in one transaction; the store's Rev check makes a concurrent
// identical move lose with ErrConflict.

func checkReview(r Review) error {
	if r.Decision != Approve && r.Decision != Reject {
		return FieldErr("decision", "must be %q or %q", Approve, Reject)
	}
	if strings.TrimSpace(r.Reviewer) == "" {
		return FieldErr("reviewer", "is required")
	}
	if r.At.IsZero() {
		return FieldErr("at", "review time is required")
	}
	return nil
}

// ReviewFiling decides a submitted filing. Approval puts it in force for
// three years from the approval day.
func ReviewFiling(f *Filing, r Review) error {
	if err := checkReview(r); err != nil {
		return err
	}
	if f.State != FilingSubmitted {
		return Errf(CodeIllegalTransition, "filing %d is %s, only a submitted filing can be reviewed", f.ID, f.State)
	}
	f.Review = &r
	if r.Decision == Reject {
		f.State = FilingRejected
		return nil
	}
	f.State = FilingApproved
	f.ValidFrom = Today(r.At)
	// In force for three years: the last day is the day before the
	// anniversary.
	f.ValidUntil = f.ValidFrom.AddDate(FilingValidityYears, 0, -1)
	return nil
}

// WithdrawFiling takes back a filing before review or ends one in force.
func WithdrawFiling(f *Filing) error {
	if f.State != FilingSubmitted && f.State != FilingApproved {
		return Errf(CodeIllegalTransition, "filing %d is %s and cannot be withdrawn", f.ID, f.State)
	}
	f.State = FilingWithdrawn
	return nil
}

// FilingStateOn is the state of f as seen on day: an approved filing past
// its last day is expired. Expiry is derived, never stored, so it is never late.
func FilingStateOn(f Filing, day Date) FilingState {
	if f.State == FilingApproved && day.After(f.ValidUntil) {
		return FilingExpired
	}
	return f.State
}

// InForce reports whether f allows issuing on day.
func (f Filing) InForce(day Date) bool {
	return f.State == FilingApproved && !day.Before(f.ValidFrom) && !day.After(f.ValidUntil)
}

// ReviewSealApplication decides a submitted seal application. What approval
// does to seals (create a version, supersede, revoke) is done by the caller
// with NewSealVersion and RevokeSeal in the same transaction.
// A seal's certificate names the unit by its USCC, so a new seal or a
// change for a unit whose USCC fails its check character is approved only
// with the reviewer's word that the code was checked (USCCConfirmed).
func ReviewSealApplication(a *SealApplication, u Unit, r Review) error {
	if err := checkReview(r); err != nil {
		return err
	}
	if a.State != ApplicationSubmitted {
		return Errf(CodeIllegalTransition, "seal application %d is %s, only a submitted application can be reviewed", a.ID, a.State)
	}
	if r.Decision == Approve && a.Kind != KindRevoke && u.USCCLegacy && !r.USCCConfirmed {
		return FieldErr("uscc_confirmed", "the unit's USCC %s fails its check character (GB 32100) and would go into the seal certificate: "+
			"check it against the unit's licence and approve with uscc_confirmed true", u.USCC)
	}
	a.Review = &r
	if r.Decision == Reject {
		a.State = ApplicationRejected
	} else {
		a.State = ApplicationApproved
	}
	return nil
}

// WithdrawSealApplication lets the unit take back an application before review.
func WithdrawSealApplication(a *SealApplication) error {
	if a.State != ApplicationSubmitted {
		return Errf(CodeIllegalTransition, "seal application %d is %s, only a submitted application can be withdrawn", a.ID, a.State)
	}
	a.State = ApplicationWithdrawn
	return nil
}

// CheckSealApplication validates what a unit submits, and again what a
// reviewer approves, given the unit's seals (oldest first): a new seal
// only when none is active; a change or revocation only of the seal it
// was made for (SealApplicationTarget), while that seal is still active,
// except that a key compromise is recorded on a superseded seal too.
func CheckSealApplication(a SealApplication, seals []Seal) error {
	active := ActiveSeal(seals)
	switch a.Kind {
	case KindNew:
		if active != nil {
			return Errf(CodeIllegalTransition, "unit already has active seal version %d: apply for a change instead", active.Version)
		}
	case KindChange, KindRevoke:
		target := SealApplicationTarget(a, seals)
		switch {
		case target == nil && a.TargetSealID != 0:
			return Errf(CodeIllegalTransition, "seal %d, which this application is for, is not the unit's", a.TargetSealID)
		case target == nil:
			return Errf(CodeIllegalTransition, "unit has no active seal to %s", a.Kind)
		case target.State == SealActive:
		case a.Kind == KindRevoke && a.RevokeReason == ReasonKeyCompromise && target.State == SealSuperseded:
			// Its past signatures change worth; the seal now active is
			// not the one the unit reported.
		default:
			return Errf(CodeIllegalTransition, "seal version %d, which this application is for, is %s now: the unit must apply again", target.Version, target.State)
		}
	default:
		return FieldErr("kind", "must be new, change or revoke")
	}
	if a.Kind != KindRevoke && len(a.ImprintPNG) == 0 {
		return FieldErr("imprint_png", "the seal imprint image is required")
	}
	if a.Kind == KindRevoke {
		if _, ok := a.RevokeReason.RFC5280Code(); !ok {
			return FieldErr("revoke_reason", "must be an RFC 5280 reason name (keyCompromise, superseded, cessationOfOperation, affiliationChanged, unspecified)")
		}
	}
	if !a.Declaration {
		return FieldErr("declaration", "the unit must declare the data true")
	}
	return nil
}

// SealApplicationTarget returns the seal a change or revocation acts on:
// the one it was made for, or, for an application that names none, the
// active one. Nil for a new seal or when there is no such seal.
func SealApplicationTarget(a SealApplication, seals []Seal) *Seal {
	if a.Kind == KindNew {
		return nil
	}
	if a.TargetSealID == 0 {
		return ActiveSeal(seals)
	}
	for i := range seals {
		if seals[i].ID == a.TargetSealID {
			return &seals[i]
		}
	}
	return nil
}

// ActiveSeal returns the active seal among a unit's seals, if any.
func ActiveSeal(seals []Seal) *Seal {
	for i := range seals {
		if seals[i].State == SealActive {
			return &seals[i]
		}
	}
	return nil
}

// NextSealVersion returns the version number a new seal of the unit gets.
func NextSealVersion(seals []Seal) int {
	v := 0
	for _, s := range seals {
		v = max(v, s.Version)
	}
	return v + 1
}

// SupersedeSeal retires the active seal when a change is approved: what it
// signed before stays valid.
func SupersedeSeal(s *Seal, at time.Time) error {
	if s.State != SealActive {
		return Errf(CodeIllegalTransition, "seal %d (version %d) is %s, only an active seal can be superseded", s.ID, s.Version, s.State)
	}
	s.State = SealSuperseded
	s.RevokedAt = &at
	s.Reason = ReasonSuperseded
	return nil
}

// RevokeSeal revokes a seal now. For keyCompromise, invalidity is when the
// key is suspected to have been compromised (not after at).
func RevokeSeal(s *Seal, reason RevocationReason, invalidity *time.Time, at time.Time) error {
	if _, ok := reason.RFC5280Code(); !ok {
		return FieldErr("reason", "%q is not an RFC 5280 reason name", reason)
	}
	if s.State == SealRevoked {
		return Errf(CodeIllegalTransition, "seal %d (version %d) is already revoked", s.ID, s.Version)
	}
	if s.State == SealSuperseded && reason != ReasonKeyCompromise {
		// A superseded seal no longer signs; only a compromise changes what
		// its past signatures are worth.
		return Errf(CodeIllegalTransition, "seal %d (version %d) is superseded; only keyCompromise may still be recorded", s.ID, s.Version)
	}
	if reason == ReasonKeyCompromise {
		if invalidity == nil {
			return FieldErr("invalidity_date", "is required for keyCompromise")
		}
		if invalidity.After(at) {
			return FieldErr("invalidity_date", "cannot be in the future")
		}
		s.InvalidityDate = invalidity
	} else if invalidity != nil {
		return FieldErr("invalidity_date", "is only for keyCompromise")
	}
	s.State = SealRevoked
	s.RevokedAt = &at
	s.Reason = reason
	return nil
}

// CanSign refuses a seal that is not active: a revoked or superseded seal
// never signs again.
func CanSign(s Seal) error {
	if s.State != SealActive {
		return Errf(CodeSealNotActive, "seal version %d is %s and cannot sign", s.Version, s.State)
	}
	return nil
}

// SignatureTrusted tells whether a signature the seal made at signedAt still
// counts: superseded or ceased seals keep what they signed; a compromised key
// loses what it signed from the suspected date on.
func SignatureTrusted(s Seal, signedAt time.Time) bool {
	if s.State == SealActive {
		return true
	}
	cut := s.RevokedAt
	if s.Reason == ReasonKeyCompromise && s.InvalidityDate != nil {
		cut = s.InvalidityDate
	}
	return cut == nil || signedAt.Before(*cut)
}

// CheckIssue decides whether a certificate for a may be issued on day under
// filing f with seal s.
func CheckIssue(a Appointment, f Filing, s Seal, day Date) error {
	if a.UnitID != f.UnitID || a.UnitID != s.UnitID {
		return Errf(CodeInvalid, "filing and seal must belong to the appointment's unit")
	}
	if a.Series != f.Series {
		return Errf(CodeFilingNotInForce, "filing %d is for series %q, not %q", f.ID, f.Series, a.Series)
	}
	if !f.InForce(day) {
		return Errf(CodeFilingNotInForce, "filing %d for series %q is %s on %s", f.ID, f.Series, FilingStateOn(f, day), day)
	}
	if err := CanSign(s); err != nil {
		return err
	}
	if a.TermTo.Before(day) {
		return &Error{Code: CodeTermEnded, Field: "term_to", Msg: "the term ended on " + a.TermTo.String() + ": no certificate for an appointment no longer in term"}
	}
	return nil
}

// IsBackfill says whether a is a backfill (信息补录) under filing f: the
// appointment was made before the filing was approved. CheckIssue has
// already refused one whose term has ended.
func IsBackfill(a Appointment, f Filing) bool { return a.AppointedOn.Before(f.ValidFrom) }

// CertStatusOn is the certificate's status on day: expiry is derived from
// the term, never stored.
func CertStatusOn(c Certificate, day Date) CertState {
	if c.State == CertValid && day.After(c.Appointment.TermTo) {
		return CertExpired
	}
	return c.State
}

// RevokeCertificate revokes a valid certificate version.
func RevokeCertificate(c *Certificate, category RevokeCategory, reason, by string, at time.Time) error {
	switch category {
	case RevokeError, RevokeForgery, RevokeTamper, RevokeAbuse, RevokeOther:
	default:
		return FieldErr("category", "must be error, forgery, tamper, abuse or other")
	}
	if strings.TrimSpace(reason) == "" {
		return FieldErr("reason", "is required")
	}
	if c.State != CertValid {
		return Errf(CodeIllegalTransition, "certificate %s version %d is %s and cannot be revoked", c.Number, c.Version, c.State)
	}
	c.State = CertRevoked
	c.RevokedAt = &at
	c.RevokeReason = reason
	c.RevokedBy = by
	c.Category = category
	return nil
}

// SupersedeCertificate marks the old version when a reissue corrects it.
func SupersedeCertificate(c *Certificate) error {
	if c.State != CertValid {
		return Errf(CodeIllegalTransition, "certificate %s version %d is %s and cannot be reissued", c.Number, c.Version, c.State)
	}
	c.State = CertSuperseded
	return nil
}

// APIKeyTouchEvery is how often a key's last use is written: at most once
// a minute per key, so authenticating stays a read.
const APIKeyTouchEvery = time.Minute

// StateOn says whether k may be used at now.
func (k APIKey) StateOn(now time.Time) APIKeyState {
	switch {
	case k.RevokedAt != nil:
		return APIKeyRevoked
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return APIKeyExpired
	}
	return APIKeyActive
}

// CheckAPIKey refuses a key whose scope does not fit its role: a reviewer
// needs a jurisdiction, a unit key a unit, and neither belongs elsewhere.
func CheckAPIKey(k APIKey, now time.Time) error {
	switch {
	case k.Role != RolePlatform && k.Role != RoleReviewer && k.Role != RoleUnit:
		return FieldErr("role", "%q: want platform, reviewer or unit", k.Role)
	case k.Role == RoleReviewer && k.Jurisdiction == "":
		return FieldErr("jurisdiction", "a reviewer key needs a jurisdiction")
	case k.Role == RoleUnit && k.UnitID <= 0:
		return FieldErr("unit_id", "a unit key needs a unit")
	case k.Role != RoleReviewer && k.Jurisdiction != "":
		return FieldErr("jurisdiction", "is for reviewer keys only")
	case k.Role != RoleUnit && k.UnitID != 0:
		return FieldErr("unit_id", "is for unit keys only")
	case k.ExpiresAt != nil && !k.ExpiresAt.After(now):
		return FieldErr("expires_at", "must be in the future")
	}
	return nil
}

// RevokeAPIKey stops a key for good; a key is revoked once.
func RevokeAPIKey(k *APIKey, by string, at time.Time) error {
	if k.RevokedAt != nil {
		return Errf(CodeIllegalTransition, "API key %d was revoked on %s", k.ID, k.RevokedAt.Format(time.RFC3339))
	}
	k.RevokedAt, k.RevokedBy = &at, by
	return nil
}
