package main

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/internal/pan"
	"github.com/aliasgate/aliasgate/webhooks"
)

// End-to-end proof of issue 22 items 4 and 5 together: card and network
// token changes made through two real gateways sharing one PostgreSQL
// vault reach the accounts' webhook receivers as signed events, each once.
//
// What the design promises about delivery (webhooks package doc, README
// "Delivery"): every event once in normal operation, at least once across
// a crash, deduped by event id; nothing about the order in which events
// arrive (each delivery is claimed, retried and backed off on its own).
// So these tests assert exactly-once per event id and never an arrival
// order; what they check of order is what a receiver can rely on to
// order a card's events itself: the envelope's created_at follows the
// order in which the changes were made.

const (
	cardEventsSecretA = "card-events-secret-A-0123456789abcdef"
	cardEventsSecretB = "card-events-secret-B-fedcba9876543210"
	cardEventsAdmin   = "card-events-admin-token-0123456789"
	cardEventsCVC     = "739"
)

// hookEvent is one delivery the receiver accepted (signature verified).
type hookEvent struct {
	ID, Type, Account string
	CreatedAt         time.Time
	Data              map[string]any
}

// hookReceiver is the accounts' webhook receiver: an https server on
// 127.0.0.1 with one path per endpoint, each verifying with its own secret
// (webhooks.Verify) and counting accepted deliveries by event id. While
// down it answers 500 (after verifying, so the attempt is a real one).
type hookReceiver struct {
	srv     *httptest.Server
	secrets map[string]string // path → secret

	mu      sync.Mutex
	down    map[string]bool        // path → answering 500
	refused map[string]int         // path → attempts answered 500
	got     map[string][]hookEvent // path → accepted events, arrival order
	count   map[string]int         // path + " " + event id → accepted deliveries
	raw     []string               // every body and header received
	scan    []string               // the same without the signature (an HMAC, whose hex may spell a card-like run)
	bad     []string               // what failed verification or the envelope checks
}

func newHookReceiver(t *testing.T) *hookReceiver {
	r := &hookReceiver{secrets: map[string]string{"/a": cardEventsSecretA, "/b": cardEventsSecretB},
		down: map[string]bool{}, refused: map[string]int{}, got: map[string][]hookEvent{}, count: map[string]int{}}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	r.mu.Lock()
	defer r.mu.Unlock()
	var hdr, unsigned strings.Builder
	req.Header.Write(&hdr)
	req.Header.WriteSubset(&unsigned, map[string]bool{webhooks.SignatureHeader: true})
	r.raw = append(r.raw, hdr.String(), string(body))
	r.scan = append(r.scan, unsigned.String(), string(body))
	secret, ok := r.secrets[req.URL.Path]
	if !ok {
		r.bad = append(r.bad, "a delivery to unknown path "+req.URL.Path)
		http.NotFound(w, req)
		return
	}
	if err := webhooks.Verify(secret, req.Header.Get(webhooks.SignatureHeader), body, 5*time.Minute, time.Now()); err != nil {
		r.bad = append(r.bad, req.URL.Path+": "+err.Error())
		http.Error(w, "bad signature", http.StatusBadRequest)
		return
	}
	if r.down[req.URL.Path] {
		r.refused[req.URL.Path]++
		http.Error(w, "receiver down", http.StatusInternalServerError)
		return
	}
	var env struct {
		ID        string          `json:"id"`
		Type      string          `json:"type"`
		CreatedAt time.Time       `json:"created_at"`
		Account   string          `json:"account_id"`
		Data      json.RawMessage `json:"data"`
	}
	var ev hookEvent
	if err := json.Unmarshal(body, &env); err != nil || json.Unmarshal(env.Data, &ev.Data) != nil ||
		env.ID == "" || req.Header.Get(webhooks.EventIDHeader) != env.ID || req.Header.Get(webhooks.EventTypeHeader) != env.Type {
		r.bad = append(r.bad, fmt.Sprintf("%s: envelope %q, headers %v", req.URL.Path, body, req.Header))
		http.Error(w, "bad envelope", http.StatusBadRequest)
		return
	}
	ev.ID, ev.Type, ev.Account, ev.CreatedAt = env.ID, env.Type, env.Account, env.CreatedAt
	r.got[req.URL.Path] = append(r.got[req.URL.Path], ev)
	r.count[req.URL.Path+" "+ev.ID]++
	w.WriteHeader(http.StatusNoContent)
}

func (r *hookReceiver) setDown(p string, down bool) { r.mu.Lock(); r.down[p] = down; r.mu.Unlock() }

func (r *hookReceiver) refusedAt(p string) int { r.mu.Lock(); defer r.mu.Unlock(); return r.refused[p] }

// events returns the accepted events of path about card id, arrival order.
func (r *hookReceiver) events(p, cardID string) []hookEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []hookEvent
	for _, e := range r.got[p] {
		if e.Data["card_id"] == cardID {
			out = append(out, e)
		}
	}
	return out
}

func (r *hookReceiver) all(p string) []hookEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got[p])
}

// eventKey names an event of a card by what the test expects of it.
func eventKey(e hookEvent) string { return e.Type + "/" + fmt.Sprint(e.Data["source"]) }

