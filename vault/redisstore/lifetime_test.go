package redisstore

import (
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/aliasgate/aliasgate/internal/redistest"
	"github.com/aliasgate/aliasgate/vault"
)

// TestVolatileRecordsKeepTheirExpiryAcrossARestart: regression cover
// (passes before). A Redis with persistence (AOF, fsync always) killed and
// started again still holds a CVC record and its index entry with the TTL
// they had (Redis keeps the absolute expiry), so a value never outlives the
// lifetime it was given by a restart; and once the store's clock reaches
// ExpiresAt the value is absent to every read, whatever Redis still holds.
func TestVolatileRecordsKeepTheirExpiryAcrossARestart(t *testing.T) {
	ctx := context.Background()
	dir, addr := t.TempDir(), freeLoopbackAddr(t)
	args := []string{"--appendonly", "yes", "--appendfsync", "always"}
	stop := redistest.Run(t, addr, dir, args...)
	clock := time.Now()
	s := openStoreURL(t, "redis://"+addr+"/0", "", func() time.Time { return clock })
	const ttl = 90 * time.Second
	r := record("tok_restart", "cvc-restart", clock)
	r.ExpiresAt = clock.Add(ttl)
	if res, err := s.Put(ctx, items(r)); err != nil || res[0].Status != vault.PutCreated {
		t.Fatalf("Put = %+v, %v", res, err)
	}
	stop()
	redistest.Run(t, addr, dir, args...)
	a := redis.NewClient(&redis.Options{Addr: addr})
	defer a.Close()
	for _, k := range []string{s.Prefix() + "r:tok_restart", s.Prefix() + "i:" + fmt.Sprintf("%x", r.IndexKey)} {
		if ms := pttl(t, a, k); ms <= 0 || ms > ttl.Milliseconds() {
			t.Errorf("PTTL %s after the restart = %d ms, want in (0, %d]", k, ms, ttl.Milliseconds())
		}
	}
	got, err := s.Get(ctx, []string{"tok_restart"})
	if err != nil || got[0] == nil {
		t.Fatalf("Get after the restart = %v, %v; want the record", got, err)
	}
	clock = r.ExpiresAt
	if got, err := s.Get(ctx, []string{"tok_restart"}); err != nil || got[0] != nil {
		t.Errorf("Get at ExpiresAt = %v, %v; want none", got, err)
	}
	if al, err := s.LookupIndex(ctx, [][]byte{r.IndexKey}); err != nil || al[0] != "" {
		t.Errorf("LookupIndex at ExpiresAt = %q, %v; want none", al, err)
	}
}

// TestEvictionLeavesTheStoreCoherent: regression cover (passes before). A
// Redis bounded by maxmemory with an allkeys policy (allkeys-lru here; the
// package doc recommends volatile-ttl) evicts record and index keys
// independently, without a word to the gateway. Every read still answers
// without error: a record evicted is absent (a reveal of its alias is a
// clean not found: 422 unknown_alias at the outbound proxy, nothing
// forwarded in clear), an index entry is never resolved to an alias whose
// record is gone, and the value can be stored again.
func TestEvictionLeavesTheStoreCoherent(t *testing.T) {
	ctx := context.Background()
	addr := freeLoopbackAddr(t)
	redistest.Run(t, addr, t.TempDir(), "--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru")
	s := openStoreURL(t, "redis://"+addr+"/0", "", nil)
	now := time.Now()
	const n, batch = 4000, 50 // about 8 MB of records
	recs := make([]*vault.Record, n)
	for i := range recs {
		recs[i] = record(fmt.Sprintf("tok_%d", i), fmt.Sprintf("cvc-%d", i), now)
		recs[i].Ciphertext = make([]byte, 2048)
		rand.Read(recs[i].Ciphertext)
		recs[i].ExpiresAt = now.Add(time.Hour)
	}
	for i := 0; i < n; i += batch {
		if _, err := s.Put(ctx, items(recs[i:i+batch]...)); err != nil {
			t.Fatalf("Put of batch %d: %v", i/batch, err)
		}
	}
	a := redis.NewClient(&redis.Options{Addr: addr})
	defer a.Close()
	info, err := a.Info(ctx, "stats").Result()
	if err != nil || strings.Contains(info, "evicted_keys:0\r") {
		t.Fatalf("no key was evicted (%v): the test needs a full Redis", err)
	}
	aliases, keys := make([]string, n), make([][]byte, n)
	for i, r := range recs {
		aliases[i], keys[i] = r.Alias, r.IndexKey
	}
	got, err := s.Get(ctx, aliases)
	if err != nil {
		t.Fatalf("Get after evictions: %v", err)
	}
	found, err := s.LookupIndex(ctx, keys)
	if err != nil {
		t.Fatalf("LookupIndex after evictions: %v", err)
	}
	gone := -1
	for i := range recs {
		if found[i] != "" && (found[i] != aliases[i] || got[i] == nil) {
			t.Errorf("index entry %d resolves to %q, whose record is %v", i, found[i], got[i])
		}
		if got[i] == nil && gone < 0 {
			gone = i
		}
	}
	if gone < 0 {
		t.Fatal("no record was evicted")
	}
	again := record("tok_again", fmt.Sprintf("cvc-%d", gone), now)
	again.ExpiresAt = now.Add(time.Hour)
	if res, err := s.Put(ctx, items(again)); err != nil || res[0].Status != vault.PutCreated {
		t.Errorf("Put of an evicted value again = %+v, %v; want created", res, err)
	}
}
