package memstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
	"github.com/aliasgate/aliasgate/vault/vaulttest"
)

// TestConcurrentServiceReadsOnlyItsOwnRecord hammers a vault.Service whose
// two stores are memstores (a real keyring) with concurrent Redacts (new
// volatile values, known persistent values bringing classifiers: records
// replaced in their slabs, read through LookupRecords), Reveals, Deletes,
// classifier updates, expiry, eviction and sweeps, while the slabs are
// compacted and freed slabs reused: every value revealed is the one written
// for that alias in that account, a deleted alias is never revealed again,
// an alias of one account is never revealed to another, and a value's
// persistent alias never changes. The slabs end within the compaction
// bound after many compactions' worth of dead bytes.
func TestConcurrentServiceReadsOnlyItsOwnRecord(t *testing.T) {
	clk := vaulttest.NewClock()
	p := memstore.New(memstore.Options{Now: clk.Now, SweepInterval: -1})
	defer p.Close()
	v := memstore.New(memstore.Options{Now: clk.Now, SweepInterval: -1, MaxRecords: 100})
	defer v.Close()
	ctx := context.Background()
	kr, err := vault.OpenKeyring(ctx, p, bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := vault.New(p, v, kr, vault.Options{Env: "test", Now: clk.Now, VolatileTTL: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	accounts := []string{"", "acct_b"}
	ctxOf := func(acct string) context.Context { return vault.WithAccount(ctx, acct) }
	pad := func(s string, n int) string { return s + strings.Repeat(s[len(s)-1:], n-len(s)) }
	const poolSize = 40
	pool := make([]string, poolSize)
	for i := range pool {
		pool[i] = pad(fmt.Sprintf("persistent-%02d-", i), 3000+i)
	}

	// The persistent aliases seen, shared: account ‖ value → alias, and
	// account ‖ alias → value.
	var mu sync.Mutex
	persAlias := map[string]string{}
	persValue := map[string]string{}
	notePersistent := func(acct, alias, value string) error {
		mu.Lock()
		defer mu.Unlock()
		if a, ok := persAlias[acct+"|"+value]; ok && a != alias {
			return fmt.Errorf("account %q: value %.20q had alias %s, now %s", acct, value, a, alias)
		}
		persAlias[acct+"|"+value] = alias
		persValue[acct+"|"+alias] = value
		return nil
	}
	persistentOf := func(acct string, r *rand.Rand) (string, string, bool) {
		mu.Lock()
		defer mu.Unlock()
		v, ok := persAlias[acct+"|"+pool[r.IntN(poolSize)]]
		return v, persValue[acct+"|"+v], ok
	}

	stop := make(chan struct{})
	var bg sync.WaitGroup
	compacted := false // the persistent store's slabs shrank: it compacted (nothing is deleted there)
	bg.Go(func() {     // the clock, the sweeper, and a watch on the slabs
		last := 0
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			clk.Advance(time.Second)
			v.Sweep()
			total, _ := memstore.SlabBytes(p)
			compacted = compacted || total < last
			last = total
		}
	})

	const workers, iters = 4, 500
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 7))
			acct := accounts[w%2]
			other := accounts[(w+1)%2]
			vol := map[string]string{} // this worker's volatile aliases → values
			deleted := map[string]bool{}
			fail := func(format string, a ...any) {
				errs <- fmt.Errorf("worker %d: "+format, append([]any{w}, a...)...)
			}
			for i := range iters {
				cls := []string{fmt.Sprint("c", r.IntN(12)), fmt.Sprint("c", r.IntN(12))}
				pv := pool[r.IntN(poolSize)]
				vv := pad(fmt.Sprintf("volatile-%d-%d-", w, i), 200+r.IntN(800))
				toks, err := svc.Redact(ctxOf(acct), []vault.RedactRequest{
					{Value: vv, Storage: vault.StorageVolatile},
					{Value: pv, Classifiers: cls, Detail: r.IntN(2) == 0},
				})
				if err != nil {
					fail("redact: %v", err)
					return
				}
				vol[toks[0].Alias] = vv
				if err := notePersistent(acct, toks[1].Alias, pv); err != nil {
					fail("%v", err)
					return
				}
				if toks[1].Value != "" && toks[1].Value != pv {
					fail("Detail of %s gave another value", toks[1].Alias)
					return
				}
				for _, c := range cls { // its own, even when a concurrent call made the record
					if toks[1].Value != "" && !slices.Contains(toks[1].Classifiers, c) {
						fail("Detail of %s: classifiers %v lack %s", toks[1].Alias, toks[1].Classifiers, c)
						return
					}
				}

				// Reveal a sample: the newest volatile alias, old ones,
				// deleted ones and a persistent one.
				var ask, want []string
				var mustFind []bool
				ask, want, mustFind = append(ask, toks[0].Alias), append(want, vv), append(mustFind, false)
				for a, val := range vol {
					if len(ask) >= 6 {
						break
					}
					ask, want, mustFind = append(ask, a), append(want, val), append(mustFind, false)
				}
				for a := range deleted {
					if len(ask) >= 8 {
						break
					}
					ask, want, mustFind = append(ask, a), append(want, ""), append(mustFind, false)
				}
				if a, val, ok := persistentOf(acct, r); ok {
					ask, want, mustFind = append(ask, a), append(want, val), append(mustFind, true)
				}
				got, err := svc.Reveal(ctxOf(acct), ask)
				if err != nil {
					fail("reveal: %v", err)
					return
				}
				for k, g := range got {
					switch {
					case g.Err == nil && g.Value != want[k]:
						fail("reveal of %s: %.30q, want %.30q", ask[k], g.Value, want[k])
						return
					case g.Err != nil && mustFind[k]:
						fail("reveal of persistent %s: %v", ask[k], g.Err)
						return
					case g.Err != nil && !errors.Is(g.Err, vault.ErrNotFound):
						fail("reveal of %s: %v", ask[k], g.Err)
						return
					}
				}
				// Another account finds none of them.
				got, err = svc.Reveal(ctxOf(other), ask)
				if err != nil {
					fail("reveal: %v", err)
					return
				}
				for k, g := range got {
					if g.Err == nil {
						fail("account %q revealed %s of account %q", other, ask[k], acct)
						return
					}
				}

				switch r.IntN(4) {
				case 0: // delete a volatile alias
					for a := range vol {
						if err := svc.Delete(ctxOf(acct), a); err != nil && !errors.Is(err, vault.ErrNotFound) {
							fail("delete: %v", err)
							return
						}
						delete(vol, a)
						deleted[a] = true
						break
					}
				case 1: // replace a persistent record's classifiers
					if a, _, ok := persistentOf(acct, r); ok {
						if err := svc.UpdateClassifiers(ctxOf(acct), a, []string{fmt.Sprint("u", r.IntN(5))}); err != nil {
							fail("update classifiers: %v", err)
							return
						}
					}
				}
				if len(vol) > 40 { // forget the oldest (they expire anyway)
					for a := range vol {
						delete(vol, a)
						if len(vol) <= 20 {
							break
						}
					}
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	bg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, s := range []*memstore.Store{p, v} {
		total, live := memstore.SlabBytes(s)
		if total > 2*live+(memstore.CompactSlack+1)*memstore.SlabSize {
			t.Errorf("slabs hold %d bytes for %d live", total, live)
		}
	}
	if !compacted {
		t.Error("the persistent store never compacted its slabs: the test wants compactions")
	}
	if v.Evictions() == 0 {
		t.Error("the volatile store evicted nothing: the test wants evictions")
	}
}
