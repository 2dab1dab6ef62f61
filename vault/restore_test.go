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
	standby := newMemStore(t)
	copyMeta(t, primary, standby, "dek/current", "dek/1")
	for range 2 {
		if _, _, err := kr.Rotate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got, _, err := kr.Restore(ctx); err != nil || len(got) != 0 {
		t.Fatalf("Restore on the store that holds every version = %v, %v; want nothing to do", got, err)
	}

	failedOver, err := vault.OpenKeyring(ctx, standby, master) // another gateway on the standby
	if err != nil {
		t.Fatal(err)
	}
	other := vault.KeyringOn(kr, standby)
	if got, _, err := other.Restore(ctx); err != nil || !slices.Equal(got, []uint32{2, 3}) {
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
	if got, _, err := vault.KeyringOn(kr, empty).Restore(ctx); err != nil || !slices.Equal(got, []uint32{1, 2, 3}) {
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
	forked := newMemStore(t)
	copyMeta(t, primary, forked, "dek/current", "dek/1")
	fk, err := vault.OpenKeyring(ctx, forked, master)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := fk.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	// Version 3, which only this gateway holds, is put back past the
	// conflict (TestRestoreStopsAForkFromGrowing).
	if got, _, err := vault.KeyringOn(kr, forked).Restore(ctx); !errors.Is(err, vault.ErrKeyConflict) || !slices.Equal(got, []uint32{3}) {
		t.Fatalf("Restore over another key = %v, %v; want ErrKeyConflict and [3] put back", got, err)
	}
	v2, _ := forked.GetMeta(ctx, "dek/2")
	if mine, _ := primary.GetMeta(ctx, "dek/2"); string(v2) == string(mine) {
		t.Error("the store's version 2 was replaced")
	}
}

// TestRestoreStopsAForkFromGrowing: a store failed over to older data and
// then rotated on its own holds another key under a version a gateway
// seals with (ErrKeyConflict). The gateway went on sealing every new record
// with its own key of that version, or with a newer version only it held,
// after the conflict was found: records that no other gateway could open
// (ErrTampered, ErrUnknownKeyVersion), lost for good once it stopped.
// After Restore, a record the gateway seals opens on a gateway that
// opened the failed-over store: the versions above the conflict are put
// back, and a conflict at the current version makes it rotate.
func TestRestoreStopsAForkFromGrowing(t *testing.T) {
	for _, tc := range []struct {
		name string
		held uint32 // versions the gateway holds before the failover
	}{
		{"fork at the current version", 2},
		{"fork below the current version", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			master := make([]byte, 32)
			primary, standby := newMemStore(t), newMemStore(t)
			keyringAt(t, primary, master, 1)
			copyMeta(t, primary, standby, "dek/current", "dek/1") // the standby's copy
			kr := keyringAt(t, primary, master, tc.held)
			// After the failover, a gateway on the standby rotates.
			other := keyringAt(t, standby, master, 2)
			mine := vault.KeyringOn(kr, standby)
			_, rotated, err := mine.Restore(ctx)
			if !errors.Is(err, vault.ErrKeyConflict) {
				t.Fatalf("Restore = %v; want ErrKeyConflict", err)
			}
			if want := map[uint32]uint32{2: 3, 3: 0}[tc.held]; rotated != want {
				t.Errorf("Restore rotated to %d, want %d", rotated, want)
			}
			if _, _, err := mine.Restore(ctx); err != nil {
				t.Errorf("a second Restore = %v; want nothing left to mend", err)
			}
			svc := func(kr *vault.Keyring) *vault.Service {
				vol := memstore.New(memstore.Options{SweepInterval: -1})
				t.Cleanup(func() { vol.Close() })
				s, err := vault.New(standby, vol, kr, vault.Options{Env: "test"})
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			tok, err := svc(mine).Redact(ctx, []vault.RedactRequest{{Value: "sealed after the conflict"}})
			if err != nil {
				t.Fatal(err)
			}
			got, err := svc(other).Reveal(ctx, []string{tok[0].Alias})
			if err != nil || got[0].Err != nil || got[0].Value != "sealed after the conflict" {
				t.Fatalf("the other gateway reveals the record sealed after the conflict: %v, %v", got, err)
			}
		})
	}
}

// TestGatewaysThatFindOneForkRotateOnce: every gateway holding the
// forked version finds the conflict at its next refresh. The first one
// rotates; one whose Restore comes after that rotation (its refresh ran
// just before it) rotated again, on top of it: N gateways, up to N new
// versions for one fork, each a re-encryption pass over the whole vault
// and a key_rotated line. A gateway that finds the store already past
// the forked version adopts that version instead.
func TestGatewaysThatFindOneForkRotateOnce(t *testing.T) {
	ctx := context.Background()
	master := make([]byte, 32)
	primary, standby := newMemStore(t), newMemStore(t)
	keyringAt(t, primary, master, 1)
	copyMeta(t, primary, standby, "dek/current", "dek/1")
	first := keyringAt(t, primary, master, 2)
	second, err := vault.OpenKeyring(ctx, primary, master) // another gateway: the same version 2
	if err != nil {
		t.Fatal(err)
	}
	keyringAt(t, standby, master, 2) // after the failover, a gateway on the standby rotates
	gateways := []*vault.Keyring{vault.KeyringOn(first, standby), vault.KeyringOn(second, standby)}
	var rotations []uint32
	for i, kr := range gateways {
		_, rotated, err := kr.Restore(ctx)
		if !errors.Is(err, vault.ErrKeyConflict) {
			t.Fatalf("gateway %d: Restore = %v; want ErrKeyConflict", i, err)
		}
		if rotated != 0 {
			rotations = append(rotations, rotated)
		}
	}
	if !slices.Equal(rotations, []uint32{3}) {
		t.Errorf("the gateways rotated to %v; want one rotation, to 3", rotations)
	}
	if _, err := standby.GetMeta(ctx, "dek/4"); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("the store holds a version 4 (%v): one fork made two rotations", err)
	}
	for i, kr := range gateways {
		if kr.Current() != 3 {
			t.Errorf("gateway %d seals with version %d; want 3, the store's", i, kr.Current())
		}
		if _, rotated, err := kr.Restore(ctx); err != nil || rotated != 0 {
			t.Errorf("gateway %d: a second Restore = %d, %v; want nothing left to mend", i, rotated, err)
		}
	}
}

// TestRestoreWritesNothingIntoAnotherVault: a store that holds the keys of
// another master key (another vault behind the same address, or an
// emptied database another gateway set up first with its own key) gets
// none of this gateway's versions, and stays one its own gateways open.
func TestRestoreWritesNothingIntoAnotherVault(t *testing.T) {
	ctx := context.Background()
	mine, theirs := make([]byte, 32), make([]byte, 32)
	theirs[0] = 1
	other := newMemStore(t)
	kr := keyringAt(t, newMemStore(t), mine, 3)
	keyringAt(t, other, theirs, 1)
	got, rotated, err := vault.KeyringOn(kr, other).Restore(ctx)
	if !errors.Is(err, vault.ErrWrongMasterKey) || len(got) != 0 || rotated != 0 {
		t.Fatalf("Restore into another vault's store = %v, %d, %v; want ErrWrongMasterKey, nothing written", got, rotated, err)
	}
	for _, k := range []string{"dek/2", "dek/3"} {
		if _, err := other.GetMeta(ctx, k); !errors.Is(err, vault.ErrNotFound) {
			t.Errorf("%s was written into the other vault's store: %v", k, err)
		}
	}
	if _, err := vault.OpenKeyring(ctx, other, theirs); err != nil {
		t.Errorf("the other vault's gateways cannot open it any more: %v", err)
	}
}

// newMemStore is a memstore closed at the end of the test.
func newMemStore(t *testing.T) *memstore.Store {
	t.Helper()
	s := memstore.New(memstore.Options{SweepInterval: -1})
	t.Cleanup(func() { s.Close() })
	return s
}

// keyringAt opens the Keyring of master on store and rotates it up to
// version.
func keyringAt(t *testing.T, store vault.Store, master []byte, version uint32) *vault.Keyring {
	t.Helper()
	kr, err := vault.OpenKeyring(context.Background(), store, master)
	if err != nil {
		t.Fatal(err)
	}
	for kr.Current() < version {
		if _, _, err := kr.Rotate(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return kr
}

// copyMeta copies the meta keys of from into to (a standby's copy).
func copyMeta(t *testing.T, from, to vault.Store, keys ...string) {
	t.Helper()
	for _, k := range keys {
		v, err := from.GetMeta(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := to.PutMetaIfAbsent(context.Background(), k, v); err != nil {
			t.Fatal(err)
		}
	}
}
