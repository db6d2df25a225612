// Package pdfsigncheck holds the tests that hold certseal's copy of
// pdfsign (internal/third_party/pdfsign, its own module, so its own tests
// would not run with certseal's) to what it claims in PATCHES.md: with the
// patch hooks unused it signs as upstream does, and its appearance streams
// are well formed. It has no code of its own.
package pdfsigncheck
