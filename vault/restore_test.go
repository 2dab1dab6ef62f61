package vault_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
)

// TestRestorePutsBackLostDataKeys: a store that lost the newest data-key
// versions (failed over to older data) gets them back from a Keyring that
// holds them, oldest first, and one that holds another key under such a
// version is ErrKeyConflict, with nothing written. cmd/aliasgate
// TestFailoverToOlderDataKeepsTheDataKeys runs the failover through
// gateways.
func TestRestorePutsBackLostDataKeys(t *testing.T) {
	ctx := context.Background()
	master := make([]byte, 32)
	primary := memstore.New(memstore.Options{SweepInterval: -1})
	kr, err := vault.OpenKeyring(ctx, primary, master)
	if err != nil {
		t.Fatal(err)
	}
	// The standby's copy, taken before two rotations.
	standby := memstore.New(memstore.Options{SweepInterval: -1})
	for _, k := range []string{"dek/current", "dek/1"} {
		v, err := primary.GetMeta(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		standby.PutMetaIfAbsent(ctx, k, v)
	}
	for range 2 {
		if _, _, err := kr.Rotate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := kr.Restore(ctx); err != nil || len(got) != 0 {
		t.Fatalf("Restore on the store that holds every version = %v, %v; want nothing to do", got, err)
	}

	failedOver, err := vault.OpenKeyring(ctx, standby, master) // another gateway on the standby
	if err != nil {
		t.Fatal(err)
	}
	other := vault.KeyringOn(kr, standby)
	if got, err := other.Restore(ctx); err != nil || !slices.Equal(got, []uint32{2, 3}) {
		t.Fatalf("Restore = %v, %v; want versions [2 3] put back", got, err)
	}
	if v, err := failedOver.Refresh(ctx); err != nil || v != 3 {
		t.Fatalf("the other gateway's Refresh after the restore = %d, %v; want version 3", v, err)
	}
	for _, k := range []string{"dek/2", "dek/3"} {
		want, _ := primary.GetMeta(ctx, k)
		if got, err := standby.GetMeta(ctx, k); err != nil || string(got) != string(want) {
			t.Errorf("%s on the standby is not the key the gateway held (%v)", k, err)
		}
	}

	// A store that lost everything (an empty database behind the same
	// address) gets every version and the first-version marker back.
	empty := memstore.New(memstore.Options{SweepInterval: -1})
	if got, err := vault.KeyringOn(kr, empty).Restore(ctx); err != nil || !slices.Equal(got, []uint32{1, 2, 3}) {
		t.Fatalf("Restore into an empty store = %v, %v; want [1 2 3]", got, err)
	}
	if ok, err := vault.Initialized(ctx, empty); err != nil || !ok {
		t.Errorf("the empty store holds no vault after the restore: %v, %v", ok, err)
	}
	if again, err := vault.OpenKeyring(ctx, empty, master); err != nil {
		t.Errorf("a gateway opening the restored store: %v", err)
	} else if again.Current() != 3 {
		t.Errorf("a gateway opening the restored store is at version %d, want 3", again.Current())
	}

	// A standby that was rotated on its own after the failover: version 2
	// is another key.
	forked := memstore.New(memstore.Options{SweepInterval: -1})
	for _, k := range []string{"dek/current", "dek/1"} {
		v, _ := primary.GetMeta(ctx, k)
		forked.PutMetaIfAbsent(ctx, k, v)
	}
	fk, err := vault.OpenKeyring(ctx, forked, master)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := fk.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := vault.KeyringOn(kr, forked).Restore(ctx); !errors.Is(err, vault.ErrKeyConflict) || len(got) != 0 {
		t.Fatalf("Restore over another key = %v, %v; want ErrKeyConflict and nothing written", got, err)
	}
	if _, err := forked.GetMeta(ctx, "dek/3"); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("dek/3 was written past the conflict: %v", err)
	}
}
