package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/faultnet"
	"github.com/aliasgate/aliasgate/internal/pan"
)

// sharedConfig writes the configuration of one of several gateways sharing
// one vault on PostgreSQL + Redis: its own data dir, loopback listeners,
// the vault and card APIs, and a redact route to upstream when given.
func sharedConfig(t *testing.T, pgURL, redisURL, upstream string) string {
	t.Helper()
	dir := t.TempDir()
	// The gateways of one test share a Redis key prefix named after their
	// database; other tests' keys stay apart (and all expire).
	cfg := fmt.Sprintf(`data_dir: %s
listen: {inbound: "127.0.0.1:0", outbound: "127.0.0.1:0", admin: "127.0.0.1:0"}
vault:
  store: postgres
  postgres_url: %q
  volatile: redis
  redis_url: %q
  redis_prefix: "test-%s:"
vault_api: {enabled: true}
cards: {enabled: true}
# Load through an outage sends hundreds of new cards and CVCs from one
# loopback source, which the abuse limits exist to refuse (abuse_test.go
# and abuse_volatile_test.go try them).
limits: {source_new_values: 0, source_volatile_values: 0, enumeration_threshold: 0}
`, filepath.Join(dir, "data"), pgURL, redisURL, path.Base(strings.SplitN(pgURL, "?", 2)[0]))
	if upstream != "" {
		cfg += fmt.Sprintf(`routes:
  - id: checkout
    direction: inbound
    host: "*"
    path_prefix: /checkout
    upstream: %s
    filters:
      - id: card
        phase: request
        match: {methods: [POST], content_type: json}
        operation: redact
        targets:
          - {json: card.number, format: FPE_SIX_T_FOUR, classifiers: [pan]}
          - {json: card.cvc, storage: volatile}
`, upstream)
	}
	file := filepath.Join(dir, "aliasgate.yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// cliRun runs an aliasgate command as a process and returns its stdout.
func cliRun(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := execCommand(t, env, args...)
	var errb syncBuffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("aliasgate %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return string(out)
}

// token gets a bearer token for the client from a gateway.
func token(t *testing.T, base string, c credential) string {
	t.Helper()
	status, body := call(t, "POST", base+"/oauth/token", "application/x-www-form-urlencoded", "grant_type=client_credentials",
		func(r *http.Request) { r.SetBasicAuth(c.ID, c.Secret) })
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if status != 200 || json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" {
		t.Fatalf("token from %s: %d %s", base, status, body)
	}
	return tok.AccessToken
}

func bearerAuth(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

// testPAN returns the i-th distinct Luhn-valid 16-digit test PAN of a run.
func testPAN(run string, i int) string {
	body := fmt.Sprintf("4%s%08d", run, i)[:15]
	return body + string(pan.CheckDigit([]byte(body)))
}

// TestTwoGatewaysShareOneVault runs two `aliasgate serve` processes on one
// PostgreSQL database and one Redis: a client created once works on both, a
// token from one is accepted by the other, aliases (persistent and
// volatile) made through one reveal through the other, the same new PANs
// redacted through both at the same instant get one alias each, and a card
// created on one is read and patched on the other.
func TestTwoGatewaysShareOneVault(t *testing.T) {
	pgURL := testPostgresURL(t)
	env := []string{"ALIASGATE_MASTER_KEY=" + newMasterKey()}
	cfgA, cfgB := sharedConfig(t, pgURL, testRedisURL(), ""), sharedConfig(t, pgURL, testRedisURL(), "")
	a := startChild(t, cfgA, env...)
	b := startChild(t, cfgB, env...)

	var c credential
	out := cliRun(t, env, "clients", "create", "--config", cfgA, "--name", "shop", "--account", "acct_1", "--pci",
		"--scopes", "aliases:write,aliases:reveal,cards:read,cards:write")
	if err := json.Unmarshal([]byte(out), &c); err != nil {
		t.Fatalf("clients create printed %q", out)
	}
	tokA := token(t, a.inbound, c) // issued by A, used on B below
	token(t, b.inbound, c)

	status, body := call(t, "POST", a.inbound+"/aliases", "application/json",
		`{"data":[{"value":"4111111111111111","format":"FPE_SIX_T_FOUR"},{"value":"737","storage":"VOLATILE"}]}`, bearerAuth(tokA))
	var created struct {
		Data []struct{ Aliases []struct{ Alias string } }
	}
	if status != 201 || json.Unmarshal(body, &created) != nil || len(created.Data) != 2 {
		t.Fatalf("redact on A: %d %s", status, body)
	}
	for i, want := range []string{"4111111111111111", "737"} {
		alias := created.Data[i].Aliases[0].Alias
		status, body = call(t, "GET", b.inbound+"/aliases/"+alias, "", "", bearerAuth(tokA))
		if status != 200 || !strings.Contains(string(body), `"value":"`+want+`"`) {
			t.Fatalf("reveal on B of an alias made on A (item %d): %d %s", i, status, body)
		}
	}

	// The same 40 new PANs through both gateways at once: one alias each.
	run := randomDigits(6)
	const n = 40
	aliases := [2][n]string{}
	var wg sync.WaitGroup
	for gi, g := range []*childGateway{a, b} {
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st, bd := callNoFatal("POST", g.inbound+"/aliases", "application/json",
					`{"data":[{"value":"`+testPAN(run, i)+`","format":"FPE_SIX_T_FOUR"}]}`, bearerAuth(tokA))
				var cr struct {
					Data []struct{ Aliases []struct{ Alias string } }
				}
				if st == 201 && json.Unmarshal(bd, &cr) == nil && len(cr.Data) == 1 && len(cr.Data[0].Aliases) > 0 {
					aliases[gi][i] = cr.Data[0].Aliases[0].Alias
				}
			}()
		}
	}
	wg.Wait()
	for i := range n {
		if aliases[0][i] == "" || aliases[0][i] != aliases[1][i] {
			t.Fatalf("PAN %d redacted on both gateways at once got aliases %q and %q, want one", i, aliases[0][i], aliases[1][i])
		}
	}

	// Cards: created on A, read and patched on B, the update seen on A.
	status, body = call(t, "POST", a.inbound+"/cards", "application/vnd.api+json",
		`{"data":{"type":"cards","attributes":{"pan":"5555555555554444","cvc":"123","exp_month":12,"exp_year":2031}}}`, bearerAuth(tokA))
	var card struct {
		Data struct{ ID string }
	}
	if status != 201 || json.Unmarshal(body, &card) != nil || card.Data.ID == "" {
		t.Fatalf("create card on A: %d %s", status, body)
	}
	if status, body = call(t, "GET", b.inbound+"/cards/"+card.Data.ID, "", "", bearerAuth(tokA)); status != 200 || !strings.Contains(string(body), `"last4":"4444"`) {
		t.Fatalf("read card on B: %d %s", status, body)
	}
	status, body = call(t, "PATCH", b.inbound+"/cards/"+card.Data.ID, "application/vnd.api+json",
		`{"data":{"type":"cards","id":"`+card.Data.ID+`","attributes":{"exp_month":1,"exp_year":2032}}}`, bearerAuth(tokA))
	if status != 200 {
		t.Fatalf("patch card on B: %d %s", status, body)
	}
	status, body = call(t, "GET", a.inbound+"/cards/"+card.Data.ID+"?include=card_updates", "", "", bearerAuth(tokA))
	if status != 200 || !strings.Contains(string(body), `"exp_year":2032`) || !strings.Contains(string(body), `"card_updates"`) {
		t.Fatalf("card on A after the patch on B: %d %s", status, body)
	}
	// The same PAN on B is the same card (dedupe across gateways): 303 to
	// the card made on A.
	req, _ := http.NewRequest("POST", b.inbound+"/cards", strings.NewReader(
		`{"data":{"type":"cards","attributes":{"pan":"5555555555554444","exp_month":12,"exp_year":2031}}}`))
	req.Header.Set("Content-Type", "application/vnd.api+json")
	bearerAuth(tokA)(req)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || !strings.HasSuffix(res.Header.Get("Location"), "/cards/"+card.Data.ID) {
		t.Fatalf("the same PAN on B: %d Location %q, want 303 to the card made on A", res.StatusCode, res.Header.Get("Location"))
	}
}

// TestStoreOutage takes PostgreSQL, then (in its own gateway) Redis, away
// from a serving gateway under load: matched requests get 503 and the
// upstream receives no card data; /readyz fails; when the store is back the
// gateway recovers by itself, without a restart.
func TestStoreOutage(t *testing.T) {
	for _, store := range []string{"postgres", "redis"} {
		t.Run(store, func(t *testing.T) { testStoreOutage(t, store) })
	}
}

// throughFault returns rawURL with its host replaced by a fault proxy to it.
func throughFault(t *testing.T, rawURL string) (string, *faultnet.Proxy) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	fault := faultnet.New(t, "tcp", u.Host)
	u.Host = fault.Addr()
	return u.String(), fault
}

