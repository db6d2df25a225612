package keys

import (
	"context"
	"fmt"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/certseal/certseal/registry"
)

// markedSource is a fakeSource that also says when a seal was revoked, as
// StoreSeals does with the store.
type markedSource struct{ *fakeSource }

func (m markedSource) RevocationMark(ctx context.Context) (string, error) {
	seals, err := m.RevokedSeals(ctx)
	return fmt.Sprint(len(seals)), err
}

// A seal revoked through one replica: the other replica's cached CRL and
// OCSP answers give way at its next request, with no message between them
// and no polling.
func TestReplicaFollowsRevocation(t *testing.T) {
	now := time.Now()
	ca := newTestCA(t, now)
	seal := newSeal(t, ca, newTestKeys(t), 1, testUnit, 1, ECDSAP256, now, "https://zc.example.cn")
	for _, tc := range []struct {
		name    string
		src     SealSource
		follows bool
	}{
		{"source with a revocation mark", markedSource{newFakeSource(seal)}, true},
		{"source without one", newFakeSource(seal), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			through, err := NewResponder(ca, tc.src, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			other, err := NewResponder(ca, tc.src, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			cert := mustParse(t, seal.CertDER)
			for range 2 { // the second answer is the cached one
				if r := ocspAsk(t, other, ca, cert, 0); r.Status != ocsp.Good {
					t.Fatalf("before the revocation: OCSP status %d", r.Status)
				}
				if crl, _ := crlOf(t, other); len(crl.RevokedCertificateEntries) != 0 {
					t.Fatalf("before the revocation the CRL lists %d seals", len(crl.RevokedCertificateEntries))
				}
			}
			src := tc.src.(interface {
				update(*testing.T, string, func(*registry.Seal) error)
			})
			src.update(t, seal.Serial, func(s *registry.Seal) error {
				return registry.RevokeSeal(s, registry.ReasonCessationOfOperation, nil, now)
			})
			through.Invalidate() // what the hook does on the replica the revocation went through
			revoked := ocspAsk(t, other, ca, cert, 0).Status == ocsp.Revoked
			crl, _ := crlOf(t, other)
			if listed := len(crl.RevokedCertificateEntries) == 1; revoked != tc.follows || listed != tc.follows {
				t.Errorf("the other replica after the revocation: OCSP revoked %v, CRL lists it %v; want %v", revoked, listed, tc.follows)
			}
		})
	}
}
