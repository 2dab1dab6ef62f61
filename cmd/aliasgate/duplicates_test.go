package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aliasgate/aliasgate/vault/vaulttest"
)

// Duplicate detection off (issue 22) through the real gateway, on the
// embedded bbolt vault and on PostgreSQL with Redis: in acct_1
// (cards.duplicate_detection_off_accounts) one card number posted three
// times makes three cards (201) with one card_fingerprint and one
// pan_alias, each its own network token; the fingerprint filter lists them
// all; the vault API cannot delete the shared alias (409 alias_in_use); a
// reissue of one (tsp simulate) leaves the others their number and alias;
// deleting one leaves the other revealable through the vault API and
// payable through the outbound proxy; after a restart with detection on
// (the default) the number answers 303 to a card made while it was off;
// deleting the last card of the number removes the alias (404). acct_2
// (default) answers 303 throughout.

func TestDuplicateDetectionOffOnBolt(t *testing.T) {
	duplicateDetectionOff(t, nil)
}

func TestDuplicateDetectionOffOnPostgresAndRedis(t *testing.T) {
	duplicateDetectionOff(t, map[string]string{
		"ALIASGATE_VAULT_STORE":        "postgres",
		"ALIASGATE_VAULT_POSTGRES_URL": testPostgresURL(t),
		"ALIASGATE_VAULT_VOLATILE":     "redis",
		"ALIASGATE_VAULT_REDIS_URL":    testRedisURL(),
		"ALIASGATE_VAULT_REDIS_PREFIX": "agtest" + randomHex(6) + ":",
	})
}

