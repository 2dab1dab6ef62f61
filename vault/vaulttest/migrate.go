package vaulttest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
)

// The accounts migration's cases: Store.SetOwner gives a record to another
// owner atomically, moving its index entry, and refuses a record that is
// not the named owner's; Service.MigrateRecord only ever gives a record of
// the default account, in place or as a copy, and repeats as a no-op.

func indexKey(s string) []byte {
	k := sha256.Sum256([]byte(s))
	return k[:]
}

func testSetOwner(t *testing.T, h Harness) {
	clk := NewClock()
	s := open(t, h, clk.Now)
	ctx := context.Background()
	def := rec("tok_so_def", "so default", clk.Now())
	other := rec("tok_so_other", "so other", clk.Now())
	other.Owner = "acct_b"
	holder := rec("tok_so_holder", "so held", clk.Now())
	holder.Owner = "acct_c"
	vol := rec("tok_so_vol", "", clk.Now())
	vol.Storage, vol.ExpiresAt = vault.StorageVolatile, clk.Now().Add(time.Hour)
	exp := rec("tok_so_exp", "", clk.Now())
	exp.Storage, exp.ExpiresAt = vault.StorageVolatile, clk.Now().Add(time.Second)
	Put(t, s, def, other, holder, vol, exp)
	clk.Advance(2 * time.Second)

	// Refused: absent, expired, not from's. Nothing changes.
	for _, c := range []struct{ alias, from string }{
		{"tok_so_missing", ""}, {"tok_so_exp", ""}, {"tok_so_other", ""}, {"tok_so_other", "acct_c"}, {"tok_so_def", "acct_b"},
	} {
		if err := s.SetOwner(ctx, c.alias, c.from, "acct_x", indexKey("x")); !errors.Is(err, vault.ErrNotFound) {
			t.Fatalf("SetOwner(%s from %q) = %v, want ErrNotFound", c.alias, c.from, err)
		}
	}
	sameRecord(t, get1(t, s, "tok_so_def"), def)
	sameRecord(t, get1(t, s, "tok_so_other"), other)
	if keys, err := s.LookupIndex(ctx, [][]byte{indexKey("x")}); err != nil || keys[0] != "" {
		t.Fatalf("a refused SetOwner wrote an index entry: %q, %v", keys, err)
	}

	// The default record goes to acct_a with a new index key: the old
	// entry is gone, the new one points at it, everything else stays.
	newKey := indexKey("so default for acct_a")
	if err := s.SetOwner(ctx, "tok_so_def", "", "acct_a", newKey); err != nil {
		t.Fatal(err)
	}
	want := def.Clone()
	want.Owner, want.IndexKey = "acct_a", newKey
	sameRecord(t, get1(t, s, "tok_so_def"), want)
	if keys, err := s.LookupIndex(ctx, [][]byte{def.IndexKey, newKey}); err != nil || keys[0] != "" || keys[1] != "tok_so_def" {
		t.Fatalf("index after SetOwner = %q, %v; want the old entry gone, the new one at tok_so_def", keys, err)
	}
	// A repeat is refused (it is acct_a's now) and changes nothing.
	if err := s.SetOwner(ctx, "tok_so_def", "", "acct_z", nil); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("SetOwner of a moved record = %v", err)
	}
	sameRecord(t, get1(t, s, "tok_so_def"), want)
	// Only its new owner deletes it now.
	if err := s.Delete(ctx, "tok_so_def", ""); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("the old owner deleted a moved record: %v", err)
	}

	// An index key a live record holds is not taken: the moved record then
	// has no index entry, and the holder keeps its own.
	if err := s.SetOwner(ctx, "tok_so_other", "acct_b", "acct_c", holder.IndexKey); err != nil {
		t.Fatal(err)
	}
	want = other.Clone()
	want.Owner, want.IndexKey = "acct_c", nil
	sameRecord(t, get1(t, s, "tok_so_other"), want)
	if keys, err := s.LookupIndex(ctx, [][]byte{other.IndexKey, holder.IndexKey}); err != nil || keys[0] != "" || keys[1] != "tok_so_holder" {
		t.Fatalf("index after a SetOwner onto a taken key = %q, %v", keys, err)
	}

	// A volatile record keeps its expiry, and expires with it.
	if err := s.SetOwner(ctx, "tok_so_vol", "", "acct_a", nil); err != nil {
		t.Fatal(err)
	}
	want = vol.Clone()
	want.Owner = "acct_a"
	sameRecord(t, get1(t, s, "tok_so_vol"), want)
	if h.Reopen != nil {
		s = h.Reopen(t, s, clk.Now)
		t.Cleanup(func() { s.Close() })
		sameRecord(t, get1(t, s, "tok_so_vol"), want)
		if keys, err := s.LookupIndex(ctx, [][]byte{newKey}); err != nil || keys[0] != "tok_so_def" {
			t.Fatalf("index after reopen = %q, %v", keys, err)
		}
	}
	clk.Advance(time.Hour)
	if get1(t, s, "tok_so_vol") != nil {
		t.Fatal("a moved volatile record outlived its expiry")
	}
}

