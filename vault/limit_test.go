package vault_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
)

// blockingStore holds every Get until release is closed.
type blockingStore struct {
	vault.Store
	entered chan struct{}
	release chan struct{}
}

func (b *blockingStore) Get(ctx context.Context, aliases []string) ([]*vault.Record, error) {
	b.entered <- struct{}{}
	<-b.release
	return b.Store.Get(ctx, aliases)
}

func TestConcurrencyBoundWaitsThenFailsBusy(t *testing.T) {
	p := memstore.New(memstore.Options{SweepInterval: -1})
	v := memstore.New(memstore.Options{SweepInterval: -1})
	t.Cleanup(func() { p.Close(); v.Close() })
	kr, err := vault.OpenKeyring(context.Background(), p, bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	bv := &blockingStore{Store: v, entered: make(chan struct{}, 8), release: make(chan struct{})}
	svc, err := vault.New(p, bv, kr, vault.Options{MaxConcurrent: 2, MaxWait: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := svc.Reveal(ctx, []string{"tok_sandbox_x"})
			errs <- err
		}()
	}
	<-bv.entered
	<-bv.entered
	if n := svc.InFlight(); n != 2 {
		t.Fatalf("InFlight = %d, want 2", n)
	}

	start := time.Now()
	_, err = svc.Redact(ctx, []vault.RedactRequest{{Value: card}})
	if !errors.Is(err, vault.ErrBusy) || !errors.Is(err, vault.ErrUnavailable) {
		t.Fatalf("third call: err = %v, want ErrBusy (and ErrUnavailable)", err)
	}
	if d := time.Since(start); d < 90*time.Millisecond || d > 2*time.Second {
		t.Errorf("the third call gave up after %s, want about MaxWait", d)
	}

	cctx, cancel := context.WithCancel(ctx)
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if err := svc.Delete(cctx, "tok_sandbox_x"); !errors.Is(err, context.Canceled) {
		t.Fatalf("waiting call whose context ends: err = %v", err)
	}

	close(bv.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a call holding a slot failed: %v", err)
		}
	}
	if n := svc.InFlight(); n != 0 {
		t.Fatalf("InFlight = %d after the calls ended", n)
	}
	// Slots are free again: calls go through.
	if _, err := svc.Redact(ctx, []vault.RedactRequest{{Value: card}}); err != nil {
		t.Fatalf("after release: %v", err)
	}
}

// fullDisk is a store whose writes fail while full is set.
type fullDisk struct {
	vault.Store
	full bool
}

func (d *fullDisk) Put(ctx context.Context, items []vault.PutItem) ([]vault.PutResult, error) {
	if d.full {
		return nil, errors.New("write vault.db: no space left on device")
	}
	return d.Store.Put(ctx, items)
}

// TestFailedWriteIsUnavailableAndLosesNothing: a store that cannot write
// (a full disk) makes Redact fail with ErrUnavailable — a temporary
// failure every caller answers with 503 — writes nothing, and keeps what
// was written before readable; once it writes again, so does Redact.
func TestFailedWriteIsUnavailableAndLosesNothing(t *testing.T) {
	p := memstore.New(memstore.Options{SweepInterval: -1})
	v := memstore.New(memstore.Options{SweepInterval: -1})
	t.Cleanup(func() { p.Close(); v.Close() })
	kr, err := vault.OpenKeyring(context.Background(), p, bytes.Repeat([]byte{3}, 32))
	if err != nil {
		t.Fatal(err)
	}
	disk := &fullDisk{Store: p}
	svc, err := vault.New(disk, v, kr, vault.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	before, err := svc.Redact(ctx, []vault.RedactRequest{{Value: card}})
	if err != nil {
		t.Fatal(err)
	}
	disk.full = true
	_, err = svc.Redact(ctx, []vault.RedactRequest{{Value: "5555555555554444"}, {Value: card}})
	if !errors.Is(err, vault.ErrUnavailable) || strings.Contains(err.Error(), "5555555555554444") {
		t.Fatalf("redact on a full disk: %v, want ErrUnavailable without the value", err)
	}
	got, err := svc.Reveal(ctx, []string{before[0].Alias})
	if err != nil || got[0].Value != card {
		t.Fatalf("reveal on a full disk: %+v %v", got, err)
	}
	disk.full = false
	after, err := svc.Redact(ctx, []vault.RedactRequest{{Value: "5555555555554444"}, {Value: card}})
	if err != nil || after[1].Alias != before[0].Alias || !after[0].Created {
		t.Fatalf("after the disk recovers: %+v %v", after, err)
	}
}
