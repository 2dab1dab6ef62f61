package vaulttest

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/vault"
)

// The benchmark bodies every persistent store runs the same way, so their
// figures can be set side by side (go test -bench . ./vault/boltstore/
// ./vault/pgstore/): the same vault.Service calls on another store.

// BenchService returns a Service on store, with volatile values in
// volatile; both are closed when the benchmark ends.
func BenchService(b *testing.B, store, volatile vault.Store) *vault.Service {
	b.Helper()
	b.Cleanup(func() { store.Close(); volatile.Close() })
	kr, err := vault.OpenKeyring(context.Background(), store, bytes.Repeat([]byte{3}, 32))
	if err != nil {
		b.Fatal(err)
	}
	svc, err := vault.New(store, volatile, kr, vault.Options{Env: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	return svc
}

// CardNumber returns the n-th distinct Luhn-valid 16-digit test number.
func CardNumber(n int64) string {
	p := fmt.Sprintf("4%014d", n)
	return p + string(pan.CheckDigit([]byte(p)))
}

// BenchRedactKnownValue redacts a value already in the vault (an index
// lookup, no write).
func BenchRedactKnownValue(b *testing.B, svc *vault.Service) {
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

// BenchRedactRequest redacts what one inbound request of bench scenario 1
// holds: a card number already in the vault (FPE_SIX_T_FOUR, with the
// classifier it already has, so its record is read for the merge) and a
// new volatile CVC, in one call.
func BenchRedactRequest(b *testing.B, svc *vault.Service) {
	BenchRedactRequestIn(context.Background(), b, svc, nil)
}

// BenchRedactRequestIn is BenchRedactRequest with the calls made under
// ctx; stored, when set, is called once the card number is stored, before
// the calls measured (to age its record: a gateway's card numbers are
// older than vault.HandOutWindow).
func BenchRedactRequestIn(ctx context.Context, b *testing.B, svc *vault.Service, stored func()) {
	req := []vault.RedactRequest{
		{Value: "4111111111111111", Format: vault.FormatFPESixTFour, Classifiers: []string{"pan"}},
		{Value: "123", Storage: vault.StorageVolatile},
	}
	if _, err := svc.Redact(ctx, req); err != nil {
		b.Fatal(err)
	}
	if stored != nil {
		stored()
	}
	b.ReportAllocs()
	for b.Loop() {
		toks, err := svc.Redact(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		if toks[0].Created || !toks[1].Created {
			b.Fatalf("tokens %+v: want the card known and the CVC new", toks)
		}
	}
}

// BenchReveal reveals one alias.
func BenchReveal(b *testing.B, svc *vault.Service) {
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

// BenchRedactNewValue writes a new durable record per operation from
// writers concurrent goroutines (1: a plain loop).
func BenchRedactNewValue(b *testing.B, svc *vault.Service, writers int) {
	ctx := context.Background()
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(max(1, writers/runtime.GOMAXPROCS(0))) // × GOMAXPROCS goroutines
	b.ResetTimer()
	if writers == 1 {
		for range b.N {
			if _, err := svc.Redact(ctx, []vault.RedactRequest{{Value: CardNumber(next.Add(1))}}); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := svc.Redact(ctx, []vault.RedactRequest{{Value: CardNumber(next.Add(1))}}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchRedactBatch redacts n new values per call.
func BenchRedactBatch(b *testing.B, svc *vault.Service, n int) {
	ctx := context.Background()
	var next atomic.Int64
	reqs := make([]vault.RedactRequest, n)
	b.ReportAllocs()
	for b.Loop() {
		for i := range reqs {
			reqs[i] = vault.RedactRequest{Value: CardNumber(next.Add(1))}
		}
		if _, err := svc.Redact(ctx, reqs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchKnown asks Known about n distinct card numbers per call, as the
// leak guard does for a message: half are FPE_SIX_T_FOUR aliases in the
// vault, half numbers it does not hold.
func BenchKnown(b *testing.B, svc *vault.Service, n int) {
	ctx := context.Background()
	cands := make([]string, 0, n)
	reqs := make([]vault.RedactRequest, 0, 20)
	for i := range n / 2 {
		reqs = append(reqs, vault.RedactRequest{Value: CardNumber(int64(i)), Format: vault.FormatFPESixTFour})
		if len(reqs) == cap(reqs) || i == n/2-1 {
			toks, err := svc.Redact(ctx, reqs)
			if err != nil {
				b.Fatal(err)
			}
			for _, t := range toks {
				cands = append(cands, t.Alias)
			}
			reqs = reqs[:0]
		}
	}
	for i := len(cands); i < n; i++ {
		cands = append(cands, CardNumber(int64(1_000_000+i)))
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.Known(ctx, cands); err != nil {
			b.Fatal(err)
		}
	}
}