func testSetOwnerRace(t *testing.T, h Harness) {
	clk := NewClock()
	s := open(t, h, clk.Now)
	ctx := context.Background()
	r := rec("tok_race", "race", clk.Now())
	Put(t, s, r)
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.SetOwner(ctx, "tok_race", "", fmt.Sprintf("acct_%d", i), indexKey(fmt.Sprintf("race %d", i)))
		}()
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner == -1:
			winner = i
		case err == nil:
			t.Fatalf("SetOwner by acct_%d and acct_%d both succeeded", winner, i)
		case !errors.Is(err, vault.ErrNotFound):
			t.Fatalf("SetOwner by acct_%d: %v", i, err)
		}
	}
	if winner == -1 {
		t.Fatal("no SetOwner succeeded")
	}
	got := get1(t, s, "tok_race")
	if got == nil || got.Owner != fmt.Sprintf("acct_%d", winner) {
		t.Fatalf("owner after the race = %+v, want acct_%d", got, winner)
	}
	for i := range n {
		keys, err := s.LookupIndex(ctx, [][]byte{indexKey(fmt.Sprintf("race %d", i))})
		if err != nil {
			t.Fatal(err)
		}
		if (keys[0] == "tok_race") != (i == winner) {
			t.Fatalf("index entry of acct_%d = %q (winner acct_%d)", i, keys[0], winner)
		}
	}
}

