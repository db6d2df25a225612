// Package loadtest measures the public verification page: in-process
// benchmarks of the real handler against a bare chi handler writing the
// same bytes (for profiles), and, in its commands, the bare server and an
// open-loop load generator that .ci/bench-verify runs against the real
// binary. Speed is measured here, never asserted in tests.
package loadtest