func testStoreOutage(t *testing.T, store string) {
	pgURL, redisURL := testPostgresURL(t), testRedisURL()
	var fault *faultnet.Proxy
	if store == "postgres" {
		pgURL, fault = throughFault(t, pgURL)
	} else {
		redisURL, fault = throughFault(t, redisURL)
	}

	// The aliases (FPE_SIX_T_FOUR) are Luhn-valid too: the upstream checks
	// for the exact PANs and CVC sent.
	var leaked, forwarded atomic.Int64
	var sent sync.Map
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Card struct{ Number, CVC string }
		}
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &body)
		if _, clear := sent.Load(body.Card.Number); clear || body.Card.CVC == "123" || body.Card.Number == "" {
			leaked.Add(1)
		}
		forwarded.Add(1)
		w.Write([]byte(`{"ok":true}`))
	}))
	defer up.Close()
	cfg := sharedConfig(t, pgURL, redisURL, up.URL)
	g := startChild(t, cfg, "ALIASGATE_MASTER_KEY="+newMasterKey())

	run := randomDigits(6)
	var i atomic.Int64
	send := func() int {
		p := testPAN(run, int(i.Add(1)))
		sent.Store(p, true)
		st, _ := callNoFatal("POST", g.inbound+"/checkout", "application/json",
			`{"card":{"number":"`+p+`","cvc":"123"}}`, nil)
		return st
	}
	ready := func() int { st, _ := callNoFatal("GET", g.admin+"/readyz", "", "", nil); return st }

	if st := send(); st != 200 {
		t.Fatalf("before the outage: %d", st)
	}
	// Load from 4 clients through the outage.
	stop := make(chan struct{})
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				st := send()
				mu.Lock()
				statuses[st]++
				mu.Unlock()
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	fault.Down()
	before := forwarded.Load()
	saw503 := waitFor(10*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return statuses[503] > 0 })
	if !saw503 {
		t.Fatalf("no 503 while %s was away; statuses %v", store, statuses)
	}
	if !waitFor(10*time.Second, func() bool { return ready() == 503 }) {
		t.Fatalf("/readyz did not fail while %s was away", store)
	}
	time.Sleep(time.Second) // keep the load on the outage
	during := forwarded.Load() - before
	fault.Up()
	back := time.Now()
	if !waitFor(30*time.Second, func() bool { return ready() == 200 && send() == 200 }) {
		t.Fatalf("the gateway did not recover after %s came back; log:\n%s", store, g.stderr.String())
	}
	recovered := time.Since(back)
	close(stop)
	wg.Wait()
	if leaked.Load() != 0 {
		t.Fatalf("the upstream received %d bodies with a card number or CVC in clear", leaked.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	t.Logf("%s: statuses over the run: %v; forwarded while cut (requests already past the vault): %d; serving again %v after the store came back",
		store, statuses, during, recovered.Round(time.Millisecond))
	for st := range statuses {
		if st != 200 && st != 503 {
			t.Errorf("status %d during the outage; want only 200 and 503 (%v)", st, statuses)
		}
	}
}

// waitFor polls cond every 100 ms until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// callNoFatal is call for goroutines: a transport error is status 0.
func callNoFatal(method, url, ctype, body string, setup func(*http.Request)) (int, []byte) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if setup != nil {
		setup(req)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, b
}

func randomDigits(n int) string {
	h := randomHex(n)
	var b strings.Builder
	for _, c := range h[:n] {
		b.WriteByte(byte('0' + c%10))
	}
	return b.String()
}
