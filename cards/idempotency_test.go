package cards

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/vault"
)

type idemTestEntry struct {
	record  []byte
	expires time.Time
}

func (s *memStore) ClaimIdempotency(_ context.Context, account, key string, record []byte, now, expires time.Time) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.idem == nil {
		s.idem = map[string]idemTestEntry{}
	}
	k := account + "/" + key
	if e, ok := s.idem[k]; ok && now.Before(e.expires) {
		return slices.Clone(e.record), nil
	}
	s.idem[k] = idemTestEntry{slices.Clone(record), expires}
	return nil, nil
}

func (s *memStore) FinishIdempotency(_ context.Context, account, key string, record []byte, expires time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.idem == nil {
		s.idem = map[string]idemTestEntry{}
	}
	s.idem[account+"/"+key] = idemTestEntry{slices.Clone(record), expires}
	return nil
}

func (s *memStore) ReleaseIdempotency(_ context.Context, account, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.idem, account+"/"+key)
	return nil
}

// TestIdempotentCreateAndPatch: the same Idempotency-Key and body give the
// first answer again (same card, same card update, nothing applied twice);
// the same key with another body, path or method is 422; keys are per
// account; a failed request releases its key; after IdempotencyTTL the
// key is new again. The store never holds the key or the body in clear.
func TestIdempotentCreateAndPatch(t *testing.T) {
	e := setup(t)
	body := cardBody(`"pan":"4111111111111111","cvc":"123","exp_month":4,"exp_year":28`)
	first := e.do("POST", "/cards", body, pci, "Idempotency-Key: order-42")
	if first.code != 201 || first.hdr.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first create: %d %s", first.code, first.body)
	}
	id := first.doc["data"].(map[string]any)["id"].(string)
	again := e.do("POST", "/cards", body, pci, "Idempotency-Key: order-42")
	if again.code != 201 || again.hdr.Get("Idempotent-Replayed") != "true" || again.hdr.Get("Location") != "/cards/"+id ||
		again.doc["data"].(map[string]any)["id"] != id || attrsOf(t, again.doc)["pan"] != "4111111111111111" {
		t.Fatalf("replayed create: %d %v %s", again.code, again.hdr, again.body)
	}
	if r := e.do("POST", "/cards", cardBody(`"pan":"5555555555554444","exp_month":4,"exp_year":28`), "Idempotency-Key: order-42"); r.code != 422 ||
		!strings.Contains(string(r.body), "idempotency_key_reused") {
		t.Fatalf("same key, other body: %d %s", r.code, r.body)
	}
	if len(e.store.cards) != 1 {
		t.Fatalf("cards stored: %d, want 1", len(e.store.cards))
	}
	// Another account may use the same key.
	if r := e.do("POST", "/cards", body, "X-Test-Account: ACTaccountB", "Idempotency-Key: order-42"); r.code != 201 ||
		r.hdr.Get("Idempotent-Replayed") != "" {
		t.Fatalf("same key in another account: %d %s", r.code, r.body)
	}

	patch := cardBody(`"exp_month":5,"exp_year":29`)
	p1 := e.do("PATCH", "/cards/"+id, patch, "Idempotency-Key: upd-1")
	if p1.code != 200 || p1.doc["included"] == nil {
		t.Fatalf("patch: %d %s", p1.code, p1.body)
	}
	updID := p1.doc["included"].([]any)[0].(map[string]any)["id"]
	p2 := e.do("PATCH", "/cards/"+id, patch, "Idempotency-Key: upd-1")
	if p2.code != 200 || p2.hdr.Get("Idempotent-Replayed") != "true" || p2.doc["included"] == nil ||
		p2.doc["included"].([]any)[0].(map[string]any)["id"] != updID {
		t.Fatalf("replayed patch: %d %s", p2.code, p2.body)
	}
	if ups, _ := e.store.CardUpdates(context.Background(), "ACTaccountA", id); len(ups) != 1 {
		t.Fatalf("card updates after a retried PATCH: %d, want 1", len(ups))
	}
	// The key used on another card's path, or for a create: 422.
	id2, _ := e.create(`"pan":"4242424242424242","exp_month":4,"exp_year":28`)
	for _, c := range []struct{ method, path, body string }{
		{"PATCH", "/cards/" + id2, patch}, {"POST", "/cards", patch},
	} {
		if r := e.do(c.method, c.path, c.body, "Idempotency-Key: upd-1"); r.code != 422 {
			t.Errorf("%s %s with a used key: %d %s", c.method, c.path, r.code, r.body)
		}
	}
	// A failed request releases its key: corrected, the same key works.
	if r := e.do("PATCH", "/cards/"+id2, cardBody(`"exp_month":13`), "Idempotency-Key: fix-me"); r.code != 422 {
		t.Fatalf("bad patch: %d", r.code)
	}
	if r := e.do("PATCH", "/cards/"+id2, cardBody(`"exp_month":6`), "Idempotency-Key: fix-me"); r.code != 200 || r.hdr.Get("Idempotent-Replayed") != "" {
		t.Fatalf("corrected patch with the released key: %d %s", r.code, r.body)
	}
	// After the TTL the key is new again (the PATCH changes nothing now).
	e.clk.Add(IdempotencyTTL + time.Second)
	if r := e.do("PATCH", "/cards/"+id, patch, "Idempotency-Key: upd-1"); r.code != 200 || r.hdr.Get("Idempotent-Replayed") != "" ||
		fmt.Sprint(r.doc["included"]) != "[]" {
		t.Fatalf("patch after the TTL: %d %s", r.code, r.body)
	}
	// Its replay has the same empty included.
	if r := e.do("PATCH", "/cards/"+id, patch, "Idempotency-Key: upd-1"); r.code != 200 || r.hdr.Get("Idempotent-Replayed") != "true" ||
		fmt.Sprint(r.doc["included"]) != "[]" {
		t.Fatalf("replay of a patch that changed nothing: %d %s", r.code, r.body)
	}
	// Bad keys.
	for _, k := range []string{"", strings.Repeat("k", 256), "a b", "ключ"} {
		if r := e.do("POST", "/cards", body, "Idempotency-Key: "+k); r.code != 400 {
			t.Errorf("key %q: %d", k, r.code)
		}
	}
	// Nothing in the store holds the key or card data.
	e.store.mu.Lock()
	for k, v := range e.store.idem {
		for _, secret := range []string{"order-42", "upd-1", "4111111111111111", "123"} {
			if strings.Contains(k, secret) || strings.Contains(string(v.record), secret) {
				t.Errorf("idempotency store holds %q: %s %s", secret, k, v.record)
			}
		}
	}
	e.store.mu.Unlock()
}