// cardEventsRig is two gateways on one PostgreSQL vault (and one Redis),
// with webhook endpoints for acct_1 (receiver /a) and acct_2 (/b), network
// tokens on for acct_1, and everything the test saw, for the leak checks.
type cardEventsRig struct {
	a, b       *childGateway
	cfgA, cfgB string
	env        []string
	recv       *hookReceiver
	shop       func(*http.Request) // acct_1, PCI, cards and network tokens
	other      func(*http.Request) // acct_2
	adminAuth  func(*http.Request)
	seen       []string // CLI output, delivery log answers: searched for secrets at the end
}

// cardEventsConfig is one gateway's configuration: sharedConfig's shared
// PostgreSQL + Redis vault, the Card Management API with network tokens
// for acct_1, the admin token, and the webhook endpoints with a small
// backoff (the receiver's certificate trusted through webhooks.ca_bundle).
func cardEventsConfig(t *testing.T, pgURL, redisURL, recvURL, caBundle string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`data_dir: %s
listen: {inbound: "127.0.0.1:0", outbound: "127.0.0.1:0", admin: "127.0.0.1:0"}
vault:
  store: postgres
  postgres_url: %q
  volatile: redis
  redis_url: %q
  redis_prefix: "test-%s:"
cards: {enabled: true, network_token_accounts: [acct_1]}
admin: {token: %s}
limits: {source_new_values: 0, enumeration_threshold: 0}
webhooks:
  allow_private_destinations: true
  ca_bundle: %s
  timeout: 5s
  backoff_base: 100ms
  backoff_max: 400ms
  poll_interval: 100ms
  endpoints:
    - {id: shop, account: acct_1, url: "%s/a", secret_env: CARD_EVENTS_SECRET_A, events: ["*"]}
    - {id: other, account: acct_2, url: "%s/b", secret_env: CARD_EVENTS_SECRET_B, events: ["card.*", "network_token.*"]}
`, filepath.Join(dir, "data"), pgURL, redisURL, path.Base(strings.SplitN(pgURL, "?", 2)[0]), cardEventsAdmin,
		caBundle, recvURL, recvURL)
	file := filepath.Join(dir, "aliasgate.yaml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

func newCardEventsRig(t *testing.T) *cardEventsRig {
	t.Helper()
	r := &cardEventsRig{recv: newHookReceiver(t),
		adminAuth: func(req *http.Request) { req.Header.Set("Authorization", "Bearer "+cardEventsAdmin) }}
	ca := filepath.Join(t.TempDir(), "hooks-ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.recv.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	pgURL := testPostgresURL(t)
	r.cfgA = cardEventsConfig(t, pgURL, testRedisURL(), r.recv.srv.URL, ca)
	r.cfgB = cardEventsConfig(t, pgURL, testRedisURL(), r.recv.srv.URL, ca)
	r.env = []string{"ALIASGATE_MASTER_KEY=" + newMasterKey(), "CARD_EVENTS_SECRET_A=" + cardEventsSecretA,
		"CARD_EVENTS_SECRET_B=" + cardEventsSecretB}
	r.a = startChild(t, r.cfgA, r.env...)
	r.b = startChild(t, r.cfgB, r.env...)
	var shop, other credential
	if err := json.Unmarshal([]byte(cliRun(t, r.env, "clients", "create", "--config", r.cfgA, "--name", "shop", "--account", "acct_1", "--pci",
		"--scopes", "cards:read,cards:write,network-tokens:write")), &shop); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(cliRun(t, r.env, "clients", "create", "--config", r.cfgB, "--name", "other", "--account", "acct_2",
		"--scopes", "cards:read,cards:write")), &other); err != nil {
		t.Fatal(err)
	}
	r.shop, r.other = bearerAuth(token(t, r.a.inbound, shop)), bearerAuth(token(t, r.b.inbound, other))
	return r
}

// cli runs an aliasgate command as a process; its output (and stderr)
// joins what the leak checks search.
func (r *cardEventsRig) cli(t *testing.T, args ...string) string {
	t.Helper()
	cmd := execCommand(t, r.env, args...)
	var errb syncBuffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	r.seen = append(r.seen, string(out), errb.String())
	if err != nil {
		t.Fatalf("aliasgate %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return string(out)
}

// simulate raises a network event for card id of acct_1 with `aliasgate
// tsp simulate` through gateway g's admin listener.
func (r *cardEventsRig) simulate(t *testing.T, g *childGateway, id string, args ...string) map[string]any {
	t.Helper()
	out := r.cli(t, append(append([]string{"tsp", "simulate"}, args...), "--account", "acct_1", "--card", id,
		"--config", r.cfgA, "--admin", g.admin)...)
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("tsp simulate %v printed %q", args, out)
	}
	return m
}

// cardDoc is a GET /cards/{id} answer.
type cardDoc struct {
	Data struct {
		ID         string         `json:"id"`
		Attributes map[string]any `json:"attributes"`
	} `json:"data"`
	Included []struct {
		Type       string         `json:"type"`
		ID         string         `json:"id"`
		Attributes map[string]any `json:"attributes"`
	} `json:"included"`
}

func getCard(t *testing.T, g *childGateway, auth func(*http.Request), id, include string) cardDoc {
	t.Helper()
	u := g.inbound + "/cards/" + id
	if include != "" {
		u += "?include=" + include
	}
	status, body := call(t, "GET", u, "", "", auth)
	var d cardDoc
	if status != 200 || json.Unmarshal(body, &d) != nil {
		t.Fatalf("GET card %s: %d %s", id, status, body)
	}
	return d
}

// lastUpdate is the newest card update of the card, from
// ?include=card_updates.
func lastUpdate(t *testing.T, g *childGateway, auth func(*http.Request), id string) (string, map[string]any) {
	t.Helper()
	d := getCard(t, g, auth, id, "card_updates")
	var ups []int
	for i, inc := range d.Included {
		if inc.Type == "card_updates" {
			ups = append(ups, i)
		}
	}
	if len(ups) == 0 {
		t.Fatalf("card %s has no card updates", id)
	}
	u := d.Included[ups[len(ups)-1]]
	return u.ID, u.Attributes
}

// deliveries is the delivery log of account through gateway g's admin
// listener (every page).
func (r *cardEventsRig) deliveries(t *testing.T, g *childGateway, account string) []webhooks.Delivery {
	t.Helper()
	var all []webhooks.Delivery
	before := ""
	for {
		status, body := call(t, "GET", g.admin+"/admin/webhooks/deliveries?limit=1000&account="+account+"&before="+before, "", "", r.adminAuth)
		r.seen = append(r.seen, string(body))
		var page struct{ Data []webhooks.Delivery }
		if status != 200 || json.Unmarshal(body, &page) != nil {
			t.Fatalf("delivery log: %d %s", status, body)
		}
		all = append(all, page.Data...)
		if len(page.Data) < 1000 {
			return all
		}
		before = page.Data[len(page.Data)-1].ID
	}
}

// settled waits until every delivery of account in the log is delivered
// (and there is at least want of them), and returns the log.
func (r *cardEventsRig) settled(t *testing.T, account string, want int) []webhooks.Delivery {
	t.Helper()
	var ds []webhooks.Delivery
	if !waitFor(60*time.Second, func() bool {
		ds = r.deliveries(t, r.a, account)
		if len(ds) < want {
			return false
		}
		for _, d := range ds {
			if d.State != webhooks.StateDelivered {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("the deliveries of %s did not all arrive (%d, want %d):\n%s\n%s", account, len(ds), want,
			mustJSON(ds), r.a.stderr.String()+r.b.stderr.String())
	}
	return ds
}

// expectCard waits until the receiver holds, for card id, exactly the
// events named by want (type/source → count) and returns them by key.
func (r *cardEventsRig) expectCard(t *testing.T, p, id string, want map[string]int) map[string]hookEvent {
	t.Helper()
	var got []hookEvent
	match := func() bool {
		got = r.recv.events(p, id)
		n := map[string]int{}
		for _, e := range got {
			n[eventKey(e)]++
		}
		for k, c := range want {
			if n[k] < c {
				return false
			}
		}
		return true
	}
	if !waitFor(60*time.Second, match) {
		t.Fatalf("card %s: events %v, want %v\n%s", id, keys(got), want, r.a.stderr.String()+r.b.stderr.String())
	}
	n := map[string]int{}
	byKey := map[string]hookEvent{}
	for _, e := range got {
		n[eventKey(e)]++
		byKey[eventKey(e)] = e
	}
	for k, c := range n {
		if want[k] != c {
			t.Errorf("card %s: %d × %s received, want %d (all: %v)", id, c, k, want[k], keys(got))
		}
	}
	return byKey
}

func keys(evs []hookEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, eventKey(e))
	}
	return out
}

// assertExactlyOnce checks the receiver got each event of path once, and
// that the log's deliveries of account are those events, each delivered
// with one attempt (a second dispatcher's send would be a second attempt
// or a second count).
func (r *cardEventsRig) assertExactlyOnce(t *testing.T, p, account string, ds []webhooks.Delivery) {
	t.Helper()
	r.recv.mu.Lock()
	defer r.recv.mu.Unlock()
	inLog := map[string]bool{}
	for _, d := range ds {
		inLog[d.EventID] = true
		if n := r.recv.count[p+" "+d.EventID]; n != 1 {
			t.Errorf("event %s (%s) received %d times, want once", d.EventID, d.EventType, n)
		}
	}
	for _, e := range r.recv.got[p] {
		if !inLog[e.ID] {
			t.Errorf("received event %s (%s) is not in %s's delivery log", e.ID, e.Type, account)
		}
		if e.Account != account {
			t.Errorf("%s received an event of %s: %s", p, e.Account, e.Type)
		}
	}
	if len(r.recv.bad) > 0 {
		t.Errorf("deliveries that failed verification: %v", r.recv.bad)
	}
}

// assertNoLeaks stops the gateways and searches every byte the test saw
// leave them — webhook bodies and headers, delivery log answers, CLI
// output, both gateways' logs — for the secrets, and for card-like numbers
// (the signature header, an HMAC of the body, is searched for the secrets
// only: its hex digits are no card data, and may spell a Luhn-valid run).
func (r *cardEventsRig) assertNoLeaks(t *testing.T, secrets []string) {
	t.Helper()
	r.a.stop(t)
	r.b.stop(t)
	r.recv.mu.Lock()
	places := map[string]string{"webhook deliveries": strings.Join(r.recv.raw, "\n")}
	scanned := map[string]string{"webhook deliveries": strings.Join(r.recv.scan, "\n")}
	r.recv.mu.Unlock()
	places["delivery log and CLI output"] = strings.Join(r.seen, "\n")
	places["gateway A log"], places["gateway B log"] = r.a.stderr.String(), r.b.stderr.String()
	secrets = append(secrets, cardEventsSecretA, cardEventsSecretB, `"`+cardEventsCVC+`"`)
	for where, text := range places {
		if text == "" {
			t.Errorf("%s: nothing captured to search", where)
		}
		for i, s := range secrets {
			if s == "" || s == `""` {
				t.Fatalf("secret %d to search for is empty", i)
			}
			if strings.Contains(text, s) {
				t.Errorf("%s holds secret %d of the list (%d bytes, not shown)", where, i, len(s))
			}
		}
		if u, ok := scanned[where]; ok {
			text = u
		}
		obstest.AssertNoPAN(t, where, []byte(text))
	}
}

// createCard posts a card and returns its id and attributes (PCI client:
// pan and cvc in clear besides their aliases).
func createCard(t *testing.T, g *childGateway, auth func(*http.Request), p, cvc string) (string, map[string]any) {
	t.Helper()
	body := `{"data":{"attributes":{"pan":"` + p + `","exp_month":4,"exp_year":2030}}}`
	if cvc != "" {
		body = `{"data":{"attributes":{"pan":"` + p + `","cvc":"` + cvc + `","exp_month":4,"exp_year":2030}}}`
	}
	status, b := call(t, "POST", g.inbound+"/cards", "application/vnd.api+json", body, auth)
	var d cardDoc
	if status != 201 || json.Unmarshal(b, &d) != nil {
		t.Fatalf("create card: %d %s", status, b)
	}
	return d.Data.ID, d.Data.Attributes
}

// tokenOf returns the card's current network token (PCI: with its token
// PAN), from ?include=network_tokens.
func tokenOf(t *testing.T, g *childGateway, auth func(*http.Request), id string) (string, map[string]any) {
	t.Helper()
	d := getCard(t, g, auth, id, "network_tokens")
	for _, inc := range d.Included {
		if inc.Type == "network_tokens" {
			return inc.ID, inc.Attributes
		}
	}
	return "", nil
}

// TestCardEventsLifecycleThroughTwoGateways (issue 22 items 4 and 5): a
// card of acct_1 (network tokens on) is created on gateway A, patched on
// B, then the token service simulator raises every network event, through
// A's and B's admin listeners in turn, and the card is deleted on B. After
// each change the card and its card_updates show it with its source, both
// gateways agree on what the token can do (a cryptogram while active, 409
// otherwise), and the receiver gets the matching signed event; at the end
// each event was
// received exactly once although both gateways' dispatchers ran, the
// delivery log shows each delivered with one attempt, acct_2's endpoint
// got only acct_2's card, and nothing that left the gateways holds a card
// number, token PAN, CVC, cryptogram, alias or signing secret.
func TestCardEventsLifecycleThroughTwoGateways(t *testing.T) {
	r := newCardEventsRig(t)
	a, b := r.a, r.b
	const firstPAN = "4111111111111111"

	// Created on A: card.created and network_token.created (auto-provisioned).
	id, attrs := createCard(t, a, r.shop, firstPAN, cardEventsCVC)
	secrets := []string{firstPAN, attrs["pan_alias"].(string), attrs["cvc_alias"].(string)}
	if attrs["cvc"] != cardEventsCVC {
		t.Fatalf("the PCI client does not see the cvc it stored: %v", attrs["cvc_status"])
	}
	want := map[string]int{"card.created/api": 1, "network_token.created/api": 1}
	got := r.expectCard(t, "/a", id, want)
	if e := got["card.created/api"]; e.Data["last4"] != "1111" || e.Data["brand"] != "VISA" || e.Data["exp_month"] != 4.0 || e.Data["exp_year"] != 2030.0 {
		t.Errorf("card.created data %v", e.Data)
	}
	tokenID, tok := tokenOf(t, b, r.shop, id)
	tokenPAN, _ := tok["network_token"].(string)
	if !pan.Valid(tokenPAN) || got["network_token.created/api"].Data["network_token_id"] != tokenID ||
		got["network_token.created/api"].Data["status"] != "active" {
		t.Fatalf("network token %s (valid token PAN %v) vs event %v", tokenID, pan.Valid(tokenPAN), got["network_token.created/api"].Data)
	}
	secrets = append(secrets, tokenPAN)
	if alias, _ := tok["token_alias"].(string); alias != "" {
		secrets = append(secrets, alias)
	}
	// A cryptogram, revealed to the PCI client, to search for below.
	status, body := call(t, "POST", b.inbound+"/cards/"+id+"/cryptogram", "application/vnd.api+json", "", r.shop)
	var crypt struct {
		Data struct {
			Attributes struct {
				Cryptogram struct{ Value string } `json:"cryptogram"`
			} `json:"attributes"`
		} `json:"data"`
	}
	if status != 200 || json.Unmarshal(body, &crypt) != nil || len(crypt.Data.Attributes.Cryptogram.Value) < 16 {
		t.Fatalf("cryptogram: %d", status)
	}
	secrets = append(secrets, crypt.Data.Attributes.Cryptogram.Value)

	// PATCHed on B: card.updated (source api) linked to its card update, and
	// the token's expiry follows (network_token.updated, api).
	status, body = call(t, "PATCH", b.inbound+"/cards/"+id, "application/vnd.api+json",
		`{"data":{"attributes":{"exp_month":5,"exp_year":2031}}}`, r.shop)
	if status != 200 {
		t.Fatalf("PATCH: %d %s", status, body)
	}
	updID, upd := lastUpdate(t, a, r.shop, id)
	if upd["event"] != "api-update" {
		t.Errorf("card update of the PATCH: %v", upd["event"])
	}
	want["card.updated/api"], want["network_token.updated/api"] = 1, 1
	got = r.expectCard(t, "/a", id, want)
	if e := got["card.updated/api"]; e.Data["card_update_id"] != updID || fmt.Sprint(e.Data["changed_fields"]) != "[exp_month exp_year]" ||
		e.Data["exp_month"] != 5.0 || e.Data["exp_year"] != 2031.0 {
		t.Errorf("card.updated of the PATCH: %v (card update %s)", e.Data, updID)
	}
	if e := got["network_token.updated/api"]; e.Data["exp_month"] != 5.0 || e.Data["exp_year"] != 2031.0 {
		t.Errorf("network_token.updated of the PATCH: %v", e.Data)
	}

	// The network's events, through A's and B's admin listeners in turn.
	steps := []struct {
		g         *childGateway
		args      []string
		update    string // card_updates event
		key       string // the webhook event it publishes
		status    string // the token's status in that event
		alsoCard  bool   // a card.updated too
		tokenExp  [2]float64
		tokenLeft bool
	}{
		{a, []string{"token-updated", "--exp-month", "7", "--exp-year", "2032"}, "network-token-update",
			"network_token.updated/network-token-update", "active", false, [2]float64{7, 2032}, true},
		{b, []string{"token-suspended"}, "network-token-status", "network_token.suspended/network", "suspended", false, [2]float64{7, 2032}, true},
		{a, []string{"token-resumed"}, "network-token-status", "network_token.resumed/network", "active", false, [2]float64{7, 2032}, true},
		{b, []string{"card-reissued", "--new-pan", "--exp-month", "9", "--exp-year", "2033"}, "account-updater",
			"network_token.updated/account-updater", "active", true, [2]float64{9, 2033}, true},
		{a, []string{"token-deleted"}, "network-token-status", "network_token.deleted/network", "deleted", false, [2]float64{9, 2033}, false},
	}
	var newPAN string
	for _, s := range steps {
		m := r.simulate(t, s.g, id, s.args...)
		updID, upd := lastUpdate(t, s.g, r.shop, id)
		if m["card_update_id"] != updID || upd["event"] != s.update {
			t.Errorf("%s: simulate printed update %v; card_updates' newest is %s %v", s.args[0], m["card_update_id"], updID, upd["event"])
		}
		want[s.key] = 1
		if s.alsoCard {
			want["card.updated/account-updater"] = 1
		}
		got = r.expectCard(t, "/a", id, want)
		if e := got[s.key]; e.Data["network_token_id"] != tokenID || e.Data["status"] != s.status ||
			e.Data["exp_month"] != s.tokenExp[0] || e.Data["exp_year"] != s.tokenExp[1] {
			t.Errorf("%s: event %s data %v", s.args[0], s.key, e.Data)
		}
		_, tok := tokenOf(t, s.g, r.shop, id)
		if s.tokenLeft && (tok["state"] != s.status || tok["exp_month"] != s.tokenExp[0] || tok["exp_year"] != s.tokenExp[1]) {
			t.Errorf("%s: the card's token is %v %v/%v", s.args[0], tok["state"], tok["exp_month"], tok["exp_year"])
		}
		if !s.tokenLeft && tok != nil {
			t.Errorf("%s: the card still includes a token (%v)", s.args[0], tok["state"])
		}
		// Both gateways agree on what the token can do now: a cryptogram
		// while it is active, 409 while suspended or deleted.
		for gi, g := range []*childGateway{a, b} {
			status, body := call(t, "POST", g.inbound+"/cards/"+id+"/cryptogram", "application/vnd.api+json", "", r.shop)
			if wantStatus := map[bool]int{true: 200, false: 409}[s.status == "active"]; status != wantStatus {
				t.Errorf("%s: cryptogram on gateway %d: %d, want %d (%s)", s.args[0], gi, status, wantStatus, pan.Mask(string(body)))
			}
			if status == 200 && json.Unmarshal(body, &crypt) == nil && crypt.Data.Attributes.Cryptogram.Value != "" {
				secrets = append(secrets, crypt.Data.Attributes.Cryptogram.Value)
			}
		}
		if s.alsoCard {
			d := getCard(t, s.g, r.shop, id, "")
			newPAN, _ = d.Data.Attributes["pan"].(string)
			if !pan.Valid(newPAN) || newPAN == firstPAN || d.Data.Attributes["exp_month"] != 9.0 || d.Data.Attributes["exp_year"] != 2033.0 {
				t.Fatalf("after the reissue: valid new PAN %v, exp %v/%v", pan.Valid(newPAN), d.Data.Attributes["exp_month"], d.Data.Attributes["exp_year"])
			}
			secrets = append(secrets, newPAN, d.Data.Attributes["pan_alias"].(string))
			e := got["card.updated/account-updater"]
			if e.Data["card_update_id"] != updID || e.Data["last4"] != newPAN[len(newPAN)-4:] || e.Data["exp_month"] != 9.0 ||
				!slices.Contains(anyStrings(e.Data["changed_fields"]), "pan") {
				t.Errorf("card.updated of the reissue: %v", e.Data)
			}
			checkReadmeWebhookExample(t, e)
		}
	}

	// DELETE on B: card.deleted (its token was already deleted: no second
	// network_token.deleted); the card is gone on both gateways.
	if status, body := call(t, "DELETE", b.inbound+"/cards/"+id, "", "", r.shop); status != 204 {
		t.Fatalf("DELETE: %d %s", status, body)
	}
	if status, _ := call(t, "GET", a.inbound+"/cards/"+id, "", "", r.shop); status != 404 {
		t.Errorf("GET of the deleted card on A: %d", status)
	}
	want["card.deleted/api"] = 1
	got = r.expectCard(t, "/a", id, want)
	if e := got["card.deleted/api"]; e.Data["last4"] != newPAN[len(newPAN)-4:] {
		t.Errorf("card.deleted data %v", e.Data)
	}

	// Account B's card: only its endpoint hears of it, and it hears nothing of acct_1.
	idB, attrsB := createCard(t, b, r.other, "5555555555554444", "")
	secrets = append(secrets, "5555555555554444", attrsB["pan_alias"].(string))
	r.expectCard(t, "/b", idB, map[string]int{"card.created/api": 1})

	// Every event once, although both dispatchers ran; the receiver can
	// order a card's events by created_at (arrival order is not promised).
	total := 0
	for _, c := range want {
		total += c
	}
	dsA := r.settled(t, "acct_1", total)
	dsB := r.settled(t, "acct_2", 1)
	if len(dsA) != total || len(dsB) != 1 {
		t.Errorf("deliveries in the log: acct_1 %d (want %d), acct_2 %d (want 1)", len(dsA), total, len(dsB))
	}
	r.assertExactlyOnce(t, "/a", "acct_1", dsA)
	r.assertExactlyOnce(t, "/b", "acct_2", dsB)
	if evs := r.recv.all("/b"); len(evs) != 1 || evs[0].Data["card_id"] != idB {
		t.Errorf("acct_2's endpoint received %v", keys(evs))
	}
	for _, e := range r.recv.all("/a") {
		if e.Data["card_id"] == idB {
			t.Errorf("acct_1's endpoint received acct_2's %s", e.Type)
		}
	}
	by := map[string]int{}
	for _, d := range append(dsA, dsB...) {
		if len(d.Attempts) != 1 || d.Attempts[0].Status/100 != 2 {
			t.Errorf("delivery %s (%s): attempts %+v, want one 2xx", d.ID, d.EventType, d.Attempts)
		}
		if len(d.Attempts) > 0 {
			by[d.Attempts[0].By]++
		}
	}
	t.Logf("deliveries made per dispatcher: %v", by)
	order := []string{"card.created/api", "card.updated/api", "network_token.updated/network-token-update",
		"network_token.suspended/network", "network_token.resumed/network", "card.updated/account-updater",
		"network_token.deleted/network", "card.deleted/api"}
	for i := 1; i < len(order); i++ {
		if got[order[i]].CreatedAt.Before(got[order[i-1]].CreatedAt) {
			t.Errorf("%s created_at %v is before %s's %v", order[i], got[order[i]].CreatedAt, order[i-1], got[order[i-1]].CreatedAt)
		}
	}
	r.cli(t, "webhooks", "deliveries", "--config", r.cfgB, "--account", "acct_1")
	r.assertNoLeaks(t, secrets)
}

func anyStrings(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// TestCardEventsDeliveredAfterReceiverOutage (issue 22 item 5): while
// acct_1's receiver answers 500, a card created on A, suspended through
// B's admin listener and patched on B yields deliveries that stay pending
// and are retried (small backoff) by the gateways; acct_2's receiver keeps
// getting its events meanwhile. Once acct_1's receiver is back each event
// arrives once, and the delivery log (admin endpoint and `aliasgate
// webhooks deliveries`) shows the failed attempts, then the success.
func TestCardEventsDeliveredAfterReceiverOutage(t *testing.T) {
	r := newCardEventsRig(t)
	r.recv.setDown("/a", true)
	id, attrs := createCard(t, r.a, r.shop, "4111111111111111", cardEventsCVC)
	secrets := []string{"4111111111111111", attrs["pan_alias"].(string), attrs["cvc_alias"].(string)}
	_, tok := tokenOf(t, r.b, r.shop, id)
	tokenPAN, _ := tok["network_token"].(string)
	if !pan.Valid(tokenPAN) {
		t.Fatal("no token PAN revealed to the PCI client")
	}
	secrets = append(secrets, tokenPAN)
	r.simulate(t, r.b, id, "token-suspended")
	if status, body := call(t, "PATCH", r.b.inbound+"/cards/"+id, "application/vnd.api+json",
		`{"data":{"attributes":{"exp_month":5,"exp_year":2031}}}`, r.shop); status != 200 {
		t.Fatalf("PATCH: %d %s", status, body)
	}
	const outageEvents = 5 // card.created, network_token.created, .suspended, card.updated, network_token.updated

	// acct_2's receiver is not held back by acct_1's.
	idB, attrsB := createCard(t, r.b, r.other, "5555555555554444", "")
	secrets = append(secrets, "5555555555554444", attrsB["pan_alias"].(string))
	r.expectCard(t, "/b", idB, map[string]int{"card.created/api": 1})

	// Down: every delivery pending, each with at least two failed attempts.
	var ds []webhooks.Delivery
	if !waitFor(60*time.Second, func() bool {
		ds = r.deliveries(t, r.b, "acct_1")
		if len(ds) != outageEvents {
			return false
		}
		for _, d := range ds {
			if d.State != webhooks.StatePending || len(d.Attempts) < 2 {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("while the receiver is down: %s", mustJSON(ds))
	}
	if n := len(r.recv.all("/a")); n != 0 {
		t.Fatalf("the receiver accepted %d events while down", n)
	}
	if r.recv.refusedAt("/a") < 2*outageEvents {
		t.Errorf("the receiver answered 500 to %d attempts, want at least %d", r.recv.refusedAt("/a"), 2*outageEvents)
	}
	var pending struct{ Data []webhooks.Delivery }
	out := r.cli(t, "webhooks", "deliveries", "--config", r.cfgA, "--state", "pending", "--account", "acct_1")
	if err := json.Unmarshal([]byte(out), &pending); err != nil || len(pending.Data) != outageEvents {
		t.Fatalf("webhooks deliveries --state pending: %v, %d deliveries", err, len(pending.Data))
	}

	// Back: each event once; the log shows the failures, then the success.
	r.recv.setDown("/a", false)
	ds = r.settled(t, "acct_1", outageEvents)
	r.expectCard(t, "/a", id, map[string]int{"card.created/api": 1, "network_token.created/api": 1,
		"network_token.suspended/network": 1, "card.updated/api": 1, "network_token.updated/api": 1})
	r.assertExactlyOnce(t, "/a", "acct_1", ds)
	out = r.cli(t, "webhooks", "deliveries", "--config", r.cfgB, "--state", "delivered", "--account", "acct_1")
	var logged struct{ Data []webhooks.Delivery }
	if err := json.Unmarshal([]byte(out), &logged); err != nil || len(logged.Data) != outageEvents {
		t.Fatalf("webhooks deliveries --state delivered: %v, %d deliveries", err, len(logged.Data))
	}
	for _, d := range logged.Data {
		n := len(d.Attempts)
		if n < 3 {
			t.Errorf("delivery %s (%s): %d attempts, want the failures then the success", d.ID, d.EventType, n)
			continue
		}
		for _, at := range d.Attempts[:n-1] {
			if at.Status != 500 || at.Error != "http_status" || at.Next.IsZero() || !strings.Contains(at.Excerpt, "receiver down") {
				t.Errorf("delivery %s: a failed attempt logged as %+v", d.ID, at)
			}
		}
		if last := d.Attempts[n-1]; last.Status != 204 || last.Error != "" || !last.Next.IsZero() {
			t.Errorf("delivery %s: the last attempt %+v, want the 204", d.ID, last)
		}
	}
	r.assertNoLeaks(t, secrets)
}

// TestCardEventsIdempotentRetries (issue 22 item 5 with the Idempotency-Key
// of the Card Management API): a POST /cards and a PATCH retried with
// their Idempotency-Key on the other gateway, and a keyed POST sent to both
// gateways at once, are answered from the first request and publish no
// second card.created or card.updated; a retried PATCH whose change was
// overtaken by another PATCH does not revert it (it would publish a third
// card.updated if it were applied again).
func TestCardEventsIdempotentRetries(t *testing.T) {
	r := newCardEventsRig(t)
	send := func(g *childGateway, method, p, key, body string) (int, http.Header, cardDoc) {
		t.Helper()
		req, _ := http.NewRequest(method, g.inbound+p, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/vnd.api+json")
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		r.shop(req)
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := noFollow.Do(req)
		if err != nil {
			t.Error(err)
			return 0, nil, cardDoc{}
		}
		defer res.Body.Close()
		var d cardDoc
		_ = json.NewDecoder(res.Body).Decode(&d)
		return res.StatusCode, res.Header, d
	}
	create := `{"data":{"attributes":{"pan":"4111111111111111","cvc":"` + cardEventsCVC + `","exp_month":4,"exp_year":2030}}}`
	st, _, d := send(r.a, "POST", "/cards", "create-1", create)
	if st != 201 {
		t.Fatalf("create on A: %d", st)
	}
	id := d.Data.ID
	secrets := []string{"4111111111111111", d.Data.Attributes["pan_alias"].(string), d.Data.Attributes["cvc_alias"].(string)}
	if st, hdr, d := send(r.b, "POST", "/cards", "create-1", create); st != 201 || hdr.Get("Idempotent-Replayed") != "true" || d.Data.ID != id {
		t.Fatalf("create retried on B: %d %v %s", st, hdr.Get("Idempotent-Replayed"), d.Data.ID)
	}
	st, _, d = send(r.a, "PATCH", "/cards/"+id, "patch-1", `{"data":{"attributes":{"exp_month":5,"exp_year":2031}}}`)
	if st != 200 {
		t.Fatalf("PATCH on A: %d", st)
	}
	if st, _, _ := send(r.b, "PATCH", "/cards/"+id, "", `{"data":{"attributes":{"exp_month":6}}}`); st != 200 {
		t.Fatalf("second PATCH on B: %d", st)
	}
	if st, hdr, _ := send(r.b, "PATCH", "/cards/"+id, "patch-1", `{"data":{"attributes":{"exp_month":5,"exp_year":2031}}}`); st != 200 || hdr.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("PATCH retried on B: %d %v", st, hdr.Get("Idempotent-Replayed"))
	}
	if c := getCard(t, r.a, r.shop, id, ""); c.Data.Attributes["exp_month"] != 6.0 || c.Data.Attributes["exp_year"] != 2031.0 {
		t.Errorf("after the retried PATCH the card's expiry is %v/%v, want 6/2031", c.Data.Attributes["exp_month"], c.Data.Attributes["exp_year"])
	}

	// One keyed POST sent to both gateways at once (a client retrying on
	// a timeout): one card, one card.created. A 409 (the first still
	// running) is retried, as the answer's Retry-After asks.
	const other = "5555555555554444"
	secrets = append(secrets, other)
	body2 := `{"data":{"attributes":{"pan":"` + other + `","exp_month":4,"exp_year":2030}}}`
	ids := make([]string, 2)
	var wg sync.WaitGroup
	for i, g := range []*childGateway{r.a, r.b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var st int
			var d cardDoc
			waitFor(30*time.Second, func() bool {
				st, _, d = send(g, "POST", "/cards", "create-2", body2)
				return st != 409
			})
			if st != 201 {
				t.Errorf("keyed POST on gateway %d: %d", i, st)
			}
			ids[i] = d.Data.ID
		}()
	}
	wg.Wait()
	if ids[0] == "" || ids[0] != ids[1] {
		t.Fatalf("the keyed POST sent to both gateways made cards %q", ids)
	}
	c := getCard(t, r.a, r.shop, ids[0], "")
	secrets = append(secrets, c.Data.Attributes["pan_alias"].(string))

	r.expectCard(t, "/a", id, map[string]int{"card.created/api": 1, "network_token.created/api": 1,
		"card.updated/api": 2, "network_token.updated/api": 2})
	r.expectCard(t, "/a", ids[0], map[string]int{"card.created/api": 1, "network_token.created/api": 1})
	ds := r.settled(t, "acct_1", 8)
	if len(ds) != 8 {
		t.Errorf("%d deliveries in the log, want 8", len(ds))
	}
	r.assertExactlyOnce(t, "/a", "acct_1", ds)
	for _, cid := range []string{id, ids[0]} {
		_, tok := tokenOf(t, r.a, r.shop, cid)
		if p, _ := tok["network_token"].(string); pan.Valid(p) {
			secrets = append(secrets, p)
		} else {
			t.Errorf("card %s: no token PAN revealed to the PCI client", cid)
		}
	}
	r.assertNoLeaks(t, secrets)
}

// checkReadmeWebhookExample compares the README's webhook example (a
// card.updated from the account updater) with such an event as a receiver
// got it: the same data members, each of the same JSON type, and the same
// brand spelling and source. The example showed "brand":"visa" where events
// carry the card's card_brand, "VISA".
func checkReadmeWebhookExample(t *testing.T, got hookEvent) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "Each is POSTed as JSON:\n\n```json\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README.md has no webhook example after \"Each is POSTed as JSON:\"")
	}
	var doc struct {
		Type string         `json:"type"`
		Data map[string]any `json:"data"`
	}
	if err := json.Unmarshal([]byte(example), &doc); err != nil {
		t.Fatalf("README.md's webhook example is not JSON: %v\n%s", err, example)
	}
	if doc.Type != got.Type {
		t.Fatalf("README.md's example is a %s, compared with a %s", doc.Type, got.Type)
	}
	for k, v := range doc.Data {
		g, ok := got.Data[k]
		if !ok {
			t.Errorf("README.md's webhook example has data.%s, which the event has not", k)
		} else if fmt.Sprintf("%T", v) != fmt.Sprintf("%T", g) {
			t.Errorf("README.md's webhook example's data.%s is a %T, the event's a %T", k, v, g)
		}
	}
	for k := range got.Data {
		if _, ok := doc.Data[k]; !ok {
			t.Errorf("the event has data.%s, which README.md's webhook example has not", k)
		}
	}
	for _, k := range []string{"brand", "source"} {
		if doc.Data[k] != got.Data[k] {
			t.Errorf("README.md's webhook example has data.%s %v, the event %v", k, doc.Data[k], got.Data[k])
		}
	}
}
