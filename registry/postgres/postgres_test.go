package postgres_test

import (
	"context"
	"sync"
	"testing"

	"github.com/certseal/certseal/internal/testenv"
	"github.com/certseal/certseal/registry/postgres"
	"github.com/certseal/certseal/registry/storetest"
)

func open(t *testing.T, url string) *postgres.Store {
	s, err := postgres.Open(context.Background(), url, storetest.PII())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Backend{
		Open:        func(t *testing.T) storetest.RawStore { return open(t, testenv.PostgresURL(t)) },
		DropTrigger: `DROP TRIGGER %[1]s ON %[2]s`,
	})
}

// Replicas starting together must migrate once, not fail or apply twice.
func TestConcurrentMigrations(t *testing.T) {
	url := testenv.PostgresURL(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			s, err := postgres.Open(context.Background(), url, storetest.PII())
			if err == nil {
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