// TestIdempotentReplayOfADuplicate: a create answered 303 is replayed as
// 303 to the same card.
func TestIdempotentReplayOfADuplicate(t *testing.T) {
	e := setup(t)
	id, _ := e.create(`"pan":"4111111111111111","exp_month":4,"exp_year":28`)
	body := cardBody(`"pan":"4111111111111111","exp_month":4,"exp_year":28`)
	for i, want := range []string{"", "true"} {
		r := e.do("POST", "/cards", body, "Idempotency-Key: dup")
		if r.code != 303 || r.hdr.Get("Location") != "/cards/"+id || r.hdr.Get("Idempotent-Replayed") != want {
			t.Fatalf("try %d: %d %v %s", i, r.code, r.hdr, r.body)
		}
	}
}

// TestIdempotencyKeyInUse: while a request holds its key a second one with
// the same key gets 409 with Retry-After, and is not applied.
func TestIdempotencyKeyInUse(t *testing.T) {
	e := setup(t)
	id, _ := e.create(`"pan":"4111111111111111","exp_month":4,"exp_year":28`)
	gate := make(chan struct{})
	entered := make(chan struct{})
	var once sync.Once
	slow := &gatedVault{Vault: e.vault, gate: gate, entered: entered, once: &once}
	h, err := New(e.store, slow, fakeGuard{}, Options{VaultID: "tnt-test", FingerprintKey: e.h.fpKey,
		Now: e.clk.Now, Logger: obstest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	done := make(chan int)
	go func() {
		r := httptest.NewRequest("PATCH", "/cards/"+id, strings.NewReader(cardBody(`"cvc":"321"`)))
		r.Header.Set("Content-Type", "application/vnd.api+json")
		r.Header.Set("Idempotency-Key", "slow")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		done <- w.Code
	}()
	<-entered
	r := e.do("PATCH", "/cards/"+id, cardBody(`"cvc":"321"`), "Idempotency-Key: slow")
	if r.code != http.StatusConflict || r.hdr.Get("Retry-After") == "" {
		t.Errorf("second request while the first runs: %d %s", r.code, r.body)
	}
	close(gate)
	if code := <-done; code != 200 {
		t.Fatalf("first request: %d", code)
	}
	if ups, _ := e.store.CardUpdates(context.Background(), "ACTaccountA", id); len(ups) != 1 {
		t.Fatalf("card updates: %d, want 1", len(ups))
	}
	if r := e.do("PATCH", "/cards/"+id, cardBody(`"cvc":"321"`), "Idempotency-Key: slow"); r.code != 200 || r.hdr.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("after the first finished: %d %s", r.code, r.body)
	}
}

// gatedVault holds the first Redact until gate is closed.
type gatedVault struct {
	Vault
	gate    chan struct{}
	entered chan struct{}
	once    *sync.Once
}

func (v *gatedVault) Redact(ctx context.Context, reqs []vault.RedactRequest) ([]vault.Token, error) {
	first := false
	v.once.Do(func() { first = true })
	if first {
		close(v.entered)
		<-v.gate
	}
	return v.Vault.Redact(ctx, reqs)
}
