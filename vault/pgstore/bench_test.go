package pgstore_test

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
	"github.com/aliasgate/aliasgate/vault/pgstore"
)

// The benchmarks mirror vault/boltstore/bench_test.go, so the figures can be
// set side by side: the same Service calls, the vault on PostgreSQL (its
// own schema in the test database) instead of a bbolt file.

// benchService opens a PostgreSQL-backed Service.
func benchService(b *testing.B, opts pgstore.Options) *vault.Service {
	b.Helper()
	s := openStore(b, newSchema(b), opts)
	b.Cleanup(func() { s.Close() })
	mem := memstore.New(memstore.Options{})
	b.Cleanup(func() { mem.Close() })
	kr, err := vault.OpenKeyring(context.Background(), s, bytes.Repeat([]byte{3}, 32))
	if err != nil {
		b.Fatal(err)
	}
	svc, err := vault.New(s, mem, kr, vault.Options{Env: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	return svc
}

// cardNumber returns the n-th distinct Luhn-valid 16-digit test number.
func cardNumber(n int64) string {
	p := fmt.Sprintf("4%014d", n)
	return p + string(pan.CheckDigit([]byte(p)))
}

func BenchmarkRedactKnownValue(b *testing.B) {
	svc := benchService(b, pgstore.Options{})
	ctx := context.Background()
	req := []vault.RedactRequest{{Value: "4111111111111111"}}
	if _, err := svc.Redact(ctx, req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.Redact(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReveal(b *testing.B) {
	svc := benchService(b, pgstore.Options{})
	ctx := context.Background()
	toks, err := svc.Redact(ctx, []vault.RedactRequest{{Value: "4111111111111111"}})
	if err != nil {
		b.Fatal(err)
	}
	aliases := []string{toks[0].Alias}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.Reveal(ctx, aliases); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedactNewValue writes a new durable record per operation (one
// committed transaction each), with 1 or 64 concurrent writers on the
// default pool of 16 connections.
func BenchmarkRedactNewValue(b *testing.B) {
	for _, writers := range []int{1, 64} {
		b.Run("writers="+strconv.Itoa(writers), func(b *testing.B) {
			svc := benchService(b, pgstore.Options{})
			ctx := context.Background()
			var next atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(max(1, writers/runtime.GOMAXPROCS(0))) // × GOMAXPROCS goroutines
			b.ResetTimer()
			if writers == 1 {
				for range b.N {
					if _, err := svc.Redact(ctx, []vault.RedactRequest{{Value: cardNumber(next.Add(1))}}); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := svc.Redact(ctx, []vault.RedactRequest{{Value: cardNumber(next.Add(1))}}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkRedactBatch redacts 20 new values per call (the vault API's
// largest request): one Put of 20 items, the same round trips as one.
func BenchmarkRedactBatch(b *testing.B) {
	svc := benchService(b, pgstore.Options{})
	ctx := context.Background()
	var next atomic.Int64
	reqs := make([]vault.RedactRequest, 20)
	b.ReportAllocs()
	for b.Loop() {
		for i := range reqs {
			reqs[i] = vault.RedactRequest{Value: cardNumber(next.Add(1))}
		}
		if _, err := svc.Redact(ctx, reqs); err != nil {
			b.Fatal(err)
		}
	}
}
