package vault_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/audit"
	"github.com/aliasgate/aliasgate/internal/abuse"
	"github.com/aliasgate/aliasgate/internal/obs"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
	"github.com/aliasgate/aliasgate/vault/vaulttest"
)

// gatewayService is a Service wired as the gateway wires its own (metrics,
// the abuse Guard with bench scenario 1's limits, the audit log), over two
// memory stores: the benchmarks below measure the vault's work on a
// proxied request without a disk store's.
// Its clock reads *past before now until the caller sets it to 0.
func gatewayService(b *testing.B, past *time.Duration) *vault.Service {
	b.Helper()
	p := memstore.New(memstore.Options{SweepInterval: -1})
	v := memstore.New(memstore.Options{SweepInterval: -1})
	b.Cleanup(func() { p.Close(); v.Close() })
	master := bytes.Repeat([]byte{7}, 32)
	kr, err := vault.OpenKeyring(context.Background(), p, master)
	if err != nil {
		b.Fatal(err)
	}
	keys, err := audit.DeriveKeys(master)
	if err != nil {
		b.Fatal(err)
	}
	w, err := audit.Open(filepath.Join(b.TempDir(), "audit.log"), keys, audit.Options{SyncInterval: 200 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { w.Close() })
	lim := abuse.DefaultLimits()
	lim.SourceVolatile = 0 // as bench scenario 1: a CVC in every request from one address
	svc, err := vault.New(p, v, kr, vault.Options{Env: "bench", Now: func() time.Time { return time.Now().Add(-*past) }, Auditor: w, Observer: obs.NewMetrics(),
		Admission: abuse.New(lim, abuse.Options{}), MaxConcurrent: 256, MaxWait: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	return svc
}

// proxyContext is the context the inbound proxy's filter calls the vault
// with.
func proxyContext() context.Context {
	return vault.WithSource(vault.WithRoute(context.Background(), "checkout"), "127.0.0.1")
}

// BenchmarkGatewayRedactRequest is the vault's part of bench scenario 1:
// a card number already in the vault (FPE_SIX_T_FOUR, with its
// classifier) and a new volatile CVC, in one call.
func BenchmarkGatewayRedactRequest(b *testing.B) {
	past := time.Hour
	svc := gatewayService(b, &past)
	// Once stored, the card's record is an hour old: found with no write.
	vaulttest.BenchRedactRequestIn(proxyContext(), b, svc, func() { past = 0 })
}

// BenchmarkGatewayReveal is the vault's part of bench scenario 3: the
// reveal of a card number's alias and a CVC's, audited.
func BenchmarkGatewayReveal(b *testing.B) {
	var past time.Duration
	svc := gatewayService(b, &past)
	ctx := proxyContext()
	toks, err := svc.Redact(ctx, []vault.RedactRequest{
		{Value: "4111111111111111", Format: vault.FormatFPESixTFour, Classifiers: []string{"pan"}},
		{Value: "123", Storage: vault.StorageVolatile},
	})
	if err != nil {
		b.Fatal(err)
	}
	aliases := []string{toks[0].Alias, toks[1].Alias}
	ctx = vault.WithRoute(context.Background(), "psp")
	b.ReportAllocs()
	for b.Loop() {
		out, err := svc.Reveal(ctx, aliases)
		if err != nil {
			b.Fatal(err)
		}
		if out[1].Err != nil {
			b.Fatal(out[1].Err)
		}
	}
}
