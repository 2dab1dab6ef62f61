package auth

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/base58"
	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// memStore is a ClientStore test double: a map behind a mutex that refuses
// to overwrite an id and can be made to fail.
type memStore struct {
	mu   sync.Mutex
	m    map[string][]byte
	fail error
}

func newMemStore() *memStore { return &memStore{m: map[string][]byte{}} }

func (s *memStore) PutClient(_ context.Context, id string, record []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	if _, ok := s.m[id]; ok {
		return errors.New("memstore: client exists")
	}
	s.m[id] = bytes.Clone(record)
	return nil
}

func (s *memStore) GetClient(_ context.Context, id string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, false, s.fail
	}
	b, ok := s.m[id]
	return bytes.Clone(b), ok, nil
}

func (s *memStore) setFail(err error) {
	s.mu.Lock()
	s.fail = err
	s.mu.Unlock()
}

var testEpoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

type fixture struct {
	svc   *Service
	store *memStore
	key   ed25519.PrivateKey
	clock *clock
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: newMemStore(), key: key, clock: &clock{t: testEpoch}}
	f.svc = NewService(f.store, key, Options{Now: f.clock.Now, Logger: obstest.Logger(t)})
	return f
}

func (f *fixture) create(t testing.TB, spec ClientSpec) (Client, string) {
	t.Helper()
	c, secret, err := f.svc.CreateClient(context.Background(), spec)
	if err != nil {
		t.Fatalf("CreateClient: %v", err)
	}
	return c, secret
}

func allScopesSpec() ClientSpec {
	return ClientSpec{Name: "shop backend", Account: "acct_1", Scopes: KnownScopes(), PCI: true}
}

func TestCreateClientThenAuthenticate(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c, secret := f.create(t, ClientSpec{
		Name: "shop", Account: "merchant-1.eu", Scopes: []string{ScopeCardsWrite, ScopeCardsRead, ScopeCardsRead},
	})

	if !strings.HasPrefix(c.ID, "AC") || len(c.ID) != 24 || !base58.Valid(c.ID[2:]) {
		t.Errorf("client id %q: want AC + 22 base58 characters", c.ID)
	}
	if len(secret) != 44 || !base58.Valid(secret) {
		t.Errorf("secret has %d characters, want 44 base58", len(secret))
	}
	if want := []string{ScopeCardsRead, ScopeCardsWrite}; strings.Join(c.Scopes, " ") != strings.Join(want, " ") {
		t.Errorf("scopes = %v, want %v (deduplicated, KnownScopes order)", c.Scopes, want)
	}
	if !c.CreatedAt.Equal(testEpoch) || c.Fingerprint() == "" {
		t.Errorf("CreatedAt = %v, fingerprint %q", c.CreatedAt, c.Fingerprint())
	}

	got, err := f.svc.Authenticate(ctx, c.ID, secret)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if got.ID != c.ID || got.Name != "shop" || got.Account != "merchant-1.eu" || got.PCI ||
		got.Fingerprint() != c.Fingerprint() || !got.CreatedAt.Equal(c.CreatedAt) {
		t.Errorf("Authenticate = %+v, want %+v", got, c)
	}

	rec := f.store.m[c.ID]
	if bytes.Contains(rec, []byte(secret)) {
		t.Error("stored record contains the secret")
	}
	if strings.Contains(c.Fingerprint(), secret[:8]) {
		t.Error("fingerprint leaks the secret")
	}
}

func TestCreateClientGivesFreshIDsAndSecrets(t *testing.T) {
	f := newFixture(t)
	ids, secrets := map[string]bool{}, map[string]bool{}
	for range 50 {
		c, s := f.create(t, allScopesSpec())
		if ids[c.ID] || secrets[s] {
			t.Fatal("repeated id or secret")
		}
		ids[c.ID], secrets[s] = true, true
	}
}

