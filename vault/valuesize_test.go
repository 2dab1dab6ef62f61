package vault_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
)

// Values: persistent ones up to Options.MaxValueLen (default 1 MiB, at most
// 32 MiB), volatile ones up to 4 KiB; a value over its bound is refused,
// naming the item, and nothing is written.
func TestValueSizeLimits(t *testing.T) {
	ctx := context.Background()
	newSvc := func(t *testing.T, maxLen int) (*vault.Service, *memstore.Store, error) {
		t.Helper()
		p := memstore.New(memstore.Options{SweepInterval: -1})
		v := memstore.New(memstore.Options{SweepInterval: -1})
		t.Cleanup(func() { p.Close(); v.Close() })
		kr, err := vault.OpenKeyring(ctx, p, bytes.Repeat([]byte{1}, 32))
		if err != nil {
			t.Fatal(err)
		}
		svc, err := vault.New(p, v, kr, vault.Options{Env: "test", VolatileTTL: time.Hour, MaxValueLen: maxLen})
		return svc, p, err
	}
	for _, bad := range []int{-1, vault.MaxValueLimit + 1} {
		if _, _, err := newSvc(t, bad); err == nil {
			t.Errorf("MaxValueLen %d accepted", bad)
		}
	}

	svc, p, err := newSvc(t, 0)
	if err != nil {
		t.Fatal(err)
	}
	if svc.MaxValueLen() != vault.DefaultMaxValueLen || vault.DefaultMaxValueLen < 1<<20 {
		t.Fatalf("default MaxValueLen %d", svc.MaxValueLen())
	}
	big := strings.Repeat("a document line\n", vault.DefaultMaxValueLen/16)
	toks, err := svc.Redact(ctx, []vault.RedactRequest{{Value: big, Format: vault.FormatVGSFixedLenGeneric}})
	if err != nil {
		t.Fatalf("a %d-byte value: %v", len(big), err)
	}
	got, err := svc.Reveal(ctx, []string{toks[0].Alias})
	if err != nil || got[0].Value != big {
		t.Fatalf("reveal of the large value: %d bytes, %v", len(got[0].Value), err)
	}
	before := p.Len()
	tests := []struct {
		name string
		req  vault.RedactRequest
	}{
		{"persistent over the bound", vault.RedactRequest{Value: big + "x"}},
		{"volatile over 4 KiB", vault.RedactRequest{Value: strings.Repeat("1", vault.VolatileMaxValueLen+1), Storage: vault.StorageVolatile}},
	}
	for _, tt := range tests {
		_, err := svc.Redact(ctx, []vault.RedactRequest{{Value: "ok"}, tt.req})
		var be *vault.BatchError
		if !errors.As(err, &be) || be.Items[0].Index != 1 || be.Items[0].Field != "value" || !errors.Is(err, vault.ErrInvalidValue) {
			t.Errorf("%s: %v", tt.name, err)
		}
		if p.Len() != before {
			t.Errorf("%s: a refused batch wrote records", tt.name)
		}
	}
	if _, err := svc.Redact(ctx, []vault.RedactRequest{{Value: strings.Repeat("1", vault.VolatileMaxValueLen), Storage: vault.StorageVolatile}}); err != nil {
		t.Errorf("a 4 KiB volatile value: %v", err)
	}

	// A smaller configured bound.
	small, _, err := newSvc(t, 2048)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := small.Redact(ctx, []vault.RedactRequest{{Value: strings.Repeat("x", 2048)}}); err != nil {
		t.Errorf("2048 bytes under a 2048 bound: %v", err)
	}
	for _, st := range []vault.Storage{vault.StoragePersistent, vault.StorageVolatile} {
		if _, err := small.Redact(ctx, []vault.RedactRequest{{Value: strings.Repeat("x", 2049), Storage: st}}); !errors.Is(err, vault.ErrInvalidValue) {
			t.Errorf("2049 bytes (%s) under a 2048 bound: %v", st, err)
		}
	}
}
