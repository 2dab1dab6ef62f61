package redisstore

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
)

// go test -run '^$' -bench . ./vault/redisstore/ — each op is one round trip
// to Redis, so the figures are mostly loopback latency; the parallel ones
// show what a pool of connections gets through.

func BenchmarkPutVolatile(b *testing.B) {
	s := openStore(b, "", nil)
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r := record(fmt.Sprintf("tok_%d", i), "", time.Now())
		r.ExpiresAt = time.Now().Add(time.Minute)
		if _, err := s.Put(ctx, []vault.PutItem{{Record: r}}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPutVolatileParallel(b *testing.B) {
	s := openStore(b, "", nil)
	ctx := context.Background()
	var n atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := record(fmt.Sprintf("tok_%d", n.Add(1)), "", time.Now())
			r.ExpiresAt = time.Now().Add(time.Minute)
			if _, err := s.Put(ctx, []vault.PutItem{{Record: r}}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkGet(b *testing.B) {
	s := openStore(b, "", nil)
	ctx := context.Background()
	r := record("tok_get", "", time.Now())
	r.ExpiresAt = time.Now().Add(time.Hour)
	if _, err := s.Put(ctx, []vault.PutItem{{Record: r}}); err != nil {
		b.Fatal(err)
	}
	aliases := []string{"tok_get"}
	b.ReportAllocs()
	for b.Loop() {
		got, err := s.Get(ctx, aliases)
		if err != nil || got[0] == nil {
			b.Fatal(got, err)
		}
	}
}

func BenchmarkGetParallel(b *testing.B) {
	s := openStore(b, "", nil)
	ctx := context.Background()
	r := record("tok_get", "", time.Now())
	r.ExpiresAt = time.Now().Add(time.Hour)
	if _, err := s.Put(ctx, []vault.PutItem{{Record: r}}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		aliases := []string{"tok_get"}
		for pb.Next() {
			got, err := s.Get(ctx, aliases)
			if err != nil || got[0] == nil {
				b.Error(got, err)
				return
			}
		}
	})
}