func TestCreateClientValidation(t *testing.T) {
	long := strings.Repeat("x", 129)
	tests := []struct {
		name      string
		spec      ClientSpec
		wantScope bool // also ErrInvalidScope
	}{
		{"empty name", ClientSpec{Account: "a", Scopes: []string{ScopeCardsRead}}, false},
		{"blank name", ClientSpec{Name: "  ", Account: "a", Scopes: []string{ScopeCardsRead}}, false},
		{"name too long", ClientSpec{Name: long, Account: "a", Scopes: []string{ScopeCardsRead}}, false},
		{"name with newline", ClientSpec{Name: "a\nb", Account: "a", Scopes: []string{ScopeCardsRead}}, false},
		{"empty account", ClientSpec{Name: "n", Scopes: []string{ScopeCardsRead}}, false},
		{"account too long", ClientSpec{Name: "n", Account: long, Scopes: []string{ScopeCardsRead}}, false},
		{"account with space", ClientSpec{Name: "n", Account: "a b", Scopes: []string{ScopeCardsRead}}, false},
		{"account with slash", ClientSpec{Name: "n", Account: "a/b", Scopes: []string{ScopeCardsRead}}, false},
		{"no scopes", ClientSpec{Name: "n", Account: "a"}, false},
		{"unknown scope", ClientSpec{Name: "n", Account: "a", Scopes: []string{"cards:delete"}}, true},
		{"unknown scope on outbound", ClientSpec{Name: "n", Account: "a", Scopes: []string{"x"}, Outbound: true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			_, _, err := f.svc.CreateClient(context.Background(), tt.spec)
			if !errors.Is(err, ErrInvalidClientSpec) {
				t.Fatalf("err = %v, want ErrInvalidClientSpec", err)
			}
			if tt.wantScope != errors.Is(err, ErrInvalidScope) {
				t.Errorf("errors.Is(err, ErrInvalidScope) = %v, want %v", !tt.wantScope, tt.wantScope)
			}
			if len(f.store.m) != 0 {
				t.Error("an invalid client was stored")
			}
		})
	}
}

func TestCreateClientAcceptsLimits(t *testing.T) {
	f := newFixture(t)
	longName := strings.Repeat("é", 128)
	f.create(t, ClientSpec{Name: longName, Account: strings.Repeat("a", 128), Scopes: []string{ScopeAliasesWrite}})
	c, _ := f.create(t, ClientSpec{Name: "proxy", Account: "a", Outbound: true})
	if !c.Outbound || len(c.Scopes) != 0 {
		t.Errorf("outbound client = %+v", c)
	}
}

func TestCreateClientStoreFailureIsWrapped(t *testing.T) {
	f := newFixture(t)
	boom := errors.New("disk full")
	f.store.setFail(boom)
	_, _, err := f.svc.CreateClient(context.Background(), allScopesSpec())
	if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "auth: ") {
		t.Fatalf("err = %v, want wrapped store error", err)
	}
}

func TestAuthenticateRejectsBadCredentials(t *testing.T) {
	f := newFixture(t)
	c, secret := f.create(t, allScopesSpec())
	other, _ := f.create(t, allScopesSpec())
	unknownID := "AC" + base58.EncodeFixed(bytes.Repeat([]byte{7}, 16), 22)
	// Change the last character, whatever it is (a fixed replacement equals
	// it one time in 58).
	last := byte('1')
	if secret[len(secret)-1] == last {
		last = '2'
	}
	wrong := secret[:len(secret)-1] + string(last)
	tests := []struct {
		name, id, secret string
	}{
		{"wrong secret", c.ID, wrong},
		{"empty secret", c.ID, ""},
		{"secret of another client's id", other.ID, secret},
		{"unknown id", unknownID, secret},
		{"malformed id", "not-a-client", secret},
		{"empty id", "", secret},
		{"id with secret swapped", secret, c.ID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.Authenticate(context.Background(), tt.id, tt.secret)
			if !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("err = %v, want ErrInvalidCredentials", err)
			}
			if strings.Contains(err.Error(), tt.secret) && tt.secret != "" {
				t.Error("error text contains the secret")
			}
		})
	}
}

func TestAuthenticateStoreFailureIsNotInvalidCredentials(t *testing.T) {
	f := newFixture(t)
	c, secret := f.create(t, allScopesSpec())
	boom := errors.New("connection refused")
	f.store.setFail(boom)
	_, err := f.svc.Authenticate(context.Background(), c.ID, secret)
	if !errors.Is(err, boom) || errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("err = %v, want the wrapped store error", err)
	}
}

func TestAuthenticateCorruptRecordIsAnError(t *testing.T) {
	f := newFixture(t)
	c, secret := f.create(t, allScopesSpec())
	f.store.m[c.ID] = []byte(`{"v":1,"id":"x"`)
	_, err := f.svc.Authenticate(context.Background(), c.ID, secret)
	if err == nil || errors.Is(err, ErrInvalidCredentials) {
		t.Fatalf("err = %v, want a record error", err)
	}
}

func TestKnownScopesReturnsACopy(t *testing.T) {
	s := KnownScopes()
	if len(s) != 5 {
		t.Fatalf("KnownScopes = %v", s)
	}
	s[0] = "changed"
	if KnownScopes()[0] != ScopeAliasesWrite {
		t.Error("KnownScopes shares its backing array")
	}
}

func TestNewServiceDefaults(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	s := NewService(newMemStore(), key, Options{})
	if s.issuer != "aliasgate" || s.audience != "aliasgate" || s.ttl != 15*time.Minute || s.now == nil || s.log == nil {
		t.Errorf("defaults: %q %q %v", s.issuer, s.audience, s.ttl)
	}
}
