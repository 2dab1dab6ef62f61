//go:build unix

package memstore_test

import (
	"fmt"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
)

// BenchmarkCollectHeld is one garbage collection of a process holding
// 400,000 volatile records (the CVCs of a busy gateway's last TTL): the
// work the collector repeats at every cycle for what the store holds.
// cpu-ms/op (user and system time of the process) is the figure to
// compare: the wall time of a forced collection depends on how busy the
// machine is.
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
	before := cpuTime(b)
	b.ResetTimer()
	for b.Loop() {
		runtime.GC()
	}
	b.ReportMetric(float64(cpuTime(b)-before)/1e6/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(ms.HeapObjects), "heap-objects")
	runtime.KeepAlive(s)
}

// cpuTime returns the user and system CPU time of the process.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCompact is one compaction of the slabs of 400,000 held volatile
// records (about 30 MB of encodings): how long it holds the store's write
// lock when deletes or replacements out of write order leave the slabs
// more than half dead.
func BenchmarkCompact(b *testing.B) {
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
	for b.Loop() {
		memstore.Compact(s)
	}
}

// BenchmarkPutLarge is the Put of one new volatile record (a CVC, as a
// Redact makes one) into a store that holds 300,000 others (a busy
// gateway's last TTL): the records map is far larger than the CPU caches,
// so each look-up of it is a cache miss or more.
func BenchmarkPutLarge(b *testing.B) {
	s := memstore.New(memstore.Options{SweepInterval: -1, MaxRecords: 1_000_000})
	defer s.Close()
	now := time.Now()
	const n, batch = 300000, 1000
	rec := func(i int) *vault.Record {
		return &vault.Record{Alias: fmt.Sprintf("tok_live_%022d", i), Storage: vault.StorageVolatile,
			CreatedAt: now, ExpiresAt: now.Add(time.Hour), Ciphertext: make([]byte, 40)}
	}
	for i := 0; i < n; i += batch {
		items := make([]vault.PutItem, batch)
		for j := range items {
			items[j] = vault.PutItem{Record: rec(i + j)}
		}
		if _, err := s.Put(b.Context(), items); err != nil {
			b.Fatal(err)
		}
	}
	// One record put again and again under a new alias each time (the
	// store keeps its own encoding); the alias's string is one of the
	// allocations counted.
	items := []vault.PutItem{{Record: rec(n)}}
	alias := []byte("tok_live_")
	next := int64(n)
	b.ReportAllocs()
	for b.Loop() {
		next++
		items[0].Record.Alias = string(strconv.AppendInt(alias, next, 10))
		res, err := s.Put(b.Context(), items)
		if err != nil || res[0].Status != vault.PutCreated {
			b.Fatal(res, err)
		}
	}
}
