package vault_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
	"github.com/aliasgate/aliasgate/vault/vaulttest"
)

// refusingStore is a volatile store whose writes the server refuses until
// an operator acts (a Redis ACL without the keys, NOPERM).
type refusingStore struct{ vault.Store }

func (refusingStore) Put(context.Context, []vault.PutItem) ([]vault.PutResult, error) {
	return nil, fmt.Errorf("redisstore: put: %w: NOPERM", vault.ErrStoreRefused)
}

// TestStoreRefusalIsNotUnavailable: a write the store refuses for good is
// answered as ErrStoreRefused, not made ErrUnavailable by the Service
// (which every API answers 503 with Retry-After), and is observed with
// result "refused". Failed before: writeFailed wrapped every write error
// that was not already unavailable in ErrUnavailable.
func TestStoreRefusalIsNotUnavailable(t *testing.T) {
	clk := vaulttest.NewClock()
	p := memstore.New(memstore.Options{Now: clk.Now, SweepInterval: -1})
	v := memstore.New(memstore.Options{Now: clk.Now, SweepInterval: -1})
	t.Cleanup(func() { p.Close(); v.Close() })
	ctx := context.Background()
	kr, err := vault.OpenKeyring(ctx, p, masterKey)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordingObserver{}
	svc, err := vault.New(p, refusingStore{v}, kr, vault.Options{Env: "test", Now: clk.Now, Observer: rec})
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.Redact(ctx, []vault.RedactRequest{{Value: "123", Storage: vault.StorageVolatile}})
	if !errors.Is(err, vault.ErrStoreRefused) || vault.Unavailable(err) {
		t.Fatalf("Redact: %v: ErrStoreRefused %v, Unavailable %v; want refused and not unavailable",
			err, errors.Is(err, vault.ErrStoreRefused), vault.Unavailable(err))
	}
	found := false
	for _, o := range rec.got {
		found = found || o == "redact/other/refused"
	}
	if !found {
		t.Errorf("observations %v: no redact/other/refused", rec.got)
	}
}
