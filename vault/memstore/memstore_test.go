package memstore_test

import (
	"errors"
	"fmt"
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

func TestMaxRecordsRefusesAFloodAndRecovers(t *testing.T) {
	clk := vaulttest.NewClock()
	s := memstore.New(memstore.Options{Now: clk.Now, SweepInterval: -1, MaxRecords: 10})
	defer s.Close()
	put := func(name string, n int) error {
		items := make([]vault.PutItem, n)
		for i := range items {
			items[i] = vault.PutItem{Record: &vault.Record{Alias: fmt.Sprintf("tok_%s_%d", name, i), Storage: vault.StorageVolatile,
				CreatedAt: clk.Now(), ExpiresAt: clk.Now().Add(time.Minute)}}
		}
		_, err := s.Put(t.Context(), items)
		return err
	}
	if err := put("a", 10); err != nil {
		t.Fatalf("10 records into a store of 10: %v", err)
	}
	err := put("b", 1)
	if !errors.Is(err, memstore.ErrFull) || !errors.Is(err, vault.ErrUnavailable) {
		t.Fatalf("one more: %v, want ErrFull (an ErrUnavailable)", err)
	}
	if s.Len() != 10 {
		t.Fatalf("len %d after a refused Put, want 10 (nothing written)", s.Len())
	}
	if got, _ := s.Get(t.Context(), []string{"tok_b_0"}); got[0] != nil {
		t.Fatal("a refused record was stored")
	}
	clk.Advance(2 * time.Minute) // the first ten expire
	if err := put("c", 5); err != nil {
		t.Fatalf("Put once the records expired: %v", err)
	}
	if s.Len() != 5 {
		t.Fatalf("len %d, want the 5 new records (the expired ones swept)", s.Len())
	}
	if err := put("d", 6); !errors.Is(err, memstore.ErrFull) {
		t.Fatalf("Put over the bound with nothing expired: %v", err)
	}
}
