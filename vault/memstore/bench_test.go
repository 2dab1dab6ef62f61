package memstore_test

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
)

// BenchmarkCollectHeld is one garbage collection of a process holding
// 400,000 volatile records (the CVCs of a busy gateway's last TTL): the
// work the collector repeats at every cycle for what the store holds.
func BenchmarkCollectHeld(b *testing.B) {
	s := memstore.New(memstore.Options{SweepInterval: -1})
	defer s.Close()
	now := time.Now()
	const n, batch = 400000, 1000
	for i := 0; i < n; i += batch {
		items := make([]vault.PutItem, batch)
		for j := range items {
			items[j] = vault.PutItem{Record: &vault.Record{Alias: fmt.Sprintf("tok_live_%022d", i+j), Storage: vault.StorageVolatile,
				CreatedAt: now, ExpiresAt: now.Add(time.Hour), Ciphertext: make([]byte, 40)}}
		}
		if _, err := s.Put(b.Context(), items); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(ms.HeapObjects), "heap-objects")
	b.ResetTimer()
	for b.Loop() {
		runtime.GC()
	}
	runtime.KeepAlive(s)
}
