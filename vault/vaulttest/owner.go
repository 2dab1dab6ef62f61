package vaulttest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
)

// The ownership cases (issue 18): a store keeps each record's owner, and
// deletes a record only for its owner; a Service reaches only the records
// of the account its call acts for, answering another account's alias
// exactly as an unknown one, and indexes values per account.

func testOwner(t *testing.T, h Harness) {
	clk := NewClock()
	s := h.Open(t, clk.Now)
	owned := rec("tok_owned", "owned value", clk.Now())
	owned.Owner = "acct_b"
	def := rec("tok_default", "default value", clk.Now())
	vol := rec("tok_owned_vol", "", clk.Now())
	vol.Owner, vol.Storage, vol.ExpiresAt = "acct_b", vault.StorageVolatile, clk.Now().Add(time.Hour)
	Put(t, s, owned, def, vol)
	sameRecord(t, get1(t, s, "tok_owned"), owned)
	sameRecord(t, get1(t, s, "tok_default"), def)
	sameRecord(t, get1(t, s, "tok_owned_vol"), vol)
	// A second Put of the same index key answers the owner's record.
	again := rec("tok_owned2", "owned value", clk.Now())
	again.Owner = "acct_b"
	if res := Put(t, s, again); res[0].Status != vault.PutExisting || res[0].Record.Owner != "acct_b" {
		t.Fatalf("Put of an indexed owned record again = %+v, want the existing record of acct_b", res[0])
	}
	// Classifiers can change without losing the owner.
	if err := s.SetClassifiers(context.Background(), []string{"tok_owned"}, []string{"x"}); err != nil {
		t.Fatal(err)
	}
	owned.Classifiers = []string{"x"}
	sameRecord(t, get1(t, s, "tok_owned"), owned)
	if h.Reopen != nil {
		s = h.Reopen(t, s, clk.Now)
		sameRecord(t, get1(t, s, "tok_owned"), owned)
		sameRecord(t, get1(t, s, "tok_default"), def)
	}
	s.Close()
}

func testDeleteOwner(t *testing.T, h Harness) {
	clk := NewClock()
	s := open(t, h, clk.Now)
	ctx := context.Background()
	owned := rec("tok_do", "delete owned", clk.Now())
	owned.Owner = "acct_b"
	def := rec("tok_dd", "delete default", clk.Now())
	vol := rec("tok_dv", "", clk.Now())
	vol.Owner, vol.Storage, vol.ExpiresAt = "acct_b", vault.StorageVolatile, clk.Now().Add(time.Hour)
	Put(t, s, owned, def, vol)
	for _, c := range []struct{ alias, owner string }{
		{"tok_do", ""}, {"tok_do", "acct_a"}, {"tok_do", "acct_b2"}, {"tok_dd", "acct_b"}, {"tok_dv", "acct_a"}, {"tok_dv", ""},
	} {
		if err := s.Delete(ctx, c.alias, c.owner); !errors.Is(err, vault.ErrNotFound) {
			t.Fatalf("Delete(%s) by %q = %v, want ErrNotFound", c.alias, c.owner, err)
		}
	}
	sameRecord(t, get1(t, s, "tok_do"), owned)
	sameRecord(t, get1(t, s, "tok_dd"), def)
	sameRecord(t, get1(t, s, "tok_dv"), vol)
	if keys, err := s.LookupIndex(ctx, [][]byte{owned.IndexKey, def.IndexKey}); err != nil || keys[0] != "tok_do" || keys[1] != "tok_dd" {
		t.Fatalf("index after refused deletes = %q, %v", keys, err)
	}
	for _, c := range []struct{ alias, owner string }{{"tok_do", "acct_b"}, {"tok_dd", ""}, {"tok_dv", "acct_b"}} {
		if err := s.Delete(ctx, c.alias, c.owner); err != nil {
			t.Fatalf("Delete(%s) by its owner %q: %v", c.alias, c.owner, err)
		}
		if get1(t, s, c.alias) != nil {
			t.Fatalf("%s survived its owner's delete", c.alias)
		}
	}
	if keys, _ := s.LookupIndex(ctx, [][]byte{owned.IndexKey}); keys[0] != "" {
		t.Fatal("the index entry of a deleted owned record survived")
	}
}

// recordingAuditor keeps the audit events.
type recordingAuditor struct {
	mu     sync.Mutex
	events []vault.AuditEvent
}

func (a *recordingAuditor) AuditVault(_ context.Context, e vault.AuditEvent) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.events = append(a.events, e)
	return nil
}

func (a *recordingAuditor) last() vault.AuditEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.events[len(a.events)-1]
}

