package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/internal/pan"
)

// UpdateClient makes memStore a ClientUpdater.
func (s *memStore) UpdateClient(_ context.Context, id string, old, record []byte) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return false, s.fail
	}
	cur, ok := s.m[id]
	if !ok || !bytes.Equal(cur, old) {
		return false, nil
	}
	s.m[id] = bytes.Clone(record)
	return true, nil
}

// ListClientRecords makes memStore a ClientLister.
func (s *memStore) ListClientRecords(_ context.Context, after string, limit int) ([]StoredClient, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, s.fail
	}
	var ids []string
	for id := range s.m {
		if id > after {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	var out []StoredClient
	for _, id := range ids {
		if len(out) == limit {
			break
		}
		out = append(out, StoredClient{ID: id, Record: bytes.Clone(s.m[id])})
	}
	return out, nil
}

// peer returns a second Service on f's store, key and clock: another
// gateway sharing the vault, with its own cache.
func (f *fixture) peer(t testing.TB) *Service {
	return NewService(f.store, f.key, Options{Now: f.clock.Now, Logger: obstest.Logger(t)})
}

// TestRevokedClientsTokensStopWithinTheCacheBound: a revocation on one
// gateway refuses the client's token there at once and on another gateway
// sharing the store once its cached state is DefaultClientCacheTTL old;
// the secret is refused everywhere at once.
func TestRevokedClientsTokensStopWithinTheCacheBound(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	b := f.peer(t)
	c, secret := f.create(t, allScopesSpec())
	tok, _, err := f.svc.IssueToken(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.VerifyToken(tok); err != nil { // b caches the client
		t.Fatalf("token on b before the revocation: %v", err)
	}

	f.clock.Set(testEpoch.Add(time.Second))
	got, changed, err := f.svc.RevokeClient(ctx, c.ID)
	if err != nil || !changed || !got.RevokedAt.Equal(testEpoch.Add(time.Second)) {
		t.Fatalf("RevokeClient = %+v, %v, %v", got, changed, err)
	}
	if _, err := f.svc.VerifyToken(tok); !errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("token on the revoking gateway: %v, want ErrInvalidToken (revoked)", err)
	}
	for _, svc := range []*Service{f.svc, b} {
		if _, err := svc.Authenticate(ctx, c.ID, secret); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("secret of a revoked client: %v, want ErrInvalidCredentials", err)
		}
	}
	// A gateway without a cached state reads the client: refused at once.
	if _, err := f.peer(t).VerifyToken(tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("token on a gateway without a cached state: %v", err)
	}

	// A gateway that cached the client before the revocation accepts the
	// token until its entry is DefaultClientCacheTTL old, never longer.
	f2 := newFixture(t)
	c, _ = f2.create(t, allScopesSpec())
	tok, _, _ = f2.svc.IssueToken(c, nil)
	other := f2.peer(t)
	if _, err := other.VerifyToken(tok); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f2.svc.RevokeClient(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	f2.clock.Set(testEpoch.Add(DefaultClientCacheTTL - time.Millisecond))
	if _, err := other.VerifyToken(tok); err != nil {
		t.Fatalf("within the cache bound the cached state is used: %v", err)
	}
	f2.clock.Set(testEpoch.Add(DefaultClientCacheTTL))
	if _, err := other.VerifyToken(tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("token %v after the cache bound: %v, want ErrInvalidToken", DefaultClientCacheTTL, err)
	}

	// Revoking again changes nothing and keeps the first time.
	f2.clock.Set(testEpoch.Add(time.Hour))
	again, changed, err := f2.svc.RevokeClient(ctx, c.ID)
	if err != nil || changed || !again.RevokedAt.Equal(testEpoch) {
		t.Fatalf("second RevokeClient = %+v, %v, %v", again, changed, err)
	}
}

// TestRotateSecret: after a rotation the old secret and the tokens issued
// before it are refused (on another gateway within the cache bound), the
// new secret works at once, and a token of the new secret is accepted at
// once even by a gateway that cached the old credential.
func TestRotateSecret(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	b := f.peer(t)
	c, oldSecret := f.create(t, allScopesSpec())
	oldTok, _, _ := f.svc.IssueToken(c, nil)
	if _, err := b.VerifyToken(oldTok); err != nil {
		t.Fatal(err)
	}

	f.clock.Set(testEpoch.Add(2 * time.Second))
	rotated, newSecret, err := f.svc.RotateSecret(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if newSecret == oldSecret || len(newSecret) != secretWidth || rotated.Fingerprint() == c.Fingerprint() ||
		!rotated.SecretRotatedAt.Equal(testEpoch.Add(2*time.Second)) || !rotated.RevokedAt.IsZero() {
		t.Fatalf("RotateSecret = %+v", rotated)
	}
	if bytes.Contains(f.store.m[c.ID], []byte(newSecret)) {
		t.Fatal("the stored record holds the new secret")
	}
	if _, err := f.svc.VerifyToken(oldTok); !errors.Is(err, ErrInvalidToken) || !strings.Contains(err.Error(), "rotated") {
		t.Fatalf("old token on the rotating gateway: %v", err)
	}

	// b cached the old credential at testEpoch: the old token is accepted
	// there until that state is DefaultClientCacheTTL old, then refused.
	f.clock.Set(testEpoch.Add(DefaultClientCacheTTL - time.Second))
	if _, err := b.VerifyToken(oldTok); err != nil {
		t.Fatalf("old token on b within the cache bound: %v", err)
	}
	f.clock.Set(testEpoch.Add(DefaultClientCacheTTL))
	if _, err := b.VerifyToken(oldTok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("old token on b after the cache bound: %v", err)
	}
	for _, svc := range []*Service{f.svc, b} {
		if _, err := svc.Authenticate(ctx, c.ID, oldSecret); !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("old secret: %v", err)
		}
	}

	// The new secret works everywhere at once, and its token is accepted
	// by a gateway whose cache still holds the old credential.
	stale := NewService(f.store, f.key, Options{Now: f.clock.Now, Logger: obstest.Logger(t)})
	f.clock.Set(testEpoch.Add(3 * time.Second))
	fresh, err := f.svc.Authenticate(ctx, c.ID, newSecret)
	if err != nil {
		t.Fatalf("new secret: %v", err)
	}
	newTok, _, err := f.svc.IssueToken(fresh, nil)
	if err != nil {
		t.Fatal(err)
	}
	// stale caches the old credential (as read before the rotation).
	stale.cache.put(c.ID, clientState{found: true, fingerprint: c.Fingerprint(), fetched: testEpoch.Add(time.Second)})
	if _, err := stale.VerifyToken(newTok); err != nil {
		t.Fatalf("a new token on a gateway with a stale cache: %v", err)
	}
	if _, err := stale.VerifyToken(oldTok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("the old token after the refresh: %v", err)
	}
	// An old token issued well before a cached state does not make the
	// gateway read the client again.
	reads := 0
	counting := &countingStore{memStore: f.store, reads: &reads}
	cached := NewService(counting, f.key, Options{Now: f.clock.Now, Logger: obstest.Logger(t)})
	f.clock.Set(testEpoch.Add(20 * time.Second))
	if _, err := cached.VerifyToken(newTok); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := cached.VerifyToken(oldTok); !errors.Is(err, ErrInvalidToken) {
			t.Fatal(err)
		}
	}
	if reads != 1 {
		t.Errorf("%d store reads for 6 verifications within the cache bound, want 1", reads)
	}

	// A revoked client's secret cannot be rotated; unknown ids are
	// ErrClientNotFound.
	if _, _, err := f.svc.RevokeClient(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, s, err := f.svc.RotateSecret(ctx, c.ID); !errors.Is(err, ErrClientRevoked) || s != "" {
		t.Fatalf("rotate a revoked client: %q, %v", s, err)
	}
	for _, id := range []string{"AC" + strings.Repeat("2", 22), "nope", ""} {
		if _, _, err := f.svc.RotateSecret(ctx, id); !errors.Is(err, ErrClientNotFound) {
			t.Errorf("rotate %q: %v", id, err)
		}
		if _, _, err := f.svc.RevokeClient(ctx, id); !errors.Is(err, ErrClientNotFound) {
			t.Errorf("revoke %q: %v", id, err)
		}
	}
}

func okHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
}

