package memstore_test

import (
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
	"github.com/aliasgate/aliasgate/vault/vaulttest"
)

func TestConformance(t *testing.T) {
	vaulttest.Run(t, vaulttest.Harness{
		Open: func(t *testing.T, now func() time.Time) vault.Store {
			return memstore.New(memstore.Options{Now: now})
		},
	})
}

func TestSweepDropsExpiredRecords(t *testing.T) {
	clk := vaulttest.NewClock()
	s := memstore.New(memstore.Options{Now: clk.Now, SweepInterval: -1})
	defer s.Close()
	r := &vault.Record{Alias: "tok_a", Storage: vault.StorageVolatile, CreatedAt: clk.Now(), ExpiresAt: clk.Now().Add(time.Second)}
	if _, err := s.Put(t.Context(), []vault.PutItem{{Record: r}, {Record: &vault.Record{Alias: "tok_b", CreatedAt: clk.Now()}}}); err != nil {
		t.Fatal(err)
	}
	if n := s.Sweep(); n != 0 || s.Len() != 2 {
		t.Fatalf("early sweep dropped %d, len %d", n, s.Len())
	}
	clk.Advance(time.Second)
	if n := s.Sweep(); n != 1 || s.Len() != 1 {
		t.Fatalf("sweep dropped %d, len %d; want 1, 1", n, s.Len())
	}
}
