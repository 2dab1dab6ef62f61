package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The tests run against a real Redis: 127.0.0.1:6379, or the URL in
// ALIASGATE_TEST_REDIS_URL. Without one they fail, they do not skip.
const envURL = "ALIASGATE_TEST_REDIS_URL"

func testURL() string {
	if u := os.Getenv(envURL); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// shownURL is testURL without credentials, for messages.
func shownURL() string {
	u, err := url.Parse(testURL())
	if err != nil {
		return "(" + envURL + " is not a URL)"
	}
	u.User = nil
	u.RawQuery = ""
	return u.String()
}

const howToStart = `the redisstore tests need a Redis server.
Start one (Debian: apt-get install redis-server) with
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
or point ` + envURL + ` at one (redis://[user:password@]host:port/db).`

func TestMain(m *testing.M) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	err := checkRedis(ctx)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: Redis at %s is not reachable: %v\n%s\n", shownURL(), err, howToStart)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func checkRedis(ctx context.Context) error {
	o, err := redis.ParseURL(testURL())
	if err != nil {
		return fmt.Errorf("%s: %w", envURL, err)
	}
	c := redis.NewClient(o)
	defer c.Close()
	return c.Ping(ctx).Err()
}

// admin returns a plain client of the test Redis, closed at the end of t.
func admin(t testing.TB) *redis.Client {
	t.Helper()
	o, err := redis.ParseURL(testURL())
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	return c
}

// newPrefix returns a random key prefix and removes every key under it when
// t ends.
func newPrefix(t testing.TB) string {
	t.Helper()
	b := make([]byte, 8)
	rand.Read(b)
	p := "aliasgate-test:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() { cleanPrefix(t, p) })
	return p
}

func cleanPrefix(t testing.TB, prefix string) {
	o, err := redis.ParseURL(testURL())
	if err != nil {
		t.Error(err)
		return
	}
	c := redis.NewClient(o)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	it := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for it.Next(ctx) {
		keys = append(keys, it.Val())
		if len(keys) == 1000 {
			if err := c.Del(ctx, keys...).Err(); err != nil {
				t.Errorf("clean up %s: %v", prefix, err)
				return
			}
			keys = keys[:0]
		}
	}
	if err := it.Err(); err != nil {
		t.Errorf("clean up %s: %v", prefix, err)
		return
	}
	if len(keys) > 0 {
		if err := c.Del(ctx, keys...).Err(); err != nil {
			t.Errorf("clean up %s: %v", prefix, err)
		}
	}
}

// openStore opens a store on the test Redis under prefix (a new random one
// when empty) and closes it when t ends.
func openStore(t testing.TB, prefix string, now func() time.Time) *Store {
	t.Helper()
	return openStoreURL(t, testURL(), prefix, now)
}

func openStoreURL(t testing.TB, rawURL, prefix string, now func() time.Time) *Store {
	t.Helper()
	if prefix == "" {
		prefix = newPrefix(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := Open(ctx, rawURL, Options{Now: now, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
