package redisstore

import (
	"context"
	"errors"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/aliasgate/aliasgate/internal/redistest"
	"github.com/aliasgate/aliasgate/vault"
)

// TestRefusalsAreNotUnavailable: Redis refusals that last until an
// operator acts — an ACL without the keys (NOPERM), a password the store
// does not have (NOAUTH), a key of another type (WRONGTYPE) — are
// vault.ErrStoreRefused, not vault.Unavailable (which the APIs answer 503
// with Retry-After); a server that cannot be reached still is. Failed
// before: every one was vault.ErrUnavailable.
func TestRefusalsAreNotUnavailable(t *testing.T) {
	ctx := context.Background()
	check := func(what string, err error, refused bool) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: no error", what)
		}
		if got := errors.Is(err, vault.ErrStoreRefused); got != refused || vault.Unavailable(err) == refused {
			t.Errorf("%s: %v: ErrStoreRefused %v, Unavailable %v; want refused %v", what, err, got, vault.Unavailable(err), refused)
		}
	}

	addr := redistest.Start(t)
	s := openStoreURL(t, "redis://"+addr+"/0", "p:", nil)
	admin := redis.NewClient(&redis.Options{Addr: addr})
	defer admin.Close()
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}

	// WRONGTYPE: the store's ready key made a list by something else.
	if err := admin.Del(ctx, "p:ready").Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.LPush(ctx, "p:ready", "x").Err(); err != nil {
		t.Fatal(err)
	}
	_, err := s.client.Get(ctx, "p:ready").Result()
	check("WRONGTYPE", s.fail("get", err), true)
	admin.Del(ctx, "p:ready")

	// NOPERM: the ACL no longer grants any key.
	if err := admin.Do(ctx, "ACL", "SETUSER", "default", "resetkeys").Err(); err != nil {
		t.Fatal(err)
	}
	check("NOPERM ping", s.Ping(ctx), true)
	_, err = s.Get(ctx, []string{"tok_x"})
	check("NOPERM get", err, true)
	if err := admin.Do(ctx, "ACL", "SETUSER", "default", "allkeys").Err(); err != nil {
		t.Fatal(err)
	}

	// NOAUTH: a password is now required and the pool reconnects.
	if err := admin.Do(ctx, "CONFIG", "SET", "requirepass", "a-password-the-store-lacks").Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.Do(ctx, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	check("NOAUTH ping", s.Ping(ctx), true)

	// Unreachable: still unavailable.
	down := openStoreURL(t, "redis://"+redistest.Start(t)+"/0", "p:", nil)
	down.client.Close()
	check("closed client", down.Ping(ctx), false)
}