func duplicateDetectionOff(t *testing.T, store map[string]string) {
	var mu sync.Mutex
	var paid []string
	psp := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m struct {
			Card struct {
				Number string `json:"number"`
			} `json:"card"`
		}
		json.Unmarshal(b, &m)
		mu.Lock()
		paid = append(paid, m.Card.Number)
		mu.Unlock()
		io.WriteString(w, `{"status":"authorized"}`)
	}))
	defer psp.Close()
	dir := t.TempDir()
	bundle := filepath.Join(dir, "psp.pem")
	os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: psp.Certificate().Raw}), 0o600)
	routesFile := filepath.Join(dir, "routes.yaml")
	os.WriteFile(routesFile, []byte(`routes:
  - id: psp
    direction: outbound
    host: 127.0.0.1
    path_prefix: /
    filters:
      - id: pay
        operation: network_token
        fallback: pan
        targets:
          - {json: card.number, role: card}
          - {json: card.exp_month, role: exp_month}
          - {json: card.exp_year, role: exp_year}
          - {json: card.cryptogram, role: cryptogram}
          - {json: card.eci, role: eci}
`), 0o600)
	data := filepath.Join(dir, "data")
	vars := map[string]string{"ALIASGATE_ROUTES_FILE": routesFile, "ALIASGATE_OUTBOUND_CA_BUNDLE": bundle,
		"ALIASGATE_OUTBOUND_ALLOW_PRIVATE_DESTINATIONS": "true", "ALIASGATE_CARDS_NETWORK_TOKENS": "true",
		"ALIASGATE_ADMIN_TOKEN": adminToken, "ALIASGATE_VAULT_API_ENABLED": "true"}
	for k, v := range store {
		vars[k] = v
	}
	envOn := testEnv(vars)
	vars["ALIASGATE_CARDS_DUPLICATE_DETECTION_OFF_ACCOUNTS"] = "acct_1"
	envOff := testEnv(vars)
	scopes := "cards:read,cards:write,network-tokens:write,aliases:reveal,aliases:write"
	backend := createClient(t, envOff, data, "--name", "backend", "--account", "acct_1", "--outbound")
	shop := createClient(t, envOff, data, "--name", "shop", "--account", "acct_1", "--pci", "--scopes", scopes)
	other := createClient(t, envOff, data, "--name", "other", "--account", "acct_2", "--scopes", scopes)
	caPEM, _, err := runCmd(t, envOff, "ca", "cert", "--data-dir", data)
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, envOff, "--data-dir", data)
	bearer, otherBearer := bearerToken(t, g, shop), bearerToken(t, g, other)

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	type cardAttrs struct {
		PAN         string `json:"pan"`
		PANAlias    string `json:"pan_alias"`
		Fingerprint string `json:"card_fingerprint"`
		Last4       string `json:"last4"`
	}
	const p = "4111111111111111"
	create := func(auth func(*http.Request), number string) (int, string, cardAttrs) {
		t.Helper()
		req, _ := http.NewRequest("POST", g.inbound+"/cards", strings.NewReader(
			`{"data":{"attributes":{"pan":"`+number+`","exp_month":4,"exp_year":2031}}}`))
		req.Header.Set("Content-Type", "application/vnd.api+json")
		auth(req)
		res, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var doc struct {
			Data struct {
				ID         string    `json:"id"`
				Attributes cardAttrs `json:"attributes"`
			} `json:"data"`
		}
		b, _ := io.ReadAll(res.Body)
		if json.Unmarshal(b, &doc) != nil {
			t.Fatalf("create: %d %s", res.StatusCode, b)
		}
		if res.StatusCode == http.StatusSeeOther && res.Header.Get("Location") != "/cards/"+doc.Data.ID {
			t.Fatalf("303 Location %q, data.id %q", res.Header.Get("Location"), doc.Data.ID)
		}
		return res.StatusCode, doc.Data.ID, doc.Data.Attributes
	}
	get := func(id string) (int, cardAttrs, string) {
		t.Helper()
		status, b := call(t, "GET", g.inbound+"/cards/"+id+"?include=network_tokens", "", "", bearer)
		var doc struct {
			Data struct {
				Attributes cardAttrs `json:"attributes"`
			} `json:"data"`
			Included []struct {
				Attributes struct {
					NetworkToken string `json:"network_token"`
				} `json:"attributes"`
			} `json:"included"`
		}
		json.Unmarshal(b, &doc)
		token := ""
		if len(doc.Included) == 1 {
			token = doc.Included[0].Attributes.NetworkToken
		}
		return status, doc.Data.Attributes, token
	}
	revealAlias := func(alias string) int {
		t.Helper()
		status, _ := call(t, "GET", g.inbound+"/aliases/"+alias, "", "", bearer)
		return status
	}
	listByFingerprint := func(fp string) []string {
		t.Helper()
		status, b := call(t, "GET", g.inbound+"/cards?filter%5Bcard_fingerprint%5D="+url.QueryEscape(fp), "", "", bearer)
		var doc struct {
			Data []struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		if status != 200 || json.Unmarshal(b, &doc) != nil {
			t.Fatalf("list: %d %s", status, b)
		}
		var ids []string
		for _, d := range doc.Data {
			ids = append(ids, d.ID)
		}
		return ids
	}

	// Three cards of one number, one fingerprint, one alias, three tokens.
	var ids []string
	var first cardAttrs
	tokens := map[string]bool{}
	for i := range 3 {
		status, id, a := create(bearer, p)
		if status != 201 || a.PAN != p {
			t.Fatalf("create %d with detection off: %d", i, status)
		}
		if i == 0 {
			first = a
		} else if a.Fingerprint != first.Fingerprint || a.PANAlias != first.PANAlias {
			t.Fatalf("card %d: fingerprint or alias differs from the first", i)
		}
		_, _, tok := get(id)
		if tok == "" || tokens[tok] {
			t.Fatalf("card %d: no network token of its own", i)
		}
		tokens[tok] = true
		ids = append(ids, id)
	}
	alias := first.PANAlias
	want := slices.Sorted(slices.Values(ids))
	if got := listByFingerprint(first.Fingerprint); !slices.Equal(got, want) {
		t.Fatalf("fingerprint filter = %v, want %v", got, want)
	}
	if status, body := call(t, "DELETE", g.inbound+"/aliases/"+alias, "", "", bearer); status != 409 || !strings.Contains(string(body), "alias_in_use") {
		t.Fatalf("vault API delete of the shared alias: %d %s", status, body)
	}
	// acct_2 has detection on: 201 then 303.
	if s, _, _ := create(otherBearer, p); s != 201 {
		t.Fatalf("acct_2's card: %d", s)
	}
	if s, _, _ := create(otherBearer, p); s != http.StatusSeeOther {
		t.Fatalf("acct_2's duplicate: %d, want 303", s)
	}

	// The account updater reissues the third card: the other two keep the number and alias.
	out, errOut, err := runCmd(t, envOff, "tsp", "simulate", "card-reissued", "--new-pan", "--account", "acct_1",
		"--card", ids[2], "--admin", g.admin)
	if err != nil {
		t.Fatalf("tsp simulate: %v %s %s", err, out, errOut)
	}
	_, reissued, _ := get(ids[2])
	if reissued.PAN == p || reissued.PANAlias == alias || reissued.Fingerprint == first.Fingerprint {
		t.Fatalf("the reissued card kept its number")
	}
	for _, id := range ids[:2] {
		if status, a, _ := get(id); status != 200 || a.PAN != p || a.PANAlias != alias {
			t.Fatalf("card %s after its sibling's reissue: %d %s", id, status, a.Last4)
		}
	}
	if s := revealAlias(alias); s != 200 {
		t.Fatalf("the old alias after one card's reissue: %d", s)
	}

	// Deleting one card leaves the other's number.
	if s, b := call(t, "DELETE", g.inbound+"/cards/"+ids[0], "", "", bearer); s != 204 {
		t.Fatalf("delete: %d %s", s, b)
	}
	if s := revealAlias(alias); s != 200 {
		t.Fatalf("the alias after deleting one of its cards: %d", s)
	}
	_, _, tok1 := get(ids[1])
	if status, a, _ := get(ids[1]); status != 200 || a.PAN != p {
		t.Fatalf("the other card after the delete: %d", status)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(caPEM))
	proxyURL, _ := url.Parse(g.outbound)
	proxyURL.User = url.UserPassword(backend.ID, backend.Secret)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: pool}}}
	res, err := client.Post(psp.URL+"/charges", "application/json", strings.NewReader(
		`{"card":{"number":"`+alias+`","exp_month":"","exp_year":"","cryptogram":"","eci":""}}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	mu.Lock()
	last := paid[len(paid)-1]
	mu.Unlock()
	if res.StatusCode != 200 || last != tok1 {
		t.Fatalf("payment by the shared alias after a delete: %d; the processor did not get the remaining card's token", res.StatusCode)
	}
	if status, body := call(t, "DELETE", g.inbound+"/aliases/"+alias, "", "", bearer); status != 409 {
		t.Fatalf("vault API delete of the alias the remaining card has: %d %s", status, body)
	}

	// Detection on again (the default): 303 to the card made while it was off; nothing merged.
	g.stop(t)
	g = startGateway(t, envOn, "--data-dir", data)
	bearer = bearerToken(t, g, shop)
	if s, id, _ := create(bearer, p); s != http.StatusSeeOther || id != ids[1] {
		t.Fatalf("detection on, a card made while off: %d %s, want 303 to %s", s, id, ids[1])
	}
	if got := listByFingerprint(first.Fingerprint); !slices.Equal(got, []string{ids[1]}) {
		t.Fatalf("fingerprint filter after the restart = %v", got)
	}
	// The last card of the number: its alias goes with it.
	if s, b := call(t, "DELETE", g.inbound+"/cards/"+ids[1], "", "", bearer); s != 204 {
		t.Fatalf("delete the last card: %d %s", s, b)
	}
	if s := revealAlias(alias); s != 404 {
		t.Fatalf("the alias after deleting its last card: %d, want 404", s)
	}
	if s, _, _ := get(ids[2]); s != 200 {
		t.Fatalf("the reissued card: %d", s)
	}
	g.stop(t)
	if log := g.stderr.String(); strings.Contains(log, p) || strings.Contains(log, reissued.PAN) {
		t.Errorf("the gateway log holds a card number")
	}
}

// TestDuplicateCountWithDetectionOff: the 303 oracle's limits hold with
// duplicate detection off (cards.duplicate_detection: false), where no
// create answers 303: a client guessing a card's middle digits is flagged
// by its misses before the right guess (429, no card made), and a client
// creating a held number again and again is flagged by the duplicate count
// (limits.duplicate_threshold) exactly as with 303s.
func TestDuplicateCountWithDetectionOff(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(map[string]string{"ALIASGATE_LIMITS_ENUMERATION_THRESHOLD": "5", "ALIASGATE_LIMITS_DUPLICATE_THRESHOLD": "3",
		"ALIASGATE_CARDS_DUPLICATE_DETECTION": "false"})
	probe := createClient(t, env, data, "--name", "probe", "--account", "acct_1", "--scopes", "cards:write,cards:read")
	resubmit := createClient(t, env, data, "--name", "resubmit", "--account", "acct_2", "--scopes", "cards:write,cards:read")
	g := startGateway(t, env, "--data-dir", data)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	create := func(auth func(*http.Request), number string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", g.inbound+"/cards", strings.NewReader(
			`{"data":{"attributes":{"pan":"`+number+`","exp_month":4,"exp_year":2031}}}`))
		req.Header.Set("Content-Type", "application/vnd.api+json")
		auth(req)
		res, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode == http.StatusSeeOther {
			t.Fatalf("a 303 with duplicate detection off")
		}
		return res.StatusCode
	}
	count := func(auth func(*http.Request)) int {
		t.Helper()
		status, b := call(t, "GET", g.inbound+"/cards?page%5Bsize%5D=100", "", "", auth)
		var doc struct {
			Data []json.RawMessage `json:"data"`
		}
		if status != 200 || json.Unmarshal(b, &doc) != nil {
			t.Fatalf("list: %d %s", status, b)
		}
		return len(doc.Data)
	}

	probeAuth := bearerToken(t, g, probe)
	guesses := vaulttest.Guesses("400000", "0002", 12)
	if status := create(probeAuth, guesses[8]); status != 201 {
		t.Fatalf("the card: %d", status)
	}
	statuses := map[int]int{}
	for _, guess := range guesses[:9] { // the right guess is the 9th
		statuses[create(probeAuth, guess)]++
	}
	if statuses[201] != 4 || statuses[http.StatusTooManyRequests] != 5 || count(probeAuth) != 5 {
		t.Fatalf("statuses %v, %d cards; want 4 cards made, then 429 (the right guess too, making nothing)", statuses, count(probeAuth))
	}

	resubmitAuth := bearerToken(t, g, resubmit)
	for i := range 5 { // a card, 3 duplicates allowed, the 4th flags
		want := 201
		if i == 4 {
			want = http.StatusTooManyRequests
		}
		if status := create(resubmitAuth, "5105105105105100"); status != want {
			t.Fatalf("resubmission %d: %d, want %d", i, status, want)
		}
	}
	if n := count(resubmitAuth); n != 4 {
		t.Fatalf("cards of the resubmitted number: %d, want 4", n)
	}
}
