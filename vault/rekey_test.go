package vault_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/vault"
	"github.com/aliasgate/aliasgate/vault/boltstore"
	"github.com/aliasgate/aliasgate/vault/memstore"
)

var masterKey = bytes.Repeat([]byte{1}, 32)

// rekeyStore is what the re-encryption needs of a persistent store.
type rekeyStore interface {
	vault.Store
	vault.Exporter
	vault.Rekeyer
}

// stores runs fn on each persistent store that implements the rekeying
// contract: the memory store and bbolt.
func stores(t *testing.T, fn func(t *testing.T, open func() rekeyStore)) {
	t.Run("memstore", func(t *testing.T) {
		s := memstore.New(memstore.Options{SweepInterval: -1})
		t.Cleanup(func() { s.Close() })
		fn(t, func() rekeyStore { return s })
	})
	t.Run("boltstore", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "vault.db")
		var cur *boltstore.Store
		t.Cleanup(func() {
			if cur != nil {
				cur.Close()
			}
		})
		// open closes the previous handle: a "restart" of the process.
		fn(t, func() rekeyStore {
			if cur != nil {
				cur.Close()
			}
			s, err := boltstore.Open(path, boltstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			cur = s
			return s
		})
	})
}

func newService(t *testing.T, s vault.Store) (*vault.Service, *vault.Keyring) {
	t.Helper()
	kr, err := vault.OpenKeyring(context.Background(), s, masterKey)
	if err != nil {
		t.Fatal(err)
	}
	vol := memstore.New(memstore.Options{SweepInterval: -1})
	t.Cleanup(func() { vol.Close() })
	svc, err := vault.New(s, vol, kr, vault.Options{Env: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return svc, kr
}

// redactN stores n distinct values and returns alias → value.
func redactN(t *testing.T, svc *vault.Service, from, n int) map[string]string {
	t.Helper()
	out := map[string]string{}
	for i := 0; i < n; i += 20 {
		var reqs []vault.RedactRequest
		for j := i; j < min(i+20, n); j++ {
			reqs = append(reqs, vault.RedactRequest{Value: fmt.Sprintf("value-%06d", from+j)})
		}
		toks, err := svc.Redact(context.Background(), reqs)
		if err != nil {
			t.Fatal(err)
		}
		for j, tk := range toks {
			out[tk.Alias] = reqs[j].Value
		}
	}
	return out
}

// versions counts the store's persistent records by key version.
func versions(t *testing.T, s vault.Exporter) map[uint32]int {
	t.Helper()
	out := map[uint32]int{}
	after := ""
	for {
		page, err := s.ScanRecords(context.Background(), after, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			out[r.KeyVersion]++
		}
		if len(page) < 100 {
			return out
		}
		after = page[len(page)-1].Alias
	}
}

func revealAll(t *testing.T, svc *vault.Service, want map[string]string) {
	t.Helper()
	var aliases []string
	for a := range want {
		aliases = append(aliases, a)
	}
	for i := 0; i < len(aliases); i += 50 {
		chunk := aliases[i:min(i+50, len(aliases))]
		got, err := svc.Reveal(context.Background(), chunk)
		if err != nil {
			t.Fatal(err)
		}
		for j, r := range got {
			if r.Err != nil || r.Value != want[chunk[j]] {
				t.Fatalf("reveal of record %d: %v (value matches: %v)", i+j, r.Err, r.Value == want[chunk[j]])
			}
		}
	}
}

func TestRotateNewRecordsUseTheNewVersion(t *testing.T) {
	stores(t, func(t *testing.T, open func() rekeyStore) {
		s := open()
		svc, kr := newService(t, s)
		old := redactN(t, svc, 0, 10)
		ver, created, err := kr.Rotate(context.Background())
		if err != nil || ver != 2 || !created || kr.Current() != 2 {
			t.Fatalf("Rotate = %d, %v, %v; current %d", ver, created, err, kr.Current())
		}
		fresh := redactN(t, svc, 100, 10)
		if got := versions(t, s); got[1] != 10 || got[2] != 10 {
			t.Fatalf("records by version = %v, want 10 on v1 and 10 on v2", got)
		}
		revealAll(t, svc, old)
		revealAll(t, svc, fresh)

		// A restart loads both versions and keeps sealing with the newest.
		s = open()
		svc2, kr2 := newService(t, s)
		if kr2.Current() != 2 || !slicesEqual(kr2.Versions(), []uint32{1, 2}) {
			t.Fatalf("after reopening: current %d, versions %v", kr2.Current(), kr2.Versions())
		}
		revealAll(t, svc2, old)
		revealAll(t, svc2, fresh)
	})
}

func slicesEqual(a, b []uint32) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

// barrierStore makes the first n look-ups of dek/2 wait for each other, so
// that n gateways all see version 1 as the newest and propose version 2 at
// the same time.
type barrierStore struct {
	vault.Store
	mu      sync.Mutex
	waiting int
	release chan struct{}
}

func (b *barrierStore) GetMeta(ctx context.Context, key string) ([]byte, error) {
	v, err := b.Store.GetMeta(ctx, key)
	if key != "dek/2" {
		return v, err
	}
	b.mu.Lock()
	if b.waiting > 0 {
		if b.waiting--; b.waiting == 0 {
			close(b.release)
		}
		b.mu.Unlock()
		<-b.release
	} else {
		b.mu.Unlock()
	}
	return v, err
}

// TestRotationRaceDoesNotFork: gateways on one store rotating at once agree
// on one key for the new version.
func TestRotationRaceDoesNotFork(t *testing.T) {
	mem := memstore.New(memstore.Options{SweepInterval: -1})
	defer mem.Close()
	s := &barrierStore{Store: mem, release: make(chan struct{})}
	ctx := context.Background()
	var krs [8]*vault.Keyring
	for i := range krs {
		var err error
		if krs[i], err = vault.OpenKeyring(ctx, s, masterKey); err != nil {
			t.Fatal(err)
		}
	}
	s.mu.Lock()
	s.waiting = len(krs)
	s.mu.Unlock()
	var created atomic.Int32
	var wg sync.WaitGroup
	for _, kr := range krs {
		wg.Go(func() {
			v, c, err := kr.Rotate(ctx)
			if err != nil || v != 2 {
				t.Errorf("Rotate = %d, %v", v, err)
			}
			if c {
				created.Add(1)
			}
		})
	}
	wg.Wait()
	if created.Load() != 1 {
		t.Fatalf("%d gateways created version 2, want exactly 1", created.Load())
	}
	// What one seals, every other opens.
	vol := memstore.New(memstore.Options{SweepInterval: -1})
	defer vol.Close()
	a, _ := vault.New(s, vol, krs[0], vault.Options{Env: "test"})
	b, _ := vault.New(s, vol, krs[7], vault.Options{Env: "test"})
	toks, err := a.Redact(ctx, []vault.RedactRequest{{Value: "raced"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.Reveal(ctx, []string{toks[0].Alias}); err != nil || got[0].Value != "raced" {
		t.Fatalf("Reveal on the other gateway = %v, %v", got, err)
	}
}

// TestStaleGatewayPicksUpNewVersion: a gateway that has not refreshed yet
// reads records another one re-encrypted under a newer version.
func TestStaleGatewayPicksUpNewVersion(t *testing.T) {
	s := memstore.New(memstore.Options{SweepInterval: -1})
	defer s.Close()
	ctx := context.Background()
	stale, staleKeys := newService(t, s)
	vals := redactN(t, stale, 0, 30)
	_, kr := newService(t, s)
	if _, _, err := kr.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := vault.NewReencryptor(s, kr, vault.ReencryptOptions{Rate: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if staleKeys.Current() != 1 {
		t.Fatal("the stale keyring refreshed by itself before a read")
	}
	revealAll(t, stale, vals)
	if staleKeys.Current() != 2 {
		t.Fatalf("stale keyring at %d after reading a v2 record, want 2", staleKeys.Current())
	}
	if v, err := staleKeys.Refresh(ctx); err != nil || v != 2 {
		t.Fatalf("Refresh = %d, %v", v, err)
	}
}

func TestReencryptionMovesEveryRecord(t *testing.T) {
	stores(t, func(t *testing.T, open func() rekeyStore) {
		s := open()
		svc, kr := newService(t, s)
		ctx := context.Background()
		vals := redactN(t, svc, 0, 700)
		if _, _, err := kr.Rotate(ctx); err != nil {
			t.Fatal(err)
		}
		logs := obstest.NewCapture(t)
		var finished atomic.Uint64
		r, err := vault.NewReencryptor(s, kr, vault.ReencryptOptions{PageSize: 64, Rate: -1, Logger: logs.Logger,
			CheckpointEvery: time.Nanosecond,
			OnFinish:        func(_ context.Context, v uint32, n uint64) { finished.Store(uint64(v)<<32 | n) }})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Run(ctx); err != nil {
			t.Fatal(err)
		}
		if got := versions(t, s); got[1] != 0 || got[2] != 700 {
			t.Fatalf("records by version after re-encryption = %v", got)
		}
		if p := r.Progress(); !p.Done || p.Running || p.Target != 2 || p.Rekeyed != 700 || p.Scanned != 700 || p.Pass != 1 {
			t.Fatalf("Progress = %+v", p)
		}
		if finished.Load() != 2<<32|700 {
			t.Fatalf("OnFinish got %x", finished.Load())
		}
		if len(logs.Messages("keys: re-encryption progress")) == 0 || len(logs.Messages("keys: re-encryption finished")) != 1 {
			t.Fatalf("progress lines missing:\n%s", logs.String())
		}
		revealAll(t, svc, vals)

		// Done is remembered: a restart does not scan again.
		s = open()
		_, kr2 := newService(t, s)
		r2, _ := vault.NewReencryptor(s, kr2, vault.ReencryptOptions{Rate: -1})
		if err := r2.Run(ctx); err != nil {
			t.Fatal(err)
		}
		if p := r2.Progress(); !p.Done || p.Scanned != 0 {
			t.Fatalf("second Run = %+v, want done without scanning", p)
		}

		// A second rotation moves everything again, to v3.
		svc2, _ := newService(t, s)
		if _, _, err := kr2.Rotate(ctx); err != nil {
			t.Fatal(err)
		}
		if err := r2.Run(ctx); err != nil {
			t.Fatal(err)
		}
		if got := versions(t, s); got[3] != 700 {
			t.Fatalf("after the second rotation: %v", got)
		}
		revealAll(t, svc2, vals)
	})
}

// interruptingStore ends the run (as a crash or shutdown would) after a
// number of Rekey calls, and records where each scan started.
type interruptingStore struct {
	rekeyStore
	mu     sync.Mutex
	calls  int
	limit  int
	cancel context.CancelFunc
	starts []string
}

func (s *interruptingStore) ScanRecords(ctx context.Context, after string, limit int) ([]*vault.Record, error) {
	s.mu.Lock()
	s.starts = append(s.starts, after)
	s.mu.Unlock()
	return s.rekeyStore.ScanRecords(ctx, after, limit)
}

func (s *interruptingStore) Rekey(ctx context.Context, items []vault.RekeyItem) (int, error) {
	n, err := s.rekeyStore.Rekey(ctx, items)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.calls++; s.calls == s.limit {
		s.cancel()
	}
	return n, err
}

func TestReencryptionResumesAfterInterruption(t *testing.T) {
	stores(t, func(t *testing.T, open func() rekeyStore) {
		s := open()
		svc, kr := newService(t, s)
		vals := redactN(t, svc, 0, 500)
		if _, _, err := kr.Rotate(context.Background()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		is := &interruptingStore{rekeyStore: s, limit: 4, cancel: cancel}
		r, _ := vault.NewReencryptor(is, kr, vault.ReencryptOptions{PageSize: 50, Rate: -1, CheckpointEvery: time.Nanosecond})
		if err := r.Run(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("interrupted Run = %v", err)
		}
		moved := r.Progress().Rekeyed
		if got := versions(t, s); got[2] != int(moved) || moved == 0 || moved == 500 {
			t.Fatalf("after the interruption: %v, %d moved", got, moved)
		}

		// "Restart": a new store handle, keyring and Reencryptor.
		s = open()
		svc, kr = newService(t, s)
		is = &interruptingStore{rekeyStore: s, limit: -1, cancel: func() {}}
		r, _ = vault.NewReencryptor(is, kr, vault.ReencryptOptions{PageSize: 50, Rate: -1, CheckpointEvery: time.Nanosecond})
		if err := r.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		if is.starts[0] == "" {
			t.Fatal("the second run started from the top instead of the checkpoint")
		}
		if p := r.Progress(); p.Scanned >= 500 || p.Rekeyed != 500-moved {
			t.Fatalf("resumed run = %+v, want only the rest (%d) moved", p, 500-moved)
		}
		if got := versions(t, s); got[1] != 0 || got[2] != 500 {
			t.Fatalf("after resuming: %v", got)
		}
		revealAll(t, svc, vals)
	})
}

// TestRevealDuringReencryption: reveals and new redactions run while the
// records move (run with -race); none fails and none sees another value.
func TestRevealDuringReencryption(t *testing.T) {
	stores(t, func(t *testing.T, open func() rekeyStore) {
		s := open()
		svc, kr := newService(t, s)
		vals := redactN(t, svc, 0, 600)
		if _, _, err := kr.Rotate(context.Background()); err != nil {
			t.Fatal(err)
		}
		r, _ := vault.NewReencryptor(s, kr, vault.ReencryptOptions{PageSize: 20, Rate: 20000})
		done := make(chan error, 1)
		go func() { done <- r.Run(context.Background()) }()
		var aliases []string
		for a := range vals {
			aliases = append(aliases, a)
		}
		var wg sync.WaitGroup
		var reveals atomic.Int64
		stop := make(chan struct{})
		for g := range 4 {
			wg.Go(func() {
				for i := g; ; i += 4 {
					select {
					case <-stop:
						return
					default:
					}
					a := aliases[i%len(aliases)]
					got, err := svc.Reveal(context.Background(), []string{a})
					if err != nil || got[0].Err != nil || got[0].Value != vals[a] {
						t.Errorf("reveal during re-encryption failed: %v", err)
						return
					}
					reveals.Add(1)
				}
			})
		}
		var fresh map[string]string
		wg.Go(func() { fresh = redactN(t, svc, 10000, 100) })
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		close(stop)
		wg.Wait()
		if reveals.Load() == 0 {
			t.Fatal("no reveal ran during the re-encryption")
		}
		if got := versions(t, s); got[1] != 0 || got[2] != 700 {
			t.Fatalf("records by version = %v", got)
		}
		revealAll(t, svc, vals)
		revealAll(t, svc, fresh)
	})
}

// TestSettleCatchesRecordsOfStaleGateways: with Settle, a second pass moves
// records that a gateway which had not seen the rotation yet sealed with
// the old version behind the cursor.
func TestSettleCatchesRecordsOfStaleGateways(t *testing.T) {
	s := memstore.New(memstore.Options{SweepInterval: -1})
	defer s.Close()
	stale, _ := newService(t, s) // never refreshes: keeps sealing with v1
	_, kr := newService(t, s)
	redactN(t, stale, 0, 200)
	if _, _, err := kr.Rotate(context.Background()); err != nil {
		t.Fatal(err)
	}
	hook := &hookStore{rekeyStore: s, after: func() { redactN(t, stale, 1000, 100) }}
	r, _ := vault.NewReencryptor(hook, kr, vault.ReencryptOptions{PageSize: 50, Rate: -1, Settle: 20 * time.Millisecond})
	if err := r.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := versions(t, s); got[1] != 0 || got[2] != 300 {
		t.Fatalf("records by version = %v, want all 300 on v2", got)
	}
	if p := r.Progress(); p.Pass < 2 {
		t.Fatalf("Progress = %+v, want a second pass", p)
	}
}

// hookStore calls after once, after the first Rekey.
type hookStore struct {
	rekeyStore
	once  sync.Once
	after func()
}

func (h *hookStore) Rekey(ctx context.Context, items []vault.RekeyItem) (int, error) {
	n, err := h.rekeyStore.Rekey(ctx, items)
	h.once.Do(h.after)
	return n, err
}

func TestReencryptorNeedsAnExporterAndRekeyer(t *testing.T) {
	s := memstore.New(memstore.Options{SweepInterval: -1})
	defer s.Close()
	_, kr := newService(t, s)
	if _, err := vault.NewReencryptor(plainStore{s}, kr, vault.ReencryptOptions{}); err == nil {
		t.Fatal("NewReencryptor accepted a store without Exporter and Rekeyer")
	}
}

type plainStore struct{ vault.Store }

// TestReencryptionWaitsForWritesSealedBeforeTheRotation: a write that
// sealed its record with the old version before a rotation and reached the
// store after the re-encryption's only pass (one gateway: no Settle) was
// left on the old version for good, with the re-encryption reported done
// (seen as TestKeysRotateUnderLoadLosesNothing failing one run in four).
// The pass now begins once such writes are in.
func TestReencryptionWaitsForWritesSealedBeforeTheRotation(t *testing.T) {
	stores(t, func(t *testing.T, open func() rekeyStore) {
		s := open()
		svc, kr := newService(t, s)
		if _, _, err := kr.Rotate(context.Background()); err != nil { // v2: the records below are sealed with it
			t.Fatal(err)
		}
		redactN(t, svc, 0, 50)
		held := &holdingStore{rekeyStore: s, entered: make(chan struct{}), release: make(chan struct{})}
		vol := memstore.New(memstore.Options{SweepInterval: -1})
		t.Cleanup(func() { vol.Close() })
		slow, err := vault.New(held, vol, kr, vault.Options{Env: "test"})
		if err != nil {
			t.Fatal(err)
		}
		wrote := make(chan error, 1)
		go func() {
			_, err := slow.Redact(context.Background(), []vault.RedactRequest{{Value: "sealed-before-the-rotation"}})
			wrote <- err
		}()
		<-held.entered // sealed with v2, not yet in the store
		if _, _, err := kr.Rotate(context.Background()); err != nil {
			t.Fatal(err)
		}
		r, _ := vault.NewReencryptor(s, kr, vault.ReencryptOptions{PageSize: 20, Rate: -1})
		ran := make(chan error, 1)
		go func() { ran <- r.Run(context.Background()) }()
		select {
		case err := <-ran: // the bug: done while the write was in flight
			close(held.release)
			<-wrote
			t.Fatalf("the re-encryption finished (%v) while a write sealed with v2 was in flight: records by version %v", err, versions(t, s))
		case <-time.After(200 * time.Millisecond): // sequencing, not a speed: Run returns in a few ms when it does not wait
		}
		close(held.release)
		if err := <-wrote; err != nil {
			t.Fatal(err)
		}
		if err := <-ran; err != nil {
			t.Fatal(err)
		}
		if got := versions(t, s); len(got) != 1 || got[3] != 51 || !r.Progress().Done {
			t.Fatalf("records by version = %v, progress %+v; want all 51 on v3 and done", got, r.Progress())
		}
	})
}

// holdingStore holds the first Put until release is closed, telling
// entered when it begins.
type holdingStore struct {
	rekeyStore
	once             sync.Once
	entered, release chan struct{}
}

func (h *holdingStore) Put(ctx context.Context, items []vault.PutItem) ([]vault.PutResult, error) {
	h.once.Do(func() {
		close(h.entered)
		<-h.release
	})
	return h.rekeyStore.Put(ctx, items)
}
