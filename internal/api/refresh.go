package api

import (
	"context"

	"github.com/certseal/certseal/registry"
)

// refresh is the one after-commit hook of the commands (registry.Writer):
// what a committed change made wrong in this replica's copies is dropped
// before the request that made it answers. The verification cache tells
// the other replicas itself (verify/rediscache); their CRL and OCSP
// answers notice a revocation at their next request (keys.Responder).
func (s *server) refresh(ctx context.Context, c registry.Changes) {
	if len(c.Seals) > 0 {
		s.PKI.Invalidate()
	}
	if len(c.Numbers) > 0 {
		s.Verifier.Invalidate(ctx, c.Numbers...)
	}
	if c.Issued > 0 {
		s.Metrics.CertificatesIssued(c.Issued)
	}
}
