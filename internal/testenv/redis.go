package testenv

import (
	"testing"

	"github.com/redis/go-redis/v9"
)

// RedisClient is a client of the Redis at url (redis://...), closed when
// the test ends.
func RedisClient(t testing.TB, url string) *redis.Client {
	t.Helper()
	ro, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("Redis URL: %v", err)
	}
	rdb := redis.NewClient(ro)
	t.Cleanup(func() { rdb.Close() })
	return rdb
}
