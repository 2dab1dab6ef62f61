package memstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
)

// checkQueueLocked fails t unless the expiry queue is a heap, qmax is not
// before any of its entries, and every live record that expires has its
// entry in it (s.mu held).
func checkQueueLocked(t *testing.T, s *Store) {
	t.Helper()
	q := &s.expq
	queued := make(map[aliasKey]uint64, q.len())
	for i := range q.len() {
		e := *q.at(i)
		if i > 0 && e.before(*q.at((i - 1) / 2)) {
			t.Fatalf("entry %d of %d is before its parent", i, q.len())
		}
		if s.qmax.before(e) {
			t.Fatalf("entry %d of %d is after qmax", i, q.len())
		}
		if e.seq > queued[e.key] {
			queued[e.key] = e.seq
		}
	}
	for k, e := range s.records.m {
		if e.exp != 0 && queued[k] < e.seq {
			t.Fatalf("a record that expires has no entry in the queue (seq %d)", e.seq)
		}
	}
}

// TestStoreQueueAgainstAModel drives a store with MaxRecords above one
// chunk of the queue (so that it grows and shrinks across chunk edges)
// with Puts of new and reused aliases (one TTL mostly, some shorter: the
// queue's fast push and its sift), Deletes, Sweeps and time passing, and
// compares the live records with a model that evicts by expiry, then put
// order, after dropping the expired ones; the queue stays a heap.
func TestStoreQueueAgainstAModel(t *testing.T) {
	const max = qChunk + 900
	var now time.Time = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := New(Options{Now: func() time.Time { return now }, SweepInterval: -1, MaxRecords: max})
	defer s.Close()
	ctx := context.Background()
	type mrec struct {
		exp time.Time
		seq int
	}
	model := map[string]mrec{}
	seq := 0
	rng := rand.New(rand.NewPCG(3, 4))
	names := 0
	used := []string{}
	// crossings counts the times the queue went over a chunk's edge and
	// back under it.
	crossings, over := 0, false
	liveIn := func(m map[string]mrec) int {
		n := 0
		for _, r := range m {
			if now.Before(r.exp) {
				n++
			}
		}
		return n
	}
	for step := range 3000 {
		switch op := rng.IntN(20); {
		case op < 14: // a Put
			n := 1 + rng.IntN(40)
			if step%300 < 150 {
				n = 1 + rng.IntN(3) // slower growth: linger at the edges
			}
			items := make([]vault.PutItem, n)
			aliases := make([]string, n)
			seen := map[string]bool{}
			for i := range items {
				a := ""
				for a == "" || seen[a] {
					if len(used) > 0 && rng.IntN(4) == 0 {
						a = used[rng.IntN(len(used))]
					} else {
						names++
						a = fmt.Sprintf("tok_m_%d", names)
						used = append(used, a)
					}
				}
				seen[a] = true
				ttl := time.Hour
				if rng.IntN(10) == 0 {
					ttl = time.Duration(1+rng.IntN(3600)) * time.Second
				}
				aliases[i] = a
				items[i] = vault.PutItem{Record: &vault.Record{Alias: a, Storage: vault.StorageVolatile, CreatedAt: now, ExpiresAt: now.Add(ttl)}}
			}
			res, err := s.Put(ctx, items)
			if err != nil {
				t.Fatalf("step %d: Put: %v", step, err)
			}
			// The model: room for n, the expired dropped first, then the
			// live ones closest to expiry (earliest put among equals).
			if len(model)+n > max {
				for a, r := range model {
					if !now.Before(r.exp) {
						delete(model, a)
					}
				}
				for len(model)+n > max {
					first := ""
					for a, r := range model {
						if f, ok := model[first]; !ok || r.exp.Before(f.exp) || r.exp.Equal(f.exp) && r.seq < f.seq {
							first = a
						}
					}
					delete(model, first)
				}
			}
			for i, a := range aliases {
				if r, ok := model[a]; ok && now.Before(r.exp) {
					if res[i].Status != vault.PutCollision {
						t.Fatalf("step %d: Put of live %s: %v", step, a, res[i].Status)
					}
					continue
				}
				if res[i].Status != vault.PutCreated {
					t.Fatalf("step %d: Put of %s: %v", step, a, res[i].Status)
				}
				seq++
				model[a] = mrec{exp: items[i].Record.ExpiresAt, seq: seq}
			}
		case op < 16: // a Delete of a live record
			for a, r := range model {
				if now.Before(r.exp) {
					if err := s.Delete(ctx, a, ""); err != nil {
						t.Fatalf("step %d: Delete: %v", step, err)
					}
					delete(model, a)
					break
				}
			}
		case op < 17:
			s.Sweep()
			for a, r := range model {
				if !now.Before(r.exp) {
					delete(model, a)
				}
			}
		default:
			// Slowly at first (the store fills and evicts), then fast
			// (records expire: the queue shrinks across chunk edges), then
			// slowly again (it grows back).
			d := time.Duration(rng.IntN(5)) * time.Second
			if step >= 1500 && step < 2000 {
				d = time.Duration(rng.IntN(120)) * time.Second
			}
			now = now.Add(d)
		}
		if step%25 == 0 || step > 2900 {
			got, err := s.Get(ctx, used)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for i, a := range used {
				r, ok := model[a]
				want := ok && now.Before(r.exp)
				if (got[i] != nil) != want {
					t.Fatalf("step %d: %s live %v, model %v (store len %d, model live %d)", step, a, got[i] != nil, want, s.Len(), liveIn(model))
				}
				if want {
					n++
				}
			}
			s.mu.RLock()
			checkQueueLocked(t, s)
			ql := s.expq.len()
			s.mu.RUnlock()
			if ql > qChunk+50 {
				over = true
			} else if over && ql < qChunk-50 {
				over = false
				crossings++
			}
		}
	}
	if s.Evictions() == 0 || crossings == 0 {
		t.Fatalf("evictions %d, crossings %d: the bound or the chunk's edge was never reached", s.Evictions(), crossings)
	}
	t.Logf("crossings %d, names %d, evictions %d, queue %d, chunks %d", crossings, names, s.Evictions(), QueueLen(s), len(s.expq.chunks))
}

