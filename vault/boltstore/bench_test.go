package boltstore_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/boltstore"
	"github.com/aliasgate/aliasgate/vault/memstore"
)

// benchService opens a bolt-backed Service in a temp dir.
func benchService(b *testing.B, opts boltstore.Options) *vault.Service {
	b.Helper()
	s, err := boltstore.Open(filepath.Join(b.TempDir(), "vault.db"), opts)
	if err != nil {
		b.Fatal(err)
	}
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
	svc := benchService(b, boltstore.Options{})
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
	svc := benchService(b, boltstore.Options{})
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

// BenchmarkRedactNewValue writes a new durable record per operation, with
// 1 or 64 concurrent writers, with group commit on and off: the difference is
// what sharing an fsync between writers buys.
func BenchmarkRedactNewValue(b *testing.B) {
	for _, group := range []bool{true, false} {
		for _, writers := range []int{1, 64} {
			name := "group=" + strconv.FormatBool(group) + "/writers=" + strconv.Itoa(writers)
			b.Run(name, func(b *testing.B) {
				svc := benchService(b, boltstore.Options{NoGroupCommit: !group})
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
}
