package vaulttest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
)

// testHandOutRelease: Release deletes a record as Delete does (its index
// entry too), unless HandOut marked it since it was written: then
// ErrHandedOut and the record and its index entry stay. HandOut reports
// which aliases are live, marks only those, and marking twice changes
// nothing; Delete removes a marked record and its mark with it (a record
// written again under the alias is released). Release of an absent,
// expired or other owner's alias is ErrNotFound.
func testHandOutRelease(t *testing.T, h Harness) {
	clk := NewClock()
	s := open(t, h, clk.Now)
	ctx := context.Background()

	free := rec("tok_free", "free", clk.Now())
	handed := rec("tok_handed", "handed", clk.Now())
	owned := rec("tok_owned", "owned", clk.Now())
	owned.Owner = "acct_b"
	vol := rec("tok_vol", "", clk.Now())
	vol.Storage, vol.ExpiresAt = vault.StorageVolatile, clk.Now().Add(time.Minute)
	Put(t, s, free, handed, owned, vol)

	live, err := s.HandOut(ctx, []string{"tok_handed", "tok_absent", "tok_handed", "tok_owned"})
	if err != nil {
		t.Fatalf("HandOut: %v", err)
	}
	if want := []bool{true, false, true, true}; !slices.Equal(live, want) {
		t.Fatalf("HandOut live = %v, want %v", live, want)
	}
	if live, err := s.HandOut(ctx, []string{"tok_handed"}); err != nil || !live[0] {
		t.Fatalf("HandOut again = %v, %v; want live", live, err)
	}
	if live, err := s.HandOut(ctx, nil); err != nil || len(live) != 0 {
		t.Fatalf("HandOut of nothing = %v, %v", live, err)
	}

	if err := s.Release(ctx, "tok_free", ""); err != nil {
		t.Fatalf("Release of an alias never handed out: %v", err)
	}
	if get1(t, s, "tok_free") != nil {
		t.Fatal("released alias still returned")
	}
	if keys, _ := s.LookupIndex(ctx, [][]byte{free.IndexKey}); keys[0] != "" {
		t.Fatal("index entry survived the release")
	}
	if err := s.Release(ctx, "tok_handed", ""); !errors.Is(err, vault.ErrHandedOut) {
		t.Fatalf("Release of a handed-out alias = %v, want ErrHandedOut", err)
	}
	sameRecord(t, get1(t, s, "tok_handed"), handed)
	if keys, _ := s.LookupIndex(ctx, [][]byte{handed.IndexKey}); keys[0] != "tok_handed" {
		t.Fatalf("index entry of a kept alias = %q", keys[0])
	}
	if err := s.Release(ctx, "tok_owned", ""); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("Release by another owner = %v, want ErrNotFound", err)
	}
	if err := s.Release(ctx, "tok_absent", ""); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("Release of an absent alias = %v, want ErrNotFound", err)
	}
	if err := s.Release(ctx, "tok_vol", ""); err != nil {
		t.Fatalf("Release of a volatile record: %v", err)
	}

	// Delete removes a marked record, and the mark with it.
	if err := s.Delete(ctx, "tok_handed", ""); err != nil {
		t.Fatalf("Delete of a handed-out alias: %v", err)
	}
	again := rec("tok_handed", "handed again", clk.Now())
	if res := Put(t, s, again); res[0].Status != vault.PutCreated {
		t.Fatalf("re-put = %v, want created", res[0].Status)
	}
	if err := s.Release(ctx, "tok_handed", ""); err != nil {
		t.Fatalf("Release of a record written again after a delete: %v (the mark outlived its record)", err)
	}

	// An expired record is not live: nothing is marked.
	exp := rec("tok_exp", "exp", clk.Now())
	exp.Storage, exp.ExpiresAt = vault.StorageVolatile, clk.Now().Add(time.Second)
	Put(t, s, exp)
	clk.Advance(time.Second)
	if live, err := s.HandOut(ctx, []string{"tok_exp"}); err != nil || live[0] {
		t.Fatalf("HandOut of an expired alias = %v, %v; want not live", live, err)
	}
	if err := s.Release(ctx, "tok_exp", ""); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("Release of an expired alias = %v, want ErrNotFound", err)
	}
}

