package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/redistest"
)

// TestOutboundRevealFailsClosedWhenAStoreFails sends aliases of a card
// number (PostgreSQL) and a CVC (Redis) through the outbound proxy of a
// gateway while Redis, then PostgreSQL, is cut and then hung: the
// processor receives nothing (neither the values nor the aliases), the
// merchant's client gets 503 (or, for the CONNECT of a new tunnel while
// PostgreSQL is away, 407: see docs/DECISIONS.md); with the store back the
// same request is revealed. A route that says
// on_error: pass forwards the message as it came (aliases, never a value
// half revealed). Last, Redis (a server of the test's own) comes back
// empty: the lost CVC alias is 404 on the vault API and 422 unknown_alias
// on the strict route, never sent as if it were the CVC but where the
// route says so (on_error: pass), and new CVCs work without a restart.
func TestOutboundRevealFailsClosedWhenAStoreFails(t *testing.T) {
	pgURL, pgFault := throughFault(t, testPostgresURL(t))
	redisAddr := redistest.Start(t) // of its own: the test empties it
	redisURL, redisFault := throughFault(t, "redis://"+redisAddr+"/0")
	var mu sync.Mutex
	var got []string
	psp := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.URL.Path+" "+string(b))
		mu.Unlock()
		io.WriteString(w, `{"status":"authorized"}`)
	}))
	defer psp.Close()
	received := func() []string {
		mu.Lock()
		defer mu.Unlock()
		out := got
		got = nil
		return out
	}

	cfg := sharedConfig(t, pgURL, redisURL, "")
	bundle := filepath.Join(filepath.Dir(cfg), "psp.pem")
	os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: psp.Certificate().Raw}), 0o600)
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, `outbound: {ca_bundle: %q, allow_private_destinations: true}
routes:
  - id: psp
    direction: outbound
    host: 127.0.0.1
    path_prefix: /charges
    filters:
      - {id: reveal, operation: reveal, targets: [{json: card.number}, {json: card.cvc}]}
  - id: psp-pass
    direction: outbound
    host: 127.0.0.1
    path_prefix: /lenient
    filters:
      - {id: reveal, operation: reveal, on_error: pass, targets: [{json: card.number}, {json: card.cvc}]}
`, bundle)
	f.Close()
	env := []string{"ALIASGATE_MASTER_KEY=" + newMasterKey()}
	var out, api credential
	if err := json.Unmarshal([]byte(cliRun(t, env, "clients", "create", "--config", cfg, "--name", "backend", "--account", "acct_1", "--outbound")), &out); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(cliRun(t, env, "clients", "create", "--config", cfg, "--name", "api", "--account", "acct_1",
		"--scopes", "aliases:write,aliases:reveal")), &api); err != nil {
		t.Fatal(err)
	}
	caPEM := cliRun(t, env, "ca", "cert", "--config", cfg)
	g := startChild(t, cfg, env...)

	pan := testPAN(randomDigits(6), 1)
	apiAuth := func(r *http.Request) { r.SetBasicAuth(api.ID, api.Secret) }
	st, b := call(t, "POST", g.inbound+"/aliases", "application/json",
		`{"data":[{"value":"`+pan+`","format":"FPE_SIX_T_FOUR"},{"value":"947","storage":"VOLATILE"}]}`, apiAuth)
	var made struct {
		Data []struct{ Aliases []struct{ Alias string } }
	}
	if st != 201 || json.Unmarshal(b, &made) != nil || len(made.Data) != 2 {
		t.Fatalf("redact: %d %s", st, b)
	}
	body := `{"card":{"number":"` + made.Data[0].Aliases[0].Alias + `","cvc":"` + made.Data[1].Aliases[0].Alias + `"}}`

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(caPEM))
	proxyURL, _ := url.Parse("http://" + strings.TrimPrefix(g.outbound, "http://"))
	proxyURL.User = url.UserPassword(out.ID, out.Secret)
	// One tunnel, kept between requests while the gateway keeps it: the
	// reveals inside it are what a store failure reaches (a new CONNECT
	// needs the client store too, and is refused with 407 while
	// PostgreSQL is away).
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL),
		TLSClientConfig: &tls.Config{RootCAs: pool}, MaxConnsPerHost: 1}}
	send := func(path string) int {
		t.Helper()
		res, err := client.Post(psp.URL+path, "application/json", strings.NewReader(body))
		if err != nil && strings.Contains(err.Error(), "Proxy Authentication Required") {
			return http.StatusProxyAuthRequired // a new CONNECT while PostgreSQL is away
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	revealed := `/charges {"card":{"number":"` + pan + `","cvc":"947"}}`
	if st := send("/charges"); st != 200 {
		t.Fatalf("before the outage: %d", st)
	}
	if r := received(); len(r) != 1 || r[0] != revealed {
		t.Fatalf("the processor received %q, want %q", r, revealed)
	}

	for _, c := range []struct {
		name       string
		fail, back func()
	}{
		{"redis cut", redisFault.Down, redisFault.Up},
		{"postgres cut", pgFault.Down, pgFault.Up},
		{"redis hung", redisFault.Stall, redisFault.Resume},
		{"postgres hung", pgFault.Stall, pgFault.Resume},
	} {
		c.fail()
		if st := send("/charges"); st != http.StatusServiceUnavailable && st != http.StatusProxyAuthRequired {
			t.Errorf("%s: %d, want 503", c.name, st)
		}
		if r := received(); len(r) != 0 {
			t.Errorf("%s: the processor received %q", c.name, r)
		}
		// A new tunnel: refused while PostgreSQL (the client store) is
		// away — with 407, not 503, by decision (docs/DECISIONS.md:
		// "outbound auth failures") — and revealed through otherwise.
		fresh := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL),
			TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
		res, err := fresh.Post(psp.URL+"/charges", "application/json", strings.NewReader(body))
		switch {
		case err == nil:
			res.Body.Close()
			if res.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("%s, new tunnel: %d, want 503", c.name, res.StatusCode)
			}
		case !strings.Contains(err.Error(), "Proxy Authentication Required"):
			t.Errorf("%s, new tunnel: %v, want 407 to the CONNECT", c.name, err)
		}
		if r := received(); len(r) != 0 {
			t.Errorf("%s, new tunnel: the processor received %q", c.name, r)
		}
		// A request in the open tunnel is checked against its client
		// (auth.Service.CheckClient, through a cache of 5 s): while
		// PostgreSQL, the client store, cannot answer once that cache is
		// stale, the request gets 503 whatever on_error says, and nothing
		// is sent.
		st := send("/lenient")
		if r := received(); st == 200 && (len(r) != 1 || r[0] != "/lenient "+body) || st != 200 && (st != 407 && st != 503 || len(r) != 0) {
			t.Errorf("%s, on_error: pass: %d, the processor received %q; want the message as sent (or 407 to a new CONNECT, or 503 while the client cannot be checked; nothing sent)", c.name, st, r)
		}
		c.back()
		if !waitFor(30*time.Second, func() bool { return send("/charges") == 200 }) {
			t.Fatalf("%s: no recovery; log:\n%s", c.name, g.stderr.String())
		}
		if r := received(); len(r) == 0 || r[len(r)-1] != revealed {
			t.Fatalf("%s, back: the processor received %q", c.name, r)
		}
	}
	// Redis restarted empty (no persistence: volatile values are lost by
	// design): the CVC alias is unknown. The vault API says 404; the
	// processor gets nothing through the strict route (422 unknown_alias),
	// and through the on_error: pass route only what that route says —
	// the message with the alias in the CVC field — never another value;
	// new CVCs are tokenized and revealed again without a restart.
	redisDo(t, redisAddr, "FLUSHALL")
	redisDo(t, redisAddr, "SCRIPT", "FLUSH")
	redisDo(t, redisAddr, "CLIENT", "KILL", "TYPE", "normal")
	cvcAlias := made.Data[1].Aliases[0].Alias
	if st, b := callNoFatal("GET", g.inbound+"/aliases/"+cvcAlias, "", "", apiAuth); st != http.StatusNotFound {
		t.Errorf("reveal of a CVC alias Redis lost: %d %s, want 404", st, b)
	}
	if st := send("/charges"); st != http.StatusUnprocessableEntity {
		t.Errorf("redis emptied: %d, want 422 unknown_alias", st)
	}
	if r := received(); len(r) != 0 {
		t.Errorf("redis emptied: the processor received %q", r)
	}
	if st, r := send("/lenient"), received(); st != 200 || len(r) != 1 ||
		r[0] != `/lenient {"card":{"number":"`+pan+`","cvc":"`+cvcAlias+`"}}` {
		t.Errorf("redis emptied, on_error: pass: %d, the processor received %q; want the number revealed and the CVC field as sent", st, r)
	}
	st, b = call(t, "POST", g.inbound+"/aliases", "application/json", `{"data":[{"value":"948","storage":"VOLATILE"}]}`, apiAuth)
	var fresh struct {
		Data []struct{ Aliases []struct{ Alias string } }
	}
	if st != 201 || json.Unmarshal(b, &fresh) != nil || len(fresh.Data) != 1 {
		t.Fatalf("a new CVC after redis came back empty: %d %s", st, b)
	}
	body = `{"card":{"number":"` + made.Data[0].Aliases[0].Alias + `","cvc":"` + fresh.Data[0].Aliases[0].Alias + `"}}`
	if st, r := send("/charges"), received(); st != 200 || len(r) != 1 || r[0] != `/charges {"card":{"number":"`+pan+`","cvc":"948"}}` {
		t.Errorf("a new CVC after redis came back empty: %d, the processor received %q", st, r)
	}
}
