package vaulttest

import (
	"context"
	"errors"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
)

// testNumbers: the numbers index (vault.Numbers over the store as
// vault.NumberStore) answers ErrNumberHeld for a number a live alias of
// any account holds, forgets an alias whose record is gone, indexes
// stored records by decrypting them (AddAliases), and keeps its mark.
func testNumbers(t *testing.T, h Harness) {
	clk := NewClock()
	s := open(t, h, clk.Now)
	ns, ok := s.(vault.NumberStore)
	if !ok {
		t.Fatalf("%T does not implement vault.NumberStore", s)
	}
	svc := service(t, s, clk, testMaster)
	kr, err := vault.OpenKeyring(context.Background(), s, testMaster)
	if err != nil {
		t.Fatal(err)
	}
	n := vault.NewNumbers(s, ns, kr)
	bg := context.Background()
	alias := func(acct, value string) string {
		t.Helper()
		toks, err := svc.Redact(vault.WithAccount(bg, acct), []vault.RedactRequest{{Value: value}})
		if err != nil {
			t.Fatal(err)
		}
		return toks[0].Alias
	}
	const number, other = "4111111111111111", "4012888888881881"
	a, b := alias("acct_a", number), alias("acct_b", number)
	if ok, err := n.Indexed(bg); ok || err != nil {
		t.Fatalf("Indexed of a new store = %v, %v", ok, err)
	}
	if err := n.Claim(bg, number, a); err != nil {
		t.Fatalf("first Claim: %v", err)
	}
	if err := n.Claim(bg, number, b); !errors.Is(err, vault.ErrNumberHeld) {
		t.Fatalf("Claim of a number another account's alias holds = %v, want ErrNumberHeld", err)
	}
	if err := n.Claim(bg, other, b); err != nil {
		t.Fatalf("Claim of another number: %v", err)
	}
	if err := s.Delete(bg, b, "acct_b"); err != nil {
		t.Fatal(err)
	}
	if err := n.Claim(bg, number, a); err != nil {
		t.Fatalf("Claim once the other alias is deleted = %v, want nil", err)
	}
	// Records stored before the index: indexed by AddAliases (an absent
	// alias is passed over).
	c, d := alias("acct_c", other), alias("acct_d", other)
	if err := n.AddAliases(bg, []string{c, "no-such-alias"}); err != nil {
		t.Fatal(err)
	}
	if err := n.Claim(bg, other, d); !errors.Is(err, vault.ErrNumberHeld) {
		t.Fatalf("Claim of a number an alias indexed by AddAliases holds = %v, want ErrNumberHeld", err)
	}
	if err := n.MarkIndexed(bg); err != nil {
		t.Fatal(err)
	}
	if ok, err := n.Indexed(bg); !ok || err != nil {
		t.Fatalf("Indexed after MarkIndexed = %v, %v", ok, err)
	}
}
