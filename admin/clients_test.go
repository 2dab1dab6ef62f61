package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/vault"
)

// fakeClients holds clients by id; rotations hand out numbered secrets.
type fakeClients struct {
	mu      sync.Mutex
	m       map[string]*ClientInfo
	n       int
	failErr error
}

func newFakeClients(ids ...string) *fakeClients {
	f := &fakeClients{m: map[string]*ClientInfo{}}
	for _, id := range ids {
		f.m[id] = &ClientInfo{ID: id, Name: "n " + id, Account: "acct", Scopes: []string{"cards:read"},
			CreatedAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	}
	return f
}

func (f *fakeClients) List(context.Context) ([]ClientInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failErr != nil {
		return nil, f.failErr
	}
	var out []ClientInfo
	for _, c := range f.m {
		out = append(out, *c)
	}
	return out, nil
}

func (f *fakeClients) Revoke(_ context.Context, id string) (ClientInfo, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failErr != nil {
		return ClientInfo{}, false, f.failErr
	}
	c, ok := f.m[id]
	if !ok {
		return ClientInfo{}, false, fmt.Errorf("wrapped: %w", ErrNoClient)
	}
	if c.RevokedAt != nil {
		return *c, false, nil
	}
	t := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	c.RevokedAt = &t
	return *c, true, nil
}

func (f *fakeClients) RotateSecret(_ context.Context, id string) (ClientInfo, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failErr != nil {
		return ClientInfo{}, "", f.failErr
	}
	c, ok := f.m[id]
	if !ok {
		return ClientInfo{}, "", ErrNoClient
	}
	if c.RevokedAt != nil {
		return ClientInfo{}, "", ErrClientRevoked
	}
	f.n++
	return *c, fmt.Sprintf("secret-%d", f.n), nil
}

func TestClientEndpointsNeedTheToken(t *testing.T) {
	do := serve(t, Options{Token: token, Clients: newFakeClients("AC1")})
	for _, ep := range []struct{ method, path string }{
		{"GET", "/admin/clients"}, {"POST", "/admin/clients/AC1/revoke"}, {"POST", "/admin/clients/AC1/rotate-secret"},
	} {
		for _, authz := range []string{"", "Bearer wrong", "Basic " + token, token} {
			if res, _ := do(ep.method, ep.path, authz); res.StatusCode != 401 {
				t.Errorf("%s %s with %q: %d, want 401", ep.method, ep.path, authz, res.StatusCode)
			}
		}
	}
	off := serve(t, Options{Clients: newFakeClients("AC1")})
	if res, _ := off("GET", "/admin/clients", "Bearer "+token); res.StatusCode != 403 {
		t.Errorf("without admin.token: %d, want 403", res.StatusCode)
	}
}

func TestClientEndpoints(t *testing.T) {
	var mu sync.Mutex
	var changes []string
	fc := newFakeClients("AC1", "AC2")
	do := serve(t, Options{Token: token, Clients: fc, ClientChanged: func(_ context.Context, change, id string) error {
		mu.Lock()
		defer mu.Unlock()
		changes = append(changes, change+" "+id)
		return nil
	}})
	auth := "Bearer " + token

	res, doc := do("GET", "/admin/clients", auth)
	if list, _ := doc["clients"].([]any); res.StatusCode != 200 || len(list) != 2 {
		t.Fatalf("list: %d %v", res.StatusCode, doc)
	}
	res, doc = do("POST", "/admin/clients/AC1/rotate-secret", auth)
	if res.StatusCode != 200 || doc["client_id"] != "AC1" || doc["client_secret"] != "secret-1" {
		t.Fatalf("rotate: %d %v", res.StatusCode, doc)
	}
	res, doc = do("POST", "/admin/clients/AC1/revoke", auth)
	if res.StatusCode != 200 || doc["already_revoked"] != false || doc["revoked_at"] != "2026-03-02T00:00:00Z" {
		t.Fatalf("revoke: %d %v", res.StatusCode, doc)
	}
	res, doc = do("POST", "/admin/clients/AC1/revoke", auth)
	if res.StatusCode != 200 || doc["already_revoked"] != true || doc["revoked_at"] != "2026-03-02T00:00:00Z" {
		t.Fatalf("revoke again: %d %v", res.StatusCode, doc)
	}
	if res, doc = do("POST", "/admin/clients/AC1/rotate-secret", auth); res.StatusCode != 409 {
		t.Fatalf("rotate a revoked client: %d %v", res.StatusCode, doc)
	}
	for _, p := range []string{"/admin/clients/AC9/revoke", "/admin/clients/AC9/rotate-secret"} {
		if res, doc = do("POST", p, auth); res.StatusCode != 404 {
			t.Errorf("%s: %d %v", p, res.StatusCode, doc)
		}
	}
	mu.Lock()
	got := strings.Join(changes, ", ")
	mu.Unlock()
	if got != "secret_rotated AC1, revoked AC1" {
		t.Errorf("ClientChanged calls: %q (a repeated revocation is not a change)", got)
	}

	for _, c := range []struct {
		err        error
		status     int
		retryAfter string
	}{
		{fmt.Errorf("pq: connection refused: %w", vault.ErrUnavailable), 503, "1"},
		{fmt.Errorf("pq: permission denied: %w", vault.ErrStoreRefused), 500, ""},
	} {
		fc.failErr = c.err
		for _, ep := range []struct{ method, path string }{
			{"GET", "/admin/clients"}, {"POST", "/admin/clients/AC2/revoke"}, {"POST", "/admin/clients/AC2/rotate-secret"},
		} {
			res, doc := do(ep.method, ep.path, auth)
			if res.StatusCode != c.status || res.Header.Get("Retry-After") != c.retryAfter || strings.Contains(fmt.Sprint(doc), "pq:") {
				t.Errorf("%s %s with %v: %d Retry-After %q %v", ep.method, ep.path, c.err, res.StatusCode, res.Header.Get("Retry-After"), doc)
			}
		}
	}
}

// TestRotatedSecretIsNotShownWhenTheAuditFails: a rotation the audit log
// cannot record answers 500 without the secret; a revocation, 500 too.
func TestRotatedSecretIsNotShownWhenTheAuditFails(t *testing.T) {
	do := serve(t, Options{Token: token, Clients: newFakeClients("AC1"), ClientChanged: func(context.Context, string, string) error {
		return errors.New("disk full")
	}})
	res, doc := do("POST", "/admin/clients/AC1/rotate-secret", "Bearer "+token)
	if res.StatusCode != 500 || doc["client_secret"] != nil || strings.Contains(fmt.Sprint(doc), "secret-1") {
		t.Fatalf("rotate with a failing audit log: %d %v", res.StatusCode, doc)
	}
	if res, doc = do("POST", "/admin/clients/AC1/revoke", "Bearer "+token); res.StatusCode != 500 || doc["client_id"] != "AC1" {
		t.Fatalf("revoke with a failing audit log: %d %v", res.StatusCode, doc)
	}
}
