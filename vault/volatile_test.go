package vault_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
	"github.com/aliasgate/aliasgate/vault/vaulttest"
)

// boundedFixture is a Service whose volatile memstore holds at most max
// records and whose calls may create at most perCall volatile values.
func boundedFixture(t *testing.T, maxRecords, perCall int) (*vault.Service, *memstore.Store, *memstore.Store, *vaulttest.Clock) {
	t.Helper()
	clk := vaulttest.NewClock()
	p := memstore.New(memstore.Options{Now: clk.Now, SweepInterval: -1})
	v := memstore.New(memstore.Options{Now: clk.Now, SweepInterval: -1, MaxRecords: maxRecords})
	t.Cleanup(func() { p.Close(); v.Close() })
	kr, err := vault.OpenKeyring(context.Background(), p, bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := vault.New(p, v, kr, vault.Options{Env: "test", VolatileTTL: time.Hour, Now: clk.Now, MaxVolatilePerCall: perCall})
	if err != nil {
		t.Fatal(err)
	}
	return svc, p, v, clk
}

func cvcs(n int, start int) []vault.RedactRequest {
	reqs := make([]vault.RedactRequest, n)
	for i := range reqs {
		reqs[i] = vault.RedactRequest{Value: fmt.Sprintf("%03d", (start+i)%1000), Storage: vault.StorageVolatile}
	}
	return reqs
}

// TestVolatileFloodCannotStarveOthers: one source fills the volatile store
// to its bound with many redactions; another caller's CVC is still
// tokenized and reveals, the values evicted are the oldest, and the bound
// holds.
func TestVolatileFloodCannotStarveOthers(t *testing.T) {
	const bound = 100
	svc, _, v, clk := boundedFixture(t, bound, 10)
	ctx := context.Background()
	var flood []string
	for call := range 30 { // 300 values from one source, 10 a call, a second apart
		toks, err := svc.Redact(ctx, cvcs(10, call*10))
		if err != nil {
			t.Fatalf("flood call %d: %v", call, err)
		}
		for _, tk := range toks {
			flood = append(flood, tk.Alias)
		}
		clk.Advance(time.Second)
	}
	if v.Len() != bound {
		t.Fatalf("volatile store holds %d, want its bound %d", v.Len(), bound)
	}
	toks, err := svc.Redact(ctx, []vault.RedactRequest{{Value: "987", Storage: vault.StorageVolatile}})
	if err != nil {
		t.Fatalf("another caller's CVC in a full store: %v", err)
	}
	got, err := svc.Reveal(ctx, []string{toks[0].Alias})
	if err != nil || got[0].Value != "987" {
		t.Fatalf("reveal of the other caller's CVC = %+v, %v", got, err)
	}
	if v.Len() != bound || v.Evictions() != uint64(len(flood)+1-bound) {
		t.Fatalf("len %d, evictions %d; want %d, %d", v.Len(), v.Evictions(), bound, len(flood)+1-bound)
	}
	// The evicted values are the oldest: the first 201 of the flood.
	revealed, err := svc.Reveal(ctx, flood)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range revealed {
		gone := errors.Is(r.Err, vault.ErrNotFound)
		if want := i < len(flood)+1-bound; gone != want {
			t.Fatalf("flood value %d gone = %v, want %v (oldest first)", i, gone, want)
		}
	}
}

// TestVolatileOversizedBatchIsRefusedWhole: a call with more volatile
// values than the per-call cap, or than the store holds, is refused and
// leaves both stores as they were, persistent items included.
func TestVolatileOversizedBatchIsRefusedWhole(t *testing.T) {
	svc, p, v, _ := boundedFixture(t, 20, 25)
	ctx := context.Background()
	if _, err := svc.Redact(ctx, append(cvcs(5, 0), vault.RedactRequest{Value: card})); err != nil {
		t.Fatal(err)
	}
	pLen, vLen := p.Len(), v.Len()
	withCard := func(reqs []vault.RedactRequest) []vault.RedactRequest {
		return append([]vault.RedactRequest{{Value: "5555555555554444"}}, reqs...)
	}
	// Over the per-call cap: refused before anything is written.
	_, err := svc.Redact(ctx, withCard(cvcs(26, 100)))
	var be *vault.BatchError
	if !errors.Is(err, vault.ErrTooManyValues) || !errors.Is(err, vault.ErrInvalidValue) || !errors.As(err, &be) || be.Items[0].Index != 26 {
		t.Fatalf("26 volatile values with a cap of 25: %v, want a BatchError of ErrTooManyValues (an ErrInvalidValue) at item 26", err)
	}
	// Under the cap but over the store's bound: the store refuses it whole.
	_, err = svc.Redact(ctx, withCard(cvcs(21, 100)))
	if !errors.Is(err, memstore.ErrFull) || !errors.Is(err, vault.ErrUnavailable) {
		t.Fatalf("21 volatile values into a store of 20: %v, want ErrFull", err)
	}
	if p.Len() != pLen || v.Len() != vLen || v.Evictions() != 0 {
		t.Fatalf("a refused call changed the stores: persistent %d→%d, volatile %d→%d, evictions %d",
			pLen, p.Len(), vLen, v.Len(), v.Evictions())
	}
	toks, err := svc.Redact(ctx, withCard(cvcs(20, 100)))
	if err != nil {
		t.Fatalf("20 volatile values into a store of 20: %v", err)
	}
	if !toks[0].Created || v.Len() != 20 {
		t.Fatalf("created %v, volatile len %d", toks[0].Created, v.Len())
	}
}

// TestRedactRollsBackWhenTheAuditFails: the aliases made by a call whose
// audit fails are deleted from both stores; the alias revealed stays.
func TestRedactRollsBackWhenTheAuditFails(t *testing.T) {
	clk := vaulttest.NewClock()
	p := memstore.New(memstore.Options{Now: clk.Now, SweepInterval: -1})
	v := memstore.New(memstore.Options{Now: clk.Now, SweepInterval: -1})
	defer p.Close()
	defer v.Close()
	kr, err := vault.OpenKeyring(context.Background(), p, bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	aud := &switchAuditor{}
	svc, err := vault.New(p, v, kr, vault.Options{Env: "test", Now: clk.Now, Auditor: aud})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	old, err := svc.Redact(ctx, []vault.RedactRequest{{Value: card}, {Value: "321", Storage: vault.StorageVolatile}})
	if err != nil {
		t.Fatal(err)
	}
	pLen, vLen := p.Len(), v.Len()
	aud.fail = true
	_, err = svc.Redact(ctx, []vault.RedactRequest{
		{Alias: old[0].Alias, Format: vault.FormatFPESixTFour, Detail: true},
		{Alias: old[1].Alias, Format: vault.FormatRawUUID, Detail: true},
		{Value: "5555555555554444"},
		{Value: card},
	})
	if !errors.Is(err, vault.ErrAuditUnavailable) {
		t.Fatalf("Redact with a failing audit: %v", err)
	}
	if p.Len() != pLen || v.Len() != vLen {
		t.Fatalf("persistent %d→%d, volatile %d→%d records after a failed call", pLen, p.Len(), vLen, v.Len())
	}
	aud.fail = false
	got, err := svc.Reveal(ctx, []string{old[0].Alias, old[1].Alias})
	if err != nil || got[0].Value != card || got[1].Value != "321" {
		t.Fatalf("the aliases that existed before: %+v, %v", got, err)
	}
}

type switchAuditor struct{ fail bool }

func (a *switchAuditor) AuditVault(context.Context, vault.AuditEvent) error {
	if a.fail {
		return errors.New("disk full")
	}
	return nil
}
