package vault_test

import (
	"context"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/memstore"
)

// runWorker runs w until the test ends.
func runWorker(t *testing.T, w *vault.KeyWorker) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestKeyWorkerRotateReencryptsAtOnce: Rotate kicks the worker, which
// moves every record to the new version long before its next refresh;
// Status reports the worker's progress.
func TestKeyWorkerRotateReencryptsAtOnce(t *testing.T) {
	s := memstore.New(memstore.Options{SweepInterval: -1})
	defer s.Close()
	svc, kr := newService(t, s)
	vals := redactN(t, svc, 0, 50)
	w := vault.NewKeyWorker(s, kr, vault.KeyWorkerOptions{Refresh: time.Hour, Reencrypt: vault.ReencryptOptions{Rate: -1}})
	runWorker(t, w)
	ctx := context.Background()

	st, err := w.Status(ctx)
	if err != nil || st.Current != 1 || !st.Reencryption.Done || st.Reencryption.Target != 1 {
		t.Fatalf("Status before rotating = %+v, %v", st, err)
	}
	v, created, err := w.Rotate(ctx)
	if err != nil || v != 2 || !created {
		t.Fatalf("Rotate = %d, %v, %v", v, created, err)
	}
	waitFor(t, "the re-encryption to v2", func() bool {
		p, ok := w.Progress()
		return ok && p.Target == 2 && p.Done
	})
	if got := versions(t, s); got[1] != 0 || got[2] != 50 {
		t.Fatalf("records by version = %v", got)
	}
	st, err = w.Status(ctx)
	if err != nil || st.Current != 2 || len(st.Versions) != 2 || !st.Reencryption.Done || st.Reencryption.Rekeyed != 50 {
		t.Fatalf("Status after = %+v, %v", st, err)
	}
	revealAll(t, svc, vals)
}

// TestKeyWorkerPicksUpVersionsAddedElsewhere: a version added by another
// keyring of the same store (another process) is loaded at the next
// refresh, logged, and re-encrypted to.
func TestKeyWorkerPicksUpVersionsAddedElsewhere(t *testing.T) {
	s := memstore.New(memstore.Options{SweepInterval: -1})
	defer s.Close()
	svc, kr := newService(t, s)
	redactN(t, svc, 0, 20)
	logs := obstest.NewCapture(t)
	w := vault.NewKeyWorker(s, kr, vault.KeyWorkerOptions{Refresh: 10 * time.Millisecond, Logger: logs.Logger,
		Reencrypt: vault.ReencryptOptions{Rate: -1}})
	runWorker(t, w)

	_, other := newService(t, s)
	if _, _, err := other.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the worker to load v2 and re-encrypt", func() bool {
		p, _ := w.Progress()
		return kr.Current() == 2 && p.Target == 2 && p.Done
	})
	if len(logs.Messages("keys: new data-key version in use")) != 1 {
		t.Errorf("no log line for the new version")
	}
}

// TestKeyWorkerWithoutReencryption: a store that cannot re-encrypt gets a
// worker that still refreshes and rotates; Status reads Done from the
// store, and the missing re-encryption is logged once.
func TestKeyWorkerWithoutReencryption(t *testing.T) {
	s := memstore.New(memstore.Options{SweepInterval: -1})
	defer s.Close()
	_, kr := newService(t, s)
	logs := obstest.NewCapture(t)
	w := vault.NewKeyWorker(plainStore{s}, kr, vault.KeyWorkerOptions{Logger: logs.Logger})
	if len(logs.Messages("keys: records of this store are not re-encrypted after a rotation")) != 1 {
		t.Fatal("no warning for a store without re-encryption")
	}
	if _, ok := w.Progress(); ok {
		t.Fatal("Progress reported a re-encryption")
	}
	runWorker(t, w)
	ctx := context.Background()
	if v, _, err := w.Rotate(ctx); err != nil || v != 2 {
		t.Fatalf("Rotate = %d, %v", v, err)
	}
	st, err := w.Status(ctx)
	if err != nil || st.Current != 2 || st.Reencryption.Target != 2 || st.Reencryption.Done || st.Reencryption.Running {
		t.Fatalf("Status = %+v, %v", st, err)
	}
}

func TestRecordsByKeyVersionCountsEveryPage(t *testing.T) {
	s := memstore.New(memstore.Options{SweepInterval: -1})
	defer s.Close()
	svc, kr := newService(t, s)
	ctx := context.Background()
	redactN(t, svc, 0, 1200)
	if _, _, err := kr.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	redactN(t, svc, 5000, 30)
	got, err := vault.RecordsByKeyVersion(ctx, s)
	if err != nil || len(got) != 2 || got[1] != 1200 || got[2] != 30 {
		t.Fatalf("RecordsByKeyVersion = %v, %v", got, err)
	}
}
