package vaulttest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
)

// errInjected is the failure the faulty wrapper injects.
var errInjected = errors.New("vaulttest: injected failure")

// faulty wraps the store under test and fails on demand. It records every
// alias the store reported created, so that a test can check they are gone
// after a failed call.
type faulty struct {
	vault.Store
	name string // StoreName, so that the Service tells two wrappers apart in metrics

	mu           sync.Mutex
	puts         int
	failPut      int  // fail the Put call with this number (from 1); 0: never
	collideFirst bool // the first Put writes all but its last item and reports that one a collision
	failGet      bool // Get fails once a Put has succeeded
	cancel       func()
	created      []string
}

func (f *faulty) StoreName() string { return f.name }

func (f *faulty) Put(ctx context.Context, items []vault.PutItem) ([]vault.PutResult, error) {
	f.mu.Lock()
	f.puts++
	n := f.puts
	fail, collide, cancel := f.failPut == n, f.collideFirst && n == 1 && len(items) > 1, f.cancel
	f.mu.Unlock()
	if fail {
		if cancel != nil { // the caller gives up while the store fails
			cancel()
			return nil, fmt.Errorf("vaulttest: put: %w", ctx.Err())
		}
		return nil, errInjected
	}
	send := items
	if collide {
		send = items[:len(items)-1]
	}
	res, err := f.Store.Put(ctx, send)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	for _, r := range res {
		if r.Status == vault.PutCreated {
			f.created = append(f.created, r.Record.Alias)
		}
	}
	f.mu.Unlock()
	if collide {
		res = append(res, vault.PutResult{Status: vault.PutCollision})
	}
	return res, nil
}

func (f *faulty) Get(ctx context.Context, aliases []string) ([]*vault.Record, error) {
	f.mu.Lock()
	fail := f.failGet && len(f.created) > 0
	f.mu.Unlock()
	if fail {
		return nil, errInjected
	}
	return f.Store.Get(ctx, aliases)
}

// Close leaves the store under test open: the suite closes it.
func (f *faulty) Close() error { return nil }

type failingAuditor struct{}

func (failingAuditor) AuditVault(context.Context, vault.AuditEvent) error { return errInjected }

// testRedactAtomic: a Redact that fails at any step (a store write, a
// collision retry, a read of the other store, the audit, the caller giving
// up) leaves no record it made in either store, and keeps the persistent
// alias a value had before the call.
func testRedactAtomic(t *testing.T, h Harness) {
	const (
		oldCard = "5555555555554444" // redacted before the failing call
		newCard = "4111111111111111"
	)
	steps := []struct {
		name  string
		setup func(p, v *faulty, cancel func())
		audit bool
	}{
		{"VolatileWriteFails", func(p, v *faulty, _ func()) { v.failPut = 1 }, false},
		{"PersistentWriteFailsAfterVolatile", func(p, v *faulty, _ func()) { p.failPut = 1 }, false},
		{"CollisionRetryFails", func(p, v *faulty, _ func()) { v.collideFirst, v.failPut = true, 2 }, false},
		{"PersistentRetryFails", func(p, v *faulty, _ func()) { p.collideFirst, p.failPut = true, 2 }, false},
		{"OtherStoreReadFails", func(p, v *faulty, _ func()) { v.failGet = true }, false},
		{"CallerGivesUp", func(p, v *faulty, cancel func()) { p.failPut, p.cancel = 1, cancel }, false},
		{"AuditFails", func(p, v *faulty, _ func()) {}, true},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			clk := NewClock()
			s := open(t, h, clk.Now)
			kr, err := vault.OpenKeyring(context.Background(), s, testMaster)
			if err != nil {
				t.Fatal(err)
			}
			ok, err := vault.New(s, s, kr, vault.Options{Env: "test", VolatileTTL: time.Minute, Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			before, err := ok.Redact(context.Background(), []vault.RedactRequest{{Value: oldCard}})
			if err != nil {
				t.Fatal(err)
			}
			lenBefore := storeLen(s)

			p := &faulty{Store: s, name: "p"}
			v := &faulty{Store: s, name: "v"}
			opts := vault.Options{Env: "test", VolatileTTL: time.Minute, Now: clk.Now}
			if st.audit {
				opts.Auditor = failingAuditor{}
			}
			svc, err := vault.New(p, v, kr, opts)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			st.setup(p, v, cancel)
			reqs := []vault.RedactRequest{
				{Value: oldCard}, // existed: must stay
				{Value: newCard}, // new persistent
				{Value: newCard, Format: vault.FormatFPESixTFour},                // new persistent, numeric
				{Value: "123", Storage: vault.StorageVolatile},                   // new volatile
				{Value: "456", Storage: vault.StorageVolatile},                   // new volatile
				{Value: "789", Storage: vault.StorageVolatile},                   // new volatile
				{Alias: before[0].Alias, Format: vault.FormatPFPT, Detail: true}, // new persistent from an alias (audited)
			}
			if _, err := svc.Redact(ctx, reqs); err == nil {
				t.Fatal("Redact succeeded despite the injected failure")
			}
			created := append(append([]string(nil), p.created...), v.created...)
			if st.name != "VolatileWriteFails" && len(created) == 0 {
				t.Fatal("the failure came before any write: the test proves nothing")
			}
			got, err := s.Get(context.Background(), created)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range got {
				if r != nil {
					t.Errorf("record %d of %d the failed call made is still stored", i, len(created))
				}
			}
			if n := storeLen(s); n != lenBefore {
				t.Errorf("the store holds %d records, %d before the failed call", n, lenBefore)
			}
			// The values' index entries are gone too: the same call, now
			// without failures, creates the new values and finds the old.
			again, err := ok.Redact(context.Background(), reqs[:3])
			if err != nil {
				t.Fatal(err)
			}
			if again[0].Alias != before[0].Alias || again[0].Created || !again[1].Created || !again[2].Created {
				t.Fatalf("after the failed call: %+v; want the old alias kept and the new values absent", again)
			}
		})
	}
}

// storeLen returns the records a store holds when it can tell (memstore),
// else -1.
func storeLen(s vault.Store) int {
	if l, ok := s.(interface{ Len() int }); ok {
		return l.Len()
	}
	return -1
}
