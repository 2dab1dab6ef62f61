package boltstore_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/audit"
	"github.com/aliasgate/aliasgate/internal/vaulttok"
	"github.com/aliasgate/aliasgate/routes/rewrite"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/boltstore"
	"github.com/aliasgate/aliasgate/vault/memstore"
)

// The two benchmarks below are the vault's part of one request of the
// proxy bench (go run ./bench -scenarios 1,3), set up as the gateway sets
// its vault up (cmd/aliasgate/serve.go): persistent values in bbolt,
// volatile ones in a memstore bounded as by default
// (vault.volatile_max_records), an Observer (the metrics), a concurrency
// bound, and the audit log with its default fsync interval. The abuse
// guard (Options.Admission) is the gateway's and is left out.

// nopObserver is a metrics Observer that counts nothing.
type nopObserver struct{}

func (nopObserver) ObserveVault(string, string, string, time.Duration) {}

// scenarioTokenizer returns a Tokenizer over a Service set up as the
// gateway's.
func scenarioTokenizer(b *testing.B) *vaulttok.Tokenizer {
	b.Helper()
	dir := b.TempDir()
	store, err := boltstore.Open(filepath.Join(dir, "vault.db"), boltstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	volatile := memstore.New(memstore.Options{MaxRecords: 1_000_000})
	master := bytes.Repeat([]byte{3}, 32)
	keys, err := audit.DeriveKeys(master)
	if err != nil {
		b.Fatal(err)
	}
	w, err := audit.Open(filepath.Join(dir, "audit.log"), keys, audit.Options{SyncInterval: 200 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { w.Close(); store.Close(); volatile.Close() })
	kr, err := vault.OpenKeyring(context.Background(), store, master)
	if err != nil {
		b.Fatal(err)
	}
	svc, err := vault.New(store, volatile, kr, vault.Options{Env: "bench", Auditor: w, Observer: nopObserver{},
		MaxConcurrent: 256, MaxWait: time.Second, MaxVolatilePerCall: 20, MaxValuesPerCall: 100, MaxNewPerCall: 20})
	if err != nil {
		b.Fatal(err)
	}
	return vaulttok.New(svc)
}

// scenarioItems are the values one request of scenario 1 redacts (the
// bench's inbound route: card.number FPE_SIX_T_FOUR with classifier pan,
// card.cvc volatile).
var scenarioItems = []rewrite.RedactItem{
	{Value: "4111111111111111", Format: "FPE_SIX_T_FOUR", Classifiers: []string{"pan"}},
	{Value: "123", Storage: "volatile"},
}

// BenchmarkScenario1Redact is one inbound request of scenario 1: a card
// number already in bbolt (found through the index, its record read for
// the classifier merge) and a new volatile CVC put into the memstore.
func BenchmarkScenario1Redact(b *testing.B) {
	tk := scenarioTokenizer(b)
	ctx := vault.WithRoute(context.Background(), "inbound")
	if _, err := tk.Redact(ctx, scenarioItems); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tk.Redact(ctx, scenarioItems); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScenario3Reveal is one outbound request of scenario 3: the
// reveal of a card number's alias (bbolt) and a CVC's (memstore), with its
// audit line written before the values are returned.
func BenchmarkScenario3Reveal(b *testing.B) {
	tk := scenarioTokenizer(b)
	ctx := vault.WithRoute(context.Background(), "outbound")
	aliases, err := tk.Redact(ctx, scenarioItems)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		vals, err := tk.Reveal(ctx, aliases)
		if err != nil {
			b.Fatal(err)
		}
		if vals[0] != scenarioItems[0].Value || vals[1] != scenarioItems[1].Value {
			b.Fatal("reveal: wrong values")
		}
	}
}