func testServiceAccounts(t *testing.T, h Harness) {
	clk := NewClock()
	s := open(t, h, clk.Now)
	kr, err := vault.OpenKeyring(context.Background(), s, testMaster)
	if err != nil {
		t.Fatal(err)
	}
	aud := &recordingAuditor{}
	svc, err := vault.New(s, s, kr, vault.Options{Env: "test", VolatileTTL: time.Minute, Now: clk.Now,
		DefaultAccount: "acct_main", Auditor: aud})
	if err != nil {
		t.Fatal(err)
	}
	bg := context.Background()
	ctxA := vault.WithAccount(bg, "acct_a")
	ctxB := vault.WithAccount(bg, "acct_b")
	toks, err := svc.Redact(ctxA, []vault.RedactRequest{
		{Value: "4111111111111111", Format: vault.FormatFPESixTFour},
		{Value: "123", Storage: vault.StorageVolatile},
		{Value: "4111111111111111"},
	})
	if err != nil {
		t.Fatal(err)
	}
	pan, cvc, uuid := toks[0].Alias, toks[1].Alias, toks[2].Alias
	unknown := "tok_test_0000000000000000000000"

	// acct_b reaches none of them, and every answer is the unknown alias's.
	got, err := svc.Reveal(ctxB, []string{pan, cvc, uuid, unknown})
	if err != nil {
		t.Fatal(err)
	}
	for i, g := range got {
		if !errors.Is(g.Err, vault.ErrNotFound) || g.Value != "" {
			t.Fatalf("acct_b revealed item %d of acct_a: %+v", i, g)
		}
	}
	if e := aud.last(); e.Found != 0 || e.Outcome != vault.OutcomeNotFound || e.Actor.Account != "acct_b" {
		t.Fatalf("audit of a foreign reveal = %+v, want not_found by acct_b", e)
	}
	es, err := svc.Describe(ctxB, []string{pan, uuid})
	if err != nil || !errors.Is(es[0].Err, vault.ErrNotFound) || !errors.Is(es[1].Err, vault.ErrNotFound) {
		t.Fatalf("acct_b described acct_a's aliases: %+v, %v", es, err)
	}
	for _, a := range []string{pan, cvc, uuid} {
		if err := svc.Delete(ctxB, a); !errors.Is(err, vault.ErrNotFound) {
			t.Fatalf("acct_b Delete(acct_a alias) = %v, want ErrNotFound", err)
		}
		if err := svc.UpdateClassifiers(ctxB, a, []string{"stolen"}); !errors.Is(err, vault.ErrNotFound) {
			t.Fatalf("acct_b UpdateClassifiers(acct_a alias) = %v, want ErrNotFound", err)
		}
	}
	var be *vault.BatchError
	if _, err := svc.Redact(ctxB, []vault.RedactRequest{{Alias: uuid, Format: vault.FormatFPESixTFour, Detail: true}}); !errors.As(err, &be) ||
		!errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("acct_b Redact from acct_a's alias = %v, want an item ErrNotFound", err)
	}
	// The default account (no account in the context, or named) is an
	// account like the others.
	for _, ctx := range []context.Context{bg, vault.WithAccount(bg, "acct_main")} {
		if got, err := svc.Reveal(ctx, []string{pan, cvc}); err != nil || !errors.Is(got[0].Err, vault.ErrNotFound) || !errors.Is(got[1].Err, vault.ErrNotFound) {
			t.Fatalf("the default account revealed acct_a's aliases: %+v, %v", got, err)
		}
	}
	// acct_a still reaches everything, unchanged.
	got, err = svc.Reveal(ctxA, []string{pan, cvc, uuid})
	if err != nil || got[0].Value != "4111111111111111" || got[1].Value != "123" || got[2].Value != "4111111111111111" {
		t.Fatalf("acct_a's reveal after the foreign attempts = %+v, %v", got, err)
	}
	if e := aud.last(); e.Actor.Account != "acct_a" || e.Found != 3 {
		t.Fatalf("audit of acct_a's reveal = %+v", e)
	}
	es, err = svc.Describe(ctxA, []string{uuid})
	if err != nil || len(es[0].Aliases) != 2 || es[0].Aliases[1].Alias != pan || len(es[0].Classifiers) != 0 {
		t.Fatalf("acct_a's describe = %+v, %v (want both aliases, no classifier)", es, err)
	}
	if err := svc.Delete(ctxA, pan); err != nil {
		t.Fatalf("acct_a deletes its alias: %v", err)
	}
	// A record of the default account is the default account's only.
	dtoks, err := svc.Redact(bg, []vault.RedactRequest{{Value: "5555555555554444"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := svc.Reveal(ctxA, []string{dtoks[0].Alias}); err != nil || !errors.Is(got[0].Err, vault.ErrNotFound) {
		t.Fatalf("acct_a revealed the default account's alias: %+v, %v", got, err)
	}
	if got, err := svc.Reveal(vault.WithAccount(bg, "acct_main"), []string{dtoks[0].Alias}); err != nil || got[0].Value != "5555555555554444" {
		t.Fatalf("the default account by name: %+v, %v", got, err)
	}
	if e := aud.last(); e.Actor.Account != "acct_main" {
		t.Fatalf("audit names account %q, want acct_main", e.Actor.Account)
	}
	if got, err := svc.Reveal(bg, []string{dtoks[0].Alias}); err != nil || got[0].Value != "5555555555554444" {
		t.Fatalf("the default account without a name: %+v, %v", got, err)
	}
	if e := aud.last(); e.Actor.Account != "acct_main" {
		t.Fatalf("audit of a call naming no account names %q, want the default acct_main", e.Actor.Account)
	}
}

func testServicePerAccountAliases(t *testing.T, h Harness) {
	clk := NewClock()
	s := open(t, h, clk.Now)
	svc := service(t, s, clk, testMaster)
	bg := context.Background()
	reqs := []vault.RedactRequest{
		{Value: "4111111111111111"},
		{Value: "4111111111111111", Format: vault.FormatFPESixTFour},
		{Value: "4111111111111111", Format: vault.FormatNumLengthPreserving},
	}
	var all [][]vault.Token
	for _, acct := range []string{"", "acct_a", "acct_b", "acct_a"} {
		ctx := bg
		if acct != "" {
			ctx = vault.WithAccount(bg, acct)
		}
		toks, err := svc.Redact(ctx, reqs)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, toks)
	}
	// Within an account: deterministic (acct_a twice), no new record.
	for i := range reqs {
		if all[1][i].Alias != all[3][i].Alias || all[3][i].Created {
			t.Fatalf("acct_a's alias %d changed: %+v then %+v", i, all[1][i], all[3][i])
		}
	}
	// Across accounts: every alias differs, each a new record.
	var seen []string
	for k := range 3 {
		for i := range reqs {
			if !all[k][i].Created || slices.Contains(seen, all[k][i].Alias) {
				t.Fatalf("account %d item %d: %+v shared with another account (or not created)", k, i, all[k][i])
			}
			seen = append(seen, all[k][i].Alias)
		}
	}
	// Known: the value is card data for every account; an alias is an
	// alias to its own account only (to another it is unknown, card data:
	// the leak guard of one account cannot be told a card-like number is
	// an alias by another account's making it one).
	// The aliases asked about: the default account's, acct_a's, acct_b's.
	for k, ctx := range []context.Context{bg, vault.WithAccount(bg, "acct_a"), vault.WithAccount(bg, "acct_b"), vault.WithAccount(bg, "acct_c")} {
		p, err := svc.Known(ctx, []string{all[0][0].Alias, all[1][0].Alias, all[2][1].Alias, "4111111111111111"})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			want := vault.PresenceUnknown
			if i == k {
				want = vault.PresenceAlias
			}
			if p[i] != want {
				t.Fatalf("account %d: Known of account %d's alias = %v, want %v (all: %v)", k, i, p[i], want, p)
			}
		}
		if p[3] == vault.PresenceAlias {
			t.Fatalf("account %d: Known of a card number = %v", k, p[3])
		}
	}
}

