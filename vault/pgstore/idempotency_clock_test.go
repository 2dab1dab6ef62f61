package pgstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault/pgstore"
)

// TestSkewedClockDoesNotTakeALiveIdempotencyClaim: two gateways on one
// database whose clocks are 2 minutes apart (more than a pending claim's
// minute). The one behind claims an Idempotency-Key and is still creating
// the card; the one ahead, given a retry of the same request, must see the
// claim (409 in use), not take it and create the card a second time. The
// pending claim's lease runs on the database's clock; once it has run out
// there, the key is free again.
func TestSkewedClockDoesNotTakeALiveIdempotencyClaim(t *testing.T) {
	u := newSchema(t)
	behindStore := openStore(t, u, pgstore.Options{})
	aheadStore := openStore(t, u, pgstore.Options{})
	t.Cleanup(func() { behindStore.Close(); aheadStore.Close() })
	ctx := context.Background()

	const pending = 2 * time.Second // short, so the take-over below comes soon
	behind := time.Now()
	if ex, err := behindStore.ClaimIdempotency(ctx, "acct1", "key1", []byte("pending-behind"), behind, behind.Add(pending)); err != nil || ex != nil {
		t.Fatalf("claim by the gateway behind: %q, %v", ex, err)
	}
	ahead := time.Now().Add(2 * time.Minute)
	ex, err := aheadStore.ClaimIdempotency(ctx, "acct1", "key1", []byte("pending-ahead"), ahead, ahead.Add(pending))
	if err != nil {
		t.Fatal(err)
	}
	if string(ex) != "pending-behind" {
		t.Fatalf("the gateway ahead took a live claim (got %q): the card would be created twice", ex)
	}
	// A claim of another key by the gateway ahead sweeps expired keys: the
	// live claim must survive the sweep too.
	if ex, err := aheadStore.ClaimIdempotency(ctx, "acct1", "key2", []byte("other"), ahead, ahead.Add(pending)); err != nil || ex != nil {
		t.Fatalf("claim of another key: %q, %v", ex, err)
	}
	if ex, err := aheadStore.ClaimIdempotency(ctx, "acct1", "key1", []byte("pending-ahead"), ahead, ahead.Add(pending)); err != nil || string(ex) != "pending-behind" {
		t.Fatalf("after the sweep: %q, %v", ex, err)
	}
	// Once the claim ran out on the database's clock, the key is free.
	deadline := time.Now().Add(20 * time.Second)
	for {
		ahead = time.Now().Add(2 * time.Minute)
		ex, err := aheadStore.ClaimIdempotency(ctx, "acct1", "key1", []byte("pending-ahead"), ahead, ahead.Add(pending))
		if err != nil {
			t.Fatal(err)
		}
		if ex == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the claim was never free again after its lease")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A finished record (24 h) is kept by its expiry, whatever the lease.
	done := time.Now()
	if err := behindStore.FinishIdempotency(ctx, "acct1", "key1", []byte("done"), done.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if ex, err := aheadStore.ClaimIdempotency(ctx, "acct1", "key1", []byte("x"), ahead, ahead.Add(pending)); err != nil || string(ex) != "done" {
		t.Fatalf("claim of a finished key: %q, %v", ex, err)
	}
}
