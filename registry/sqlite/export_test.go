package sqlite

// WithoutLog makes s append events without their log leaves: the
// baseline of BenchmarkIssueRecord.
func WithoutLog(s *Store) { s.dialect.WithoutLog = true }