// testHandOutReleaseRace: a HandOut and a Release of the same alias at
// once are ordered: either the mark came first (HandOut reports the alias
// live, and Release keeps it: ErrHandedOut) or the release did (the record
// is gone and HandOut reports it not live). Never is an alias reported
// live to a caller and then deleted, whichever runs first.
func testHandOutReleaseRace(t *testing.T, h Harness) {
	clk := NewClock()
	s := open(t, h, clk.Now)
	ctx := context.Background()
	const n = 40
	recs := make([]*vault.Record, n)
	for i := range recs {
		recs[i] = rec(fmt.Sprintf("tok_race_%02d", i), fmt.Sprintf("race %d", i), clk.Now())
	}
	Put(t, s, recs...)
	live := make([]bool, n)
	rels := make([]error, n)
	var wg sync.WaitGroup
	for i := range recs {
		a := recs[i].Alias
		wg.Add(2)
		go func() {
			defer wg.Done()
			l, err := s.HandOut(ctx, []string{a})
			if err != nil {
				t.Errorf("HandOut: %v", err)
				return
			}
			live[i] = l[0]
		}()
		go func() {
			defer wg.Done()
			rels[i] = s.Release(ctx, a, "")
		}()
	}
	wg.Wait()
	for i, r := range recs {
		kept := get1(t, s, r.Alias) != nil
		switch {
		case live[i] && errors.Is(rels[i], vault.ErrHandedOut) && kept:
		case !live[i] && rels[i] == nil && !kept:
		default:
			t.Errorf("%s: HandOut live %v, Release %v, record kept %v: not one order of the two", r.Alias, live[i], rels[i], kept)
		}
	}
}

// hookedStore is a store whose LookupRecords, LookupIndex and HandOut
// each run a hook once (the next call after it is set) before they
// answer: a test puts another request's step there, between two steps
// of the call it watches.
type hookedStore struct {
	vault.Store
	mu                                  sync.Mutex
	beforeLookup, beforeIndex, beforeHO func() error
	hiding                              bool // the armed LookupRecords answers as before the hook ran
	handOuts                            int
}

// take returns the hook *h and clears it.
func (s *hookedStore) take(h *func() error) func() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := *h
	*h = nil
	return f
}

// set arms hook *h with f.
func (s *hookedStore) set(h *func() error, f func() error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	*h = f
}

func (s *hookedStore) LookupRecords(ctx context.Context, keys [][]byte) ([]string, []*vault.Record, error) {
	f := s.take(&s.beforeLookup)
	if f == nil {
		return s.Store.LookupRecords(ctx, keys)
	}
	// The call reads first, then the hook runs: a look-up that comes
	// before the other request's step.
	aliases, recs, err := s.Store.LookupRecords(ctx, keys)
	if herr := f(); herr != nil {
		return nil, nil, herr
	}
	return aliases, recs, err
}

func (s *hookedStore) LookupIndex(ctx context.Context, keys [][]byte) ([]string, error) {
	if f := s.take(&s.beforeIndex); f != nil {
		if err := f(); err != nil {
			return nil, err
		}
	}
	return s.Store.LookupIndex(ctx, keys)
}

func (s *hookedStore) HandOut(ctx context.Context, aliases []string) ([]bool, error) {
	s.mu.Lock()
	s.handOuts++
	s.mu.Unlock()
	if f := s.take(&s.beforeHO); f != nil {
		if err := f(); err != nil {
			return nil, err
		}
	}
	return s.Store.HandOut(ctx, aliases)
}

// count returns the HandOut calls so far.
func (s *hookedStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.handOuts
}

var errHook = errors.New("vaulttest: the hook fails the call")