// testServiceKnowsTheDefaultAccountUnderEitherName: Known counts the
// default account's aliases as aliases for a call naming no account and
// for one naming the default account, whether a record's Owner is ""
// (written by the default account, or before accounts) or the default
// account's name (written by a client of that account while the default
// was still provisional): a route without account, or with the default
// account's name, must not take its own account's card-like aliases for
// card data (on a Prober store, the owners asked are both).
func testServiceKnowsTheDefaultAccountUnderEitherName(t *testing.T, h Harness) {
	clk := NewClock()
	s := open(t, h, clk.Now)
	kr, err := vault.OpenKeyring(context.Background(), s, testMaster)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(def string) *vault.Service {
		svc, err := vault.New(s, s, kr, vault.Options{Env: "test", VolatileTTL: time.Minute, Now: clk.Now, DefaultAccount: def})
		if err != nil {
			t.Fatal(err)
		}
		return svc
	}
	bg := context.Background()
	// While provisional ("default"), a client of acct_main writes: Owner
	// "acct_main". Then acct_main is the default.
	early, err := mk(vault.DefaultAccountName).Redact(vault.WithAccount(bg, "acct_main"),
		[]vault.RedactRequest{{Value: "4111111111111111", Format: vault.FormatFPESixTFour}})
	if err != nil {
		t.Fatal(err)
	}
	svc := mk("acct_main")
	late, err := svc.Redact(bg, []vault.RedactRequest{{Value: "5555555555554444", Format: vault.FormatFPESixTFour}})
	if err != nil {
		t.Fatal(err)
	}
	other, err := svc.Redact(vault.WithAccount(bg, "acct_x"), []vault.RedactRequest{{Value: "4000056655665556", Format: vault.FormatFPESixTFour}})
	if err != nil {
		t.Fatal(err)
	}
	ask := []string{early[0].Alias, late[0].Alias, other[0].Alias}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want []vault.Presence
	}{
		{"no account", bg, []vault.Presence{vault.PresenceAlias, vault.PresenceAlias, vault.PresenceUnknown}},
		{"the default's name", vault.WithAccount(bg, "acct_main"), []vault.Presence{vault.PresenceAlias, vault.PresenceAlias, vault.PresenceUnknown}},
		{"another account", vault.WithAccount(bg, "acct_x"), []vault.Presence{vault.PresenceUnknown, vault.PresenceUnknown, vault.PresenceAlias}},
	} {
		got, err := svc.Known(tc.ctx, ask)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tc.want) {
			t.Fatalf("%s: Known = %v, want %v", tc.name, got, tc.want)
		}
	}
}