// TestStoreQueueUnderConcurrency: Puts with mixed TTLs, Deletes, Gets and
// Sweeps from several goroutines while time passes, across the queue's
// chunk edges; then the queue is a heap holding every live record's entry,
// and a sweep far in the future leaves nothing.
func TestStoreQueueUnderConcurrency(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := New(Options{Now: clock, SweepInterval: -1, MaxRecords: 2*qChunk + 7})
	defer s.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			for i := range 1500 {
				n := 1 + rng.IntN(8)
				items := make([]vault.PutItem, n)
				t0 := clock()
				for j := range items {
					ttl := time.Hour
					if rng.IntN(5) == 0 {
						ttl = time.Duration(1+rng.IntN(600)) * time.Second
					}
					items[j] = vault.PutItem{Record: &vault.Record{Alias: fmt.Sprintf("tok_c%d_%d_%d", g, i, j),
						Storage: vault.StorageVolatile, CreatedAt: t0, ExpiresAt: t0.Add(ttl)}}
				}
				if _, err := s.Put(ctx, items); err != nil {
					t.Error(err)
					return
				}
				switch rng.IntN(6) {
				case 0:
					_ = s.Delete(ctx, fmt.Sprintf("tok_c%d_%d_0", g, rng.IntN(i+1)), "")
				case 1:
					s.Sweep()
				case 2:
					mu.Lock()
					now = now.Add(time.Duration(rng.IntN(3)) * time.Second)
					mu.Unlock()
				}
				if i%100 == 0 {
					s.mu.RLock()
					checkQueueLocked(t, s)
					s.mu.RUnlock()
				}
			}
		})
	}
	wg.Wait()
	s.mu.RLock()
	checkQueueLocked(t, s)
	s.mu.RUnlock()
	if s.Evictions() == 0 {
		t.Fatal("no eviction: the bound was never reached")
	}
	mu.Lock()
	now = now.Add(24 * time.Hour)
	mu.Unlock()
	s.Sweep()
	if s.Len() != 0 || QueueLen(s) != 0 {
		t.Fatalf("after every expiry: %d records, queue %d", s.Len(), QueueLen(s))
	}
}
