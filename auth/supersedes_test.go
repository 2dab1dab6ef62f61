package auth

import (
	"context"
	"testing"
	"time"
)

// TestRecordSupersedesOnlyRevocationsAndLaterRotations: what vault copy
// may bring over a client it copied before: the client revoked, or given
// a secret at a later rotation, or both; never a revocation undone, an
// earlier secret, or another client's record.
func TestRecordSupersedesOnlyRevocationsAndLaterRotations(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	c, _ := f.create(t, ClientSpec{Name: "shop", Account: "acct_1", Scopes: []string{ScopeCardsRead}})
	other, _ := f.create(t, ClientSpec{Name: "shop", Account: "acct_2", Scopes: []string{ScopeCardsRead}})
	read := func(id string) []byte {
		b, _, err := f.store.GetClient(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	created := read(c.ID)
	f.clock.Set(f.clock.Now().Add(2 * time.Second))
	if _, _, err := f.svc.RotateSecret(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	rotated := read(c.ID)
	f.clock.Set(f.clock.Now().Add(2 * time.Second))
	if _, _, err := f.svc.RotateSecret(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	rotatedAgain := read(c.ID)
	if _, _, err := f.svc.RevokeClient(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	revoked := read(c.ID)
	for _, tc := range []struct {
		name       string
		next, prev []byte
		want       bool
	}{
		{"rotated", rotated, created, true},
		{"rotated twice", rotatedAgain, rotated, true},
		{"revoked after rotations", revoked, created, true},
		{"revoked", revoked, rotatedAgain, true},
		{"the same", created, created, false},
		{"an earlier secret", rotated, rotatedAgain, false},
		{"the first secret again", created, rotated, false},
		{"revocation undone", rotatedAgain, revoked, false},
		{"another client", read(other.ID), created, false},
		{"not a record", []byte("{}"), created, false},
	} {
		if got := RecordSupersedes(tc.next, tc.prev); got != tc.want {
			t.Errorf("%s: RecordSupersedes = %v, want %v", tc.name, got, tc.want)
		}
	}
}
