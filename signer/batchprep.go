package signer

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/certseal/certseal/registry"
)

// prepareAll runs Issuer.Prepare on every row, on one worker per CPU: it
// decodes and scales each photo and lays out each row's text, which for
// 10,000 rows took three seconds on one core before any row was issued.
// The results are by index, so errors are reported in row order as
// before.
func (is *Issuer) prepareAll(rows []registry.Appointment) ([]registry.Appointment, []error) {
	out := make([]registry.Appointment, len(rows))
	errs := make([]error, len(rows))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(rows)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(rows); i = int(next.Add(1) - 1) {
				out[i], errs[i] = is.Prepare(rows[i])
			}
		})
	}
	wg.Wait()
	return out, errs
}