// testServiceReleaseRaces: request A (a Redact under vault.WithCreations,
// as an inbound route in front of the gateway's APIs makes it) creates the
// alias of a card number and releases it (Service.Release, as the API
// that refused A does); request B redacts the same number in between, at
// each step of its Redact, and keeps the alias it was given, which must
// stay revealable: B found A's record (it is handed out: A's release keeps
// it), B's Put met it (PutExisting: handed out the same way), A released
// it between B's look-up and B's hand-out (B is given a new alias of its
// own), and A's Redact failed and rolled back after B found its alias.
// An alias nobody else was given is released; one older than
// ReleaseMaxAge is kept, and B finding it older than HandOutWindow writes
// nothing; nor does a Service finding again a record it handed out. Before, each release deleted the alias B kept: a dead alias
// at the merchant.
func testServiceReleaseRaces(t *testing.T, h Harness) {
	clk := NewClock()
	hs := &hookedStore{Store: open(t, h, clk.Now)}
	svc := service(t, hs, clk, testMaster)
	bg := context.Background()
	redact := func(ctx context.Context, value string) (vault.Token, error) {
		toks, err := svc.Redact(ctx, []vault.RedactRequest{{Value: value, Format: vault.FormatUUID, Classifiers: []string{"pan"}}})
		if err != nil {
			return vault.Token{}, err
		}
		return toks[0], nil
	}
	mustRedact := func(ctx context.Context, value string) vault.Token {
		t.Helper()
		tok, err := redact(ctx, value)
		if err != nil {
			t.Fatalf("Redact: %v", err)
		}
		return tok
	}
	alive := func(alias, value string) bool {
		t.Helper()
		out, err := svc.Reveal(bg, []string{alias})
		if err != nil {
			t.Fatalf("Reveal: %v", err)
		}
		return out[0].Err == nil && out[0].Value == value
	}
	// releaseKeeps releases alias for A, which another request was
	// given: it stays.
	releaseKeeps := func(alias, value string) {
		t.Helper()
		if err := svc.Release(bg, alias); !errors.Is(err, vault.ErrHandedOut) {
			t.Fatalf("A's release = %v, want ErrHandedOut", err)
		}
		if !alive(alias, value) {
			t.Fatal("A's release deleted the alias B was given")
		}
	}

	t.Run("nobody else was given it", func(t *testing.T) {
		a := mustRedact(vault.WithCreations(bg), "4000000000000002")
		if err := svc.Release(bg, a.Alias); err != nil {
			t.Fatalf("Release: %v", err)
		}
		if alive(a.Alias, "4000000000000002") {
			t.Fatal("an alias nobody else was given was not released")
		}
	})

	t.Run("found by B", func(t *testing.T) {
		const pan = "4111111111111111"
		a := mustRedact(vault.WithCreations(bg), pan)
		b := mustRedact(bg, pan)
		if b.Alias != a.Alias || b.Created || !a.Created {
			t.Fatalf("B was given %+v, A made %+v: want A's alias, found", b, a)
		}
		releaseKeeps(a.Alias, pan)
		// Found again: the Service remembers it handed the record out.
		before := hs.count()
		if c := mustRedact(bg, pan); c.Alias != a.Alias || hs.count() != before {
			t.Fatalf("found again: %s with %d HandOut calls, want %s with none", c.Alias, hs.count()-before, a.Alias)
		}
	})

	t.Run("B on another gateway", func(t *testing.T) {
		const pan = "4242424242424242"
		other := service(t, hs, clk, testMaster) // a second gateway on the same store
		a := mustRedact(vault.WithCreations(bg), pan)
		b, err := other.Redact(bg, []vault.RedactRequest{{Value: pan, Format: vault.FormatUUID}})
		if err != nil || b[0].Alias != a.Alias || b[0].Created {
			t.Fatalf("the other gateway was given %+v, %v; want A's %s, found", b, err, a.Alias)
		}
		releaseKeeps(a.Alias, pan)
	})

	t.Run("met by B's put", func(t *testing.T) {
		const pan = "5555555555554444"
		var a vault.Token
		hs.set(&hs.beforeLookup, func() error { // B's look-up found nothing, then A made the record
			var err error
			a, err = redact(vault.WithCreations(bg), pan)
			return err
		})
		b := mustRedact(bg, pan)
		if b.Alias != a.Alias || b.Created {
			t.Fatalf("B was given %+v, A made %+v: want A's alias, met in Put", b, a)
		}
		releaseKeeps(a.Alias, pan)
	})

	t.Run("released between B's look-up and its hand-out", func(t *testing.T) {
		const pan = "378282246310005"
		a := mustRedact(vault.WithCreations(bg), pan)
		hs.set(&hs.beforeHO, func() error { return svc.Release(bg, a.Alias) })
		b := mustRedact(bg, pan)
		if b.Alias == a.Alias || !b.Created {
			t.Fatalf("B was given %+v after A released %s: want a new alias", b, a.Alias)
		}
		if !alive(b.Alias, pan) || alive(a.Alias, pan) {
			t.Fatal("B's alias is not revealable, or A's was not released")
		}
	})

	t.Run("A rolls back after B found its alias", func(t *testing.T) {
		const pan, other = "6011111111111117", "3566002020360505"
		mustRedact(bg, other)
		clk.Advance(vault.HandOutWindow) // other's record is old: A's merge looks up its other aliases
		var b vault.Token
		hs.set(&hs.beforeIndex, func() error { // A wrote its record; B finds it; A fails
			var err error
			if b, err = redact(bg, pan); err != nil {
				return err
			}
			return errHook
		})
		_, err := svc.Redact(vault.WithCreations(bg), []vault.RedactRequest{
			{Value: pan, Format: vault.FormatUUID, Classifiers: []string{"pan"}},
			{Value: other, Format: vault.FormatUUID, Classifiers: []string{"pan", "new"}}, // a merge, which reads the index
		})
		if !errors.Is(err, errHook) {
			t.Fatalf("A's Redact = %v, want the hook's failure", err)
		}
		if b.Alias == "" || b.Created {
			t.Fatalf("B was given %+v: want A's alias, found", b)
		}
		if !alive(b.Alias, pan) {
			t.Fatal("A's rollback deleted the alias B was given")
		}
	})

	t.Run("old records", func(t *testing.T) {
		const pan = "4012888888881881"
		a := mustRedact(vault.WithCreations(bg), pan)
		clk.Advance(vault.HandOutWindow)
		before := hs.count()
		b := mustRedact(bg, pan)
		n := hs.count() - before
		if b.Alias != a.Alias || n != 0 {
			t.Fatalf("B was given %s (A's %s) with %d HandOut calls: want A's alias and no write", b.Alias, a.Alias, n)
		}
		if err := svc.Release(bg, a.Alias); !errors.Is(err, vault.ErrHandedOut) {
			t.Fatalf("release of an alias older than ReleaseMaxAge = %v, want ErrHandedOut", err)
		}
		if !alive(a.Alias, pan) {
			t.Fatal("an old alias was released")
		}
	})
}
