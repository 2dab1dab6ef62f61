package main

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/vault/vaulttest"
)

// TestIdempotencyKeyIsNoPANOracle: a non-PCI client of the same account
// reuses the PCI client's Idempotency-Key with guessed bodies. Were keys
// per account, every wrong guess would answer 422 idempotency_key_reused
// and the right one a replay, with no guess counted by the abuse guard
// (found in review). Keys are per client: the guesser's first request under
// the key is its own (a new card), every later guess meets that request of
// its own (422), the right guess included; nothing is a replay of the other
// client's answer.
func TestIdempotencyKeyIsNoPANOracle(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(map[string]string{"ALIASGATE_LIMITS_ENUMERATION_THRESHOLD": "5"})
	shop := createClient(t, env, data, "--name", "shop", "--account", "acct_1", "--pci", "--scopes", "cards:write,cards:read")
	support := createClient(t, env, data, "--name", "support", "--account", "acct_1", "--scopes", "cards:write,cards:read")
	g := startGateway(t, env, "--data-dir", data)
	shopAuth, supAuth := bearerToken(t, g, shop), bearerToken(t, g, support)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var lastBody string
	post := func(auth func(*http.Request), key, pan string) (int, string) {
		req, _ := http.NewRequest("POST", g.inbound+"/cards", strings.NewReader(
			`{"data":{"attributes":{"pan":"`+pan+`","exp_month":4,"exp_year":2031}}}`))
		req.Header.Set("Content-Type", "application/vnd.api+json")
		req.Header.Set("Idempotency-Key", key)
		auth(req)
		res, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		lastBody = string(b)
		return res.StatusCode, res.Header.Get("Idempotent-Replayed")
	}
	guesses := vaulttest.Guesses("411111", "1111", 40)
	secret := guesses[37]
	if st, _ := post(shopAuth, "order-42", secret); st != 201 {
		t.Fatalf("shop create: %d", st)
	}
	answers := map[string]int{}
	var secretAnswer string
	for i, guess := range guesses {
		st, replayed := post(supAuth, "order-42", guess)
		if replayed != "" {
			t.Fatalf("guess %d replayed the shop's answer (%d)", i, st)
		}
		a := http.StatusText(st)
		if st == http.StatusUnprocessableEntity {
			a = "reused"
			if !strings.Contains(lastBody, "idempotency_key_reused") {
				t.Fatalf("guess %d: %s", i, lastBody)
			}
		}
		if i == 0 && st != http.StatusCreated {
			t.Fatalf("the support client's first request under the key: %d %s", st, lastBody)
		}
		answers[a]++
		if guess == secret {
			secretAnswer = a
		}
	}
	if secretAnswer != "reused" || answers["reused"] != len(guesses)-1 {
		t.Fatalf("answers %v, the right guess's %q: every guess after the first must meet the guesser's own first request", answers, secretAnswer)
	}
	// The shop's own retry still replays.
	if st, replayed := post(shopAuth, "order-42", secret); st != 201 || replayed != "true" {
		t.Fatalf("the shop's retry: %d, replayed %q", st, replayed)
	}
}
