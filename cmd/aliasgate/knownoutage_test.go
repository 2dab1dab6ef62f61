package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// TestLeakGuardKeepsAliasesWhileRedisIsAway: a route with leak_guard:
// redact lets aliases through and masks card numbers. While Redis (the
// volatile store) cannot be reached, the vault still knows the persistent
// aliases (PostgreSQL, or a bbolt file): a card number beside one in a message is masked
// and the alias must reach the app as it was sent. Before the fix the
// whole check failed with Redis, every card-like number counted as card
// data, and the app got 411111******1111 in place of the alias it had
// stored: the card was lost to it.
func TestLeakGuardKeepsAliasesWhileRedisIsAway(t *testing.T) {
	for _, store := range []string{"postgres", "bolt"} {
		t.Run(store, func(t *testing.T) { testLeakGuardWhileRedisIsAway(t, store) })
	}
}

func testLeakGuardWhileRedisIsAway(t *testing.T, store string) {
	redisURL, redisFault := throughFault(t, testRedisURL())
	var mu sync.Mutex
	var got []string
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, string(b))
		mu.Unlock()
	}))
	defer app.Close()
	var cfg string
	if store == "postgres" {
		cfg = sharedConfig(t, testPostgresURL(t), redisURL, "")
	} else { // a bbolt file with Redis for volatile values
		cfg = sharedConfig(t, "postgres://unused/bolt_"+randomHex(6), redisURL, "")
		b, err := os.ReadFile(cfg)
		if err != nil {
			t.Fatal(err)
		}
		b = regexp.MustCompile(`(?m)^  postgres_url: .*\n`).ReplaceAll(b, nil)
		if err := os.WriteFile(cfg, bytes.Replace(b, []byte("store: postgres"), []byte("store: bolt"), 1), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, `routes:
  - id: notes
    direction: inbound
    host: "*"
    path_prefix: /notes
    upstream: %s
    leak_guard: redact
`, app.URL)
	f.Close()
	env := []string{"ALIASGATE_MASTER_KEY=" + newMasterKey()}
	var c credential
	if err := json.Unmarshal([]byte(cliRun(t, env, "clients", "create", "--config", cfg, "--name", "shop",
		"--scopes", "aliases:write")), &c); err != nil {
		t.Fatal(err)
	}
	g := startChild(t, cfg, env...)
	run := randomDigits(6)
	st, b := call(t, "POST", g.inbound+"/aliases", "application/json",
		`{"data":[{"value":"`+testPAN(run, 1)+`","format":"FPE_SIX_T_FOUR"}]}`, func(r *http.Request) { r.SetBasicAuth(c.ID, c.Secret) })
	var made struct {
		Data []struct{ Aliases []struct{ Alias string } }
	}
	if st != 201 || json.Unmarshal(b, &made) != nil || len(made.Data) != 1 {
		t.Fatalf("redact: %d %s", st, b)
	}
	alias, card := made.Data[0].Aliases[0].Alias, testPAN(run, 2)
	send := func() (int, string) {
		mu.Lock()
		got = nil
		mu.Unlock()
		st, _ := callNoFatal("POST", g.inbound+"/notes", "application/json", `{"saved":"`+alias+`","typed":"`+card+`"}`, nil)
		mu.Lock()
		defer mu.Unlock()
		return st, strings.Join(got, "\n")
	}
	check := func(when string) {
		st, sent := send()
		if st != 200 || !strings.Contains(sent, `"saved":"`+alias+`"`) || strings.Contains(sent, card) {
			t.Errorf("%s: %d, the app received %s; want the alias as sent and the card number masked", when, st, sent)
		}
	}
	check("redis up")
	redisFault.Down()
	check("redis away")
	redisFault.Up()
	check("redis back")
}