// countingStore counts GetClient calls.
type countingStore struct {
	*memStore
	reads *int
}

func (s *countingStore) GetClient(ctx context.Context, id string) ([]byte, bool, error) {
	*s.reads++
	return s.memStore.GetClient(ctx, id)
}

// TestTokenOfRevokedClientIs401AndStoreFailureIs503: Require refuses a
// revoked client's token with 401 and answers 503 when the client cannot
// be read (no cached state).
func TestTokenOfRevokedClientIs401AndStoreFailureIs503(t *testing.T) {
	f := newFixture(t)
	c, _ := f.create(t, allScopesSpec())
	tok, _, _ := f.svc.IssueToken(c, nil)
	h := f.peer(t).Require(ScopeCardsRead, false, "application/json", okHandler())
	status := func() int {
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	f.store.setFail(errors.New("connection refused"))
	if got := status(); got != 503 {
		t.Fatalf("store down: %d, want 503", got)
	}
	f.store.setFail(nil)
	if got := status(); got != 204 {
		t.Fatalf("store back: %d, want 204", got)
	}
	if _, _, err := f.svc.RevokeClient(context.Background(), c.ID); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(testEpoch.Add(DefaultClientCacheTTL))
	if got := status(); got != 401 {
		t.Fatalf("revoked: %d, want 401", got)
	}
}

// TestListClients lists every client, revoked and rotated ones with their
// times, and never anything of a secret.
func TestListClients(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	a, secretA := f.create(t, allScopesSpec())
	o, _ := f.create(t, ClientSpec{Name: "proxy", Account: "acct_2", Outbound: true})
	f.clock.Set(testEpoch.Add(time.Minute))
	if _, _, err := f.svc.RevokeClient(ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	_, secretB, err := f.svc.RotateSecret(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	list, err := f.svc.ListClients(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("ListClients = %+v, %v", list, err)
	}
	byID := map[string]Client{list[0].ID: list[0], list[1].ID: list[1]}
	if got := byID[o.ID]; !got.Outbound || !got.RevokedAt.Equal(testEpoch.Add(time.Minute)) || !got.SecretRotatedAt.IsZero() {
		t.Errorf("outbound client listed as %+v", got)
	}
	if got := byID[a.ID]; got.Outbound || !got.RevokedAt.IsZero() || !got.SecretRotatedAt.Equal(testEpoch.Add(time.Minute)) ||
		!slices.Equal(got.Scopes, KnownScopes()) || got.Name != "shop backend" || !got.CreatedAt.Equal(testEpoch) {
		t.Errorf("API client listed as %+v", got)
	}
	b, _ := json.Marshal(list)
	if strings.Contains(string(b), secretA) || strings.Contains(string(b), secretB) {
		t.Error("the list holds a secret")
	}
	if list[0].ID > list[1].ID {
		t.Error("not in id order")
	}
}

// plainStore is a ClientStore without the lifecycle methods.
type plainStore struct{ ClientStore }

func TestLifecycleNeedsAStoreThatSupportsIt(t *testing.T) {
	f := newFixture(t)
	c, _ := f.create(t, allScopesSpec())
	svc := NewService(plainStore{f.store}, f.key, Options{Now: f.clock.Now})
	ctx := context.Background()
	if _, err := svc.ListClients(ctx); !errors.Is(err, ErrNotSupported) {
		t.Errorf("ListClients: %v", err)
	}
	if _, _, err := svc.RevokeClient(ctx, c.ID); !errors.Is(err, ErrNotSupported) {
		t.Errorf("RevokeClient: %v", err)
	}
	if _, _, err := svc.RotateSecret(ctx, c.ID); !errors.Is(err, ErrNotSupported) {
		t.Errorf("RotateSecret: %v", err)
	}
}

// TestClientCacheIsBounded: the cache never holds more than
// ClientCacheSize clients, and a negative TTL turns it off.
func TestClientCacheIsBounded(t *testing.T) {
	f := newFixture(t)
	svc := NewService(f.store, f.key, Options{Now: f.clock.Now, ClientCacheSize: 3})
	var toks []string
	for range 10 {
		c, _ := f.create(t, allScopesSpec())
		tok, _, _ := f.svc.IssueToken(c, nil)
		toks = append(toks, tok)
	}
	for i, tok := range toks {
		f.clock.Set(testEpoch.Add(time.Duration(i) * time.Second))
		if _, err := svc.VerifyToken(tok); err != nil {
			t.Fatal(err)
		}
		if n := svc.cache.len(); n > 3 {
			t.Fatalf("cache holds %d clients, bound 3", n)
		}
	}
	off := NewService(f.store, f.key, Options{Now: f.clock.Now, ClientCacheTTL: -1})
	if _, err := off.VerifyToken(toks[0]); err != nil || off.cache.len() != 0 {
		t.Fatalf("cache off: %v, %d entries", err, off.cache.len())
	}
}

// TestRecordVersions: a record that was revoked or rotated is version 2;
// records of version 1 (every client created so far) still authenticate.
func TestRecordVersions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c, secret := f.create(t, allScopesSpec())
	if !bytes.Contains(f.store.m[c.ID], []byte(`"v":1,`)) {
		t.Fatalf("a new record: %s", f.store.m[c.ID])
	}
	if _, err := f.svc.Authenticate(ctx, c.ID, secret); err != nil {
		t.Fatal(err)
	}
	_, secret, _ = f.svc.RotateSecret(ctx, c.ID)
	if !bytes.Contains(f.store.m[c.ID], []byte(`"v":2,`)) || !bytes.Contains(f.store.m[c.ID], []byte(`"rotated_at"`)) {
		t.Fatalf("a rotated record: %s", f.store.m[c.ID])
	}
	if _, err := f.svc.Authenticate(ctx, c.ID, secret); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkVerifyToken measures token verification with the client's state
// cached (the hot path: one read lock and a comparison over the signature
// check) and with the cache off (a store read per token).
func BenchmarkVerifyToken(b *testing.B) {
	for _, tt := range []struct {
		name string
		ttl  time.Duration
	}{{"cached", 0}, {"uncached", -1}} {
		b.Run(tt.name, func(b *testing.B) {
			f := newFixture(b)
			svc := NewService(f.store, f.key, Options{Now: f.clock.Now, ClientCacheTTL: tt.ttl})
			c, _ := f.create(b, allScopesSpec())
			tok, _, _ := f.svc.IssueToken(c, nil)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := svc.VerifyToken(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// gatedStore blocks GetClient until gate is closed and counts the calls.
type gatedStore struct {
	*memStore
	gate  chan struct{}
	mu    sync.Mutex
	reads int
}

func (s *gatedStore) GetClient(ctx context.Context, id string) ([]byte, bool, error) {
	s.mu.Lock()
	s.reads++
	s.mu.Unlock()
	<-s.gate
	return s.memStore.GetClient(ctx, id)
}

// TestConcurrentMissesShareOneRead: verifications of one client's tokens
// that miss the cache together make one store read, and a waiter whose
// context ends stops waiting.
func TestConcurrentMissesShareOneRead(t *testing.T) {
	f := newFixture(t)
	c, _ := f.create(t, allScopesSpec())
	tok, _, _ := f.svc.IssueToken(c, nil)
	gs := &gatedStore{memStore: f.store, gate: make(chan struct{})}
	svc := NewService(gs, f.key, Options{Now: f.clock.Now, Logger: obstest.Logger(t)})

	const n = 20
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := svc.VerifyToken(tok)
			errs <- err
		}()
	}
	// Wait until every goroutine is reading or waiting for the read.
	deadline := time.Now().Add(5 * time.Second)
	for {
		svc.loads.mu.Lock()
		l := svc.loads.m[c.ID]
		svc.loads.mu.Unlock()
		if l != nil {
			break
		}
		if time.Now().After(deadline) {
			close(gs.gate)
			t.Fatal("no read in flight")
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := svc.VerifyTokenContext(ctx, tok); err == nil || errors.Is(err, ErrInvalidToken) {
		t.Errorf("a waiter with an ended context: %v, want its context error", err)
	}
	// Let the others reach the wait: a fixed sleep (20 ms) was a guess
	// that a loaded machine could beat, and a verification that checks the
	// cache before the first read ends but the read group after it starts
	// another read.
	waiting := waitForSharedReaders(n - 1)
	close(gs.gate)
	if waiting < n-1 {
		t.Fatalf("%d verifications wait for the shared read, want %d", waiting, n-1)
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if gs.reads != 1 { // every other verification waited for the first read
		t.Errorf("%d store reads for %d concurrent verifications, want 1", gs.reads, n)
	}
}

// waitForSharedReaders waits (10 s at most) until n goroutines wait in
// loadShared for a read in flight (blocked in its select), read from the
// goroutines' stacks, and returns how many do.
func waitForSharedReaders(n int) int {
	buf := make([]byte, 1<<20)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		waiting := 0
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			if head, _, _ := strings.Cut(g, "\n"); strings.Contains(head, "[select") && strings.Contains(g, ").loadShared(") {
				waiting++
			}
		}
		if waiting >= n || time.Now().After(deadline) {
			return waiting
		}
	}
}

// TestCacheKeepsTheLaterState: a state read before the cached one (a slow
// read that began before a revocation) does not replace it.
func TestCacheKeepsTheLaterState(t *testing.T) {
	c := newStateCache(DefaultClientCacheTTL, 10)
	c.put("AC1", clientState{found: true, revoked: true, fetched: testEpoch.Add(time.Second)})
	c.put("AC1", clientState{found: true, fetched: testEpoch})
	if st, ok := c.get("AC1", testEpoch.Add(2*time.Second)); !ok || !st.revoked {
		t.Fatalf("cached state = %+v, %v; want the revoked one", st, ok)
	}
	c.put("AC1", clientState{found: true, fetched: testEpoch.Add(3 * time.Second)})
	if st, _ := c.get("AC1", testEpoch.Add(3*time.Second)); st.revoked {
		t.Fatal("a later read did not replace the state")
	}
}

// TestCheckClientStopsAClientWithinTheCacheBound: CheckClient (asked by
// the outbound proxy for each request inside a CONNECT tunnel) refuses a
// client revoked or rotated on the same Service at once, and on another
// Service sharing the store once its cached state is DefaultClientCacheTTL
// old; a store it cannot read is an error that is not a refusal.
func TestCheckClientStopsAClientWithinTheCacheBound(t *testing.T) {
	ctx := context.Background()
	spec := ClientSpec{Name: "psp egress", Account: "acct_1", Outbound: true}
	for _, change := range []string{"revoke", "rotate"} {
		t.Run(change, func(t *testing.T) {
			f := newFixture(t)
			b := f.peer(t)
			c0, secret := f.create(t, spec)
			ca, err := f.svc.Authenticate(ctx, c0.ID, secret)
			if err != nil {
				t.Fatal(err)
			}
			cb, err := b.Authenticate(ctx, c0.ID, secret) // b caches the client
			if err != nil {
				t.Fatal(err)
			}
			since := f.clock.Now()
			if err := f.svc.CheckClient(ctx, ca, since); err != nil {
				t.Fatalf("before the %s: %v", change, err)
			}
			f.clock.Set(since.Add(time.Second))
			switch change {
			case "revoke":
				_, _, err = f.svc.RevokeClient(ctx, c0.ID)
			case "rotate":
				_, _, err = f.svc.RotateSecret(ctx, c0.ID)
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := f.svc.CheckClient(ctx, ca, since); !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("same Service after the %s: %v, want ErrInvalidCredentials", change, err)
			}
			if err := b.CheckClient(ctx, cb, since); err != nil {
				t.Fatalf("other Service within the cache bound: %v (its cached state still stands)", err)
			}
			f.clock.Set(since.Add(DefaultClientCacheTTL + 2*time.Second))
			if err := b.CheckClient(ctx, cb, since); !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("other Service past the cache bound: %v, want ErrInvalidCredentials", err)
			}
		})
	}
	t.Run("store down", func(t *testing.T) {
		f := newFixture(t)
		c0, secret := f.create(t, spec)
		c, err := f.svc.Authenticate(ctx, c0.ID, secret)
		if err != nil {
			t.Fatal(err)
		}
		since := f.clock.Now()
		f.clock.Set(since.Add(DefaultClientCacheTTL + time.Second))
		f.store.setFail(errors.New("store down"))
		if err := f.svc.CheckClient(ctx, c, since); err == nil || errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("store down: %v, want an error that is not a refusal", err)
		}
		f.store.setFail(nil)
		if err := f.svc.CheckClient(ctx, c, since); err != nil {
			t.Fatalf("store back: %v", err)
		}
	})
}

// hookStore runs hook (once: the next GetClient after it is set) after a
// GetClient has read the record and before it returns it: a change made
// meanwhile by another request.
type hookStore struct {
	*memStore
	mu   sync.Mutex
	hook func()
}

func (s *hookStore) setHook(f func()) {
	s.mu.Lock()
	s.hook = f
	s.mu.Unlock()
}

func (s *hookStore) GetClient(ctx context.Context, id string) ([]byte, bool, error) {
	b, found, err := s.memStore.GetClient(ctx, id)
	s.mu.Lock()
	hook := s.hook
	s.hook = nil
	s.mu.Unlock()
	if hook != nil {
		hook()
	}
	return b, found, err
}

// TestAuthenticateDoesNotCacheAStateOlderThanARevocation: Authenticate
// reads the record, then caches its state for token verification and
// CheckClient. It dated that state after the read, so a revocation (or a
// rotation) made on the same Service between the read and the caching was
// overwritten by the older state: the client's tokens and its open
// outbound tunnels (CheckClient) passed for a whole ClientCacheTTL on the
// gateway that revoked it, which promises "at once". The state is now
// dated before the read, as loadState dates it, and the later revocation
// stands.
func TestAuthenticateDoesNotCacheAStateOlderThanARevocation(t *testing.T) {
	ctx := context.Background()
	for _, change := range []string{"revoke", "rotate"} {
		t.Run(change, func(t *testing.T) {
			f := newFixture(t)
			hs := &hookStore{memStore: f.store}
			svc := NewService(hs, f.key, Options{Now: f.clock.Now, Logger: obstest.Logger(t)})
			c0, secret := f.create(t, ClientSpec{Name: "psp egress", Account: "acct_1", Outbound: true})
			tunnel, err := svc.Authenticate(ctx, c0.ID, secret) // the CONNECT
			if err != nil {
				t.Fatal(err)
			}
			since := f.clock.Now()
			f.clock.Set(since.Add(10 * time.Second)) // the cached state has expired
			hs.setHook(func() {
				// Another request changes the client on this Service while
				// Authenticate holds the record it read before (time
				// passes between each step).
				f.clock.Set(f.clock.Now().Add(time.Millisecond))
				var err error
				switch change {
				case "revoke":
					_, _, err = svc.RevokeClient(ctx, c0.ID)
				case "rotate":
					_, _, err = svc.RotateSecret(ctx, c0.ID)
				}
				if err != nil {
					t.Error(err)
				}
				f.clock.Set(f.clock.Now().Add(time.Millisecond))
			})
			_, _ = svc.Authenticate(ctx, c0.ID, secret) // read before the change, cached after it
			if err := svc.CheckClient(ctx, tunnel, since); !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("CheckClient after the %s on the same Service: %v, want ErrInvalidCredentials", change, err)
			}
		})
	}
}

// TestNotAClientIDNeverEchoesACardNumber: `clients revoke` and
// `rotate-secret` quote an id that is no client id; a card number typed
// there in a reader's spelling (groups by '/', two spaces, other scripts'
// digits) was quoted as typed ("4111/1111/1111/1111" is not a client id),
// on the terminal and in what captures it. The id is masked as text shown
// to people is (pan.MaskShown).
func TestNotAClientIDNeverEchoesACardNumber(t *testing.T) {
	f := newFixture(t)
	for _, id := range []string{"4111/1111/1111/1111", "4111 1111  1111 1111", "4111|1111|1111|1111", "４１１１１１１１１１１１１１１１", "4111111111111111"} {
		_, _, err := f.svc.RevokeClient(context.Background(), id)
		if !errors.Is(err, ErrClientNotFound) {
			t.Fatalf("%q: %v, want ErrClientNotFound", id, err)
		}
		if pan.MaskShown(err.Error()) != err.Error() {
			t.Fatalf("%q: the error quotes a card number a reader sees: %v", id, err)
		}
		if _, _, err := f.svc.RotateSecret(context.Background(), id); pan.MaskShown(err.Error()) != err.Error() {
			t.Fatalf("%q: rotate-secret's error quotes a card number a reader sees: %v", id, err)
		}
	}
}