func testServiceMigrateRecord(t *testing.T, h Harness) {
	clk := NewClock()
	s := open(t, h, clk.Now)
	kr, err := vault.OpenKeyring(context.Background(), s, testMaster)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := vault.New(s, s, kr, vault.Options{Env: "test", VolatileTTL: time.Minute, Now: clk.Now, DefaultAccount: "acct_main"})
	if err != nil {
		t.Fatal(err)
	}
	bg := context.Background()
	ctxA, ctxB := vault.WithAccount(bg, "acct_a"), vault.WithAccount(bg, "acct_b")
	// Records written before accounts: the default account's.
	old, err := svc.Redact(bg, []vault.RedactRequest{
		{Value: "4111111111111111", Format: vault.FormatFPESixTFour, Classifiers: []string{"pan"}},
		{Value: "123", Storage: vault.StorageVolatile},
		{Value: "5555555555554444"},
		{Value: "378282246310005"},
	})
	if err != nil {
		t.Fatal(err)
	}
	pan, cvc, shared, gone := old[0].Alias, old[1].Alias, old[2].Alias, old[3].Alias
	if err := svc.Delete(bg, gone); err != nil {
		t.Fatal(err)
	}
	own, err := svc.Redact(ctxB, []vault.RedactRequest{{Value: "6011111111111117"}})
	if err != nil {
		t.Fatal(err)
	}
	reveal := func(ctx context.Context, alias string) string {
		t.Helper()
		got, err := svc.Reveal(ctx, []string{alias})
		if err != nil {
			t.Fatal(err)
		}
		return got[0].Value
	}

	// In place: the alias stays, acct_a reaches it, the default account no
	// longer does, and acct_a's index gives it for the value.
	for range 2 { // the repeat is a no-op
		got, err := svc.MigrateRecord(bg, pan, "acct_a", true)
		if err != nil || got != pan {
			t.Fatalf("MigrateRecord in place = %q, %v; want %q", got, err, pan)
		}
	}
	if reveal(ctxA, pan) != "4111111111111111" || reveal(bg, pan) != "" || reveal(ctxB, pan) != "" {
		t.Fatal("after an in-place migration only acct_a must reach the alias")
	}
	if again, err := svc.Redact(ctxA, []vault.RedactRequest{{Value: "4111111111111111", Format: vault.FormatFPESixTFour}}); err != nil ||
		again[0].Alias != pan || again[0].Created {
		t.Fatalf("acct_a's tokenize of the migrated value = %+v, %v; want the migrated alias", again, err)
	}
	if d, err := svc.Redact(bg, []vault.RedactRequest{{Value: "4111111111111111", Format: vault.FormatFPESixTFour}}); err != nil ||
		d[0].Alias == pan || !d[0].Created {
		t.Fatalf("the default account's tokenize after the migration = %+v, %v; want a new alias of its own", d, err)
	}
	// A volatile record in place keeps its expiry.
	if got, err := svc.MigrateRecord(bg, cvc, "acct_a", true); err != nil || got != cvc {
		t.Fatalf("MigrateRecord of the CVC = %q, %v", got, err)
	}
	if reveal(ctxA, cvc) != "123" || reveal(bg, cvc) != "" {
		t.Fatal("the migrated CVC")
	}

	// A copy: the default account keeps its alias, each account gets its
	// own deterministic one, the same on a repeat.
	ca, err := svc.MigrateRecord(bg, shared, "acct_a", false)
	if err != nil || ca == shared {
		t.Fatalf("MigrateRecord copy = %q, %v", ca, err)
	}
	cb, err := svc.MigrateRecord(bg, shared, "acct_b", false)
	if err != nil || cb == shared || cb == ca {
		t.Fatalf("MigrateRecord copy for acct_b = %q, %v", cb, err)
	}
	if again, err := svc.MigrateRecord(bg, shared, "acct_a", false); err != nil || again != ca {
		t.Fatalf("a repeated copy = %q, %v; want %q", again, err, ca)
	}
	if reveal(bg, shared) != "5555555555554444" || reveal(ctxA, ca) != "5555555555554444" || reveal(ctxB, cb) != "5555555555554444" ||
		reveal(ctxA, cb) != "" || reveal(ctxB, ca) != "" || reveal(ctxA, shared) != "" {
		t.Fatal("after copies every account must reach its own alias only")
	}
	if toks, err := svc.Redact(ctxA, []vault.RedactRequest{{Value: "5555555555554444"}}); err != nil || toks[0].Alias != ca {
		t.Fatalf("acct_a's tokenize gives %+v, %v; want its copy", toks, err)
	}

	// Never given: another account's record, a gone one, a bad account.
	for _, c := range []struct {
		alias, account string
		reown          bool
	}{{own[0].Alias, "acct_a", true}, {own[0].Alias, "acct_a", false}, {pan, "acct_b", true}, {gone, "acct_a", true}, {"tok_test_missing", "acct_a", false}} {
		if got, err := svc.MigrateRecord(bg, c.alias, c.account, c.reown); !errors.Is(err, vault.ErrNotFound) || got != "" {
			t.Fatalf("MigrateRecord(%s to %s) = %q, %v; want ErrNotFound", c.alias, c.account, got, err)
		}
	}
	if reveal(ctxB, own[0].Alias) != "6011111111111117" || reveal(ctxA, pan) != "4111111111111111" {
		t.Fatal("a refused migration moved a record")
	}
	if _, err := svc.MigrateRecord(bg, pan, "bad account", true); !errors.Is(err, vault.ErrInvalidAccount) {
		t.Fatalf("MigrateRecord to an invalid account = %v", err)
	}
	// The default account itself: nothing to do.
	if got, err := svc.MigrateRecord(bg, shared, "acct_main", true); err != nil || got != shared || reveal(bg, shared) == "" {
		t.Fatalf("MigrateRecord to the default account = %q, %v", got, err)
	}
}
