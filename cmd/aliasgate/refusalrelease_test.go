package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
	"github.com/aliasgate/aliasgate/vault/boltstore"
)

// A request a route in front of the gateway's own APIs redacted and the
// API then refused leaves nothing of its card data in the vault: the
// aliases the route made are released as those of a create that stores
// no card are (cards releaseCreated), an alias the account held before
// the request excepted.

// refusalReleaseGateway starts a gateway with acct_a's routes in front of
// internal:cards (host cards.a.test) and internal:aliases (host
// vault.a.test), each redacting the card number a client posts, a route
// to nowhere whose leak guard reads bodies whole (host hold.test), and
// clients: acct_a's shop (cards, network tokens), api (aliases:write, aliases:reveal) and
// reader (aliases:reveal only), acct_b's shop. data is its data directory;
// extra adds to its environment.
func refusalReleaseGateway(t *testing.T, extra map[string]string) (g *gatewayProc, data string, shop, api, reader, shopB credential) {
	t.Helper()
	dir := t.TempDir()
	data = filepath.Join(dir, "data")
	routesFile := filepath.Join(dir, "routes.yaml")
	if err := os.WriteFile(routesFile, []byte(`routes:
  - id: cards_a
    direction: inbound
    host: cards.a.test
    path_prefix: /cards
    upstream: internal:cards
    account: acct_a
    filters:
      - {id: redact, operation: redact, targets: [{json: data.attributes.pan_alias, storage: persistent}]}
  - id: vault_a
    direction: inbound
    host: vault.a.test
    path_prefix: /aliases
    upstream: internal:aliases
    account: acct_a
    filters:
      - {id: redact, operation: redact, targets: [{json: data.#.value, storage: persistent}]}
  - id: cards_a_meta
    direction: inbound
    host: cards2.a.test
    path_prefix: /cards
    upstream: internal:cards
    account: acct_a
    filters:
      - {id: redact, operation: redact, targets: [{json: data.attributes.pan_alias, storage: persistent}]}
      - {id: meta, operation: redact, targets: [{json: data.attributes.meta.#.n, storage: persistent}]}
  - id: hold
    direction: inbound
    host: hold.test
    path_prefix: /hold
    upstream: http://127.0.0.1:9
    leak_guard: log
`), 0o600); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{"ALIASGATE_ROUTES_FILE": routesFile, "ALIASGATE_VAULT_API_ENABLED": "true"}
	maps.Copy(vars, extra)
	env := testEnv(vars)
	shop = createClient(t, env, data, "--name", "shop", "--account", "acct_a", "--scopes", "cards:read,cards:write,network-tokens:write")
	api = createClient(t, env, data, "--name", "api", "--account", "acct_a", "--scopes", "aliases:write,aliases:reveal")
	reader = createClient(t, env, data, "--name", "reader", "--account", "acct_a", "--scopes", "aliases:reveal")
	shopB = createClient(t, env, data, "--name", "shop", "--account", "acct_b", "--scopes", "cards:read,cards:write")
	return startGateway(t, env, "--data-dir", data), data, shop, api, reader, shopB
}

// TestRefusedWritesThroughRoutesInFrontOfTheAPIsLeaveNoNumber: a PATCH
// /cards/{id}, a POST /cards and a POST /aliases through acct_a's
// redacting routes that the API refuses (400, 401, 403 for a scope or
// another account's client, 404, 413, 415, 422 for the request or a
// reused Idempotency-Key) leave no alias of the card number they carried:
// acct_a's vault API then holds only the alias it makes itself, and once
// the gateway is stopped its bbolt file holds the records the test knows
// of and no other. An alias of the number acct_a held before the refused
// request is its own and stays. Before, the route's alias of a refused
// PATCH or POST /aliases stayed in the vault for good (no card, no client
// held it).
func TestRefusedWritesThroughRoutesInFrontOfTheAPIsLeaveNoNumber(t *testing.T) {
	const maxBody = 2300 << 10 // over what the vault API reads (2 × 1 MiB + 64 KiB)
	g, data, shop, api, reader, shopB := refusalReleaseGateway(t, map[string]string{"ALIASGATE_LIMITS_MAX_BODY": strconv.Itoa(maxBody)})
	shopBearer := bearerToken(t, g, shop)
	status, body := call(t, "POST", g.inbound+"/cards", jsonAPIType,
		`{"data":{"type":"cards","attributes":{"pan_alias":"4111111111111111","exp_month":4,"exp_year":2031}}}`,
		onHost("cards.a.test", func(r *http.Request) { shopBearer(r); r.Header.Set("Idempotency-Key", "first-card") }))
	id := cardID(t, status, body)
	status, body = call(t, "GET", g.inbound+"/cards/"+id, "", "", shopBearer)
	var card struct {
		Data struct {
			Attributes struct {
				PANAlias string `json:"pan_alias"`
			} `json:"attributes"`
		} `json:"data"`
	}
	if status != 200 || json.Unmarshal(body, &card) != nil || card.Data.Attributes.PANAlias == "" {
		t.Fatalf("read card: %d %s", status, body)
	}
	known := map[string]bool{card.Data.Attributes.PANAlias: true} // the vault's records the test knows of
	// acct_a's aliases of number: its vault API's answer to a create of
	// it in another format lists them all.
	aliasesOf := func(number string) int {
		made := createAlias(t, g, api, number, "FPE_SIX_T_FOUR")
		for _, a := range made {
			known[a] = true
		}
		return len(made)
	}
	patch := func(number string) string {
		return `{"data":{"type":"cards","id":"` + id + `","attributes":{"pan_alias":"` + number + `"}}}`
	}
	create := func(number string) string {
		return `{"data":[{"value":"` + number + `","format":"UUID","storage":"PERSISTENT"}]}`
	}
	withKey := func(auth func(*http.Request), key string) func(*http.Request) {
		return func(r *http.Request) { auth(r); r.Header.Set("Idempotency-Key", key) }
	}
	numbers := []string{"4111111111111111"} // every card number sent
	// grown is a create of number exactly max bytes long.
	grown := func(max int, number string) string {
		doc := func(pad int) string {
			return `{"pad":"` + strings.Repeat("x", pad) + `","data":[{"value":"` + number + `","format":"UUID"}]}`
		}
		return doc(max - len(doc(0)))
	}
	pad := `,"meta":{"pad":"` + strings.Repeat("x", 70<<10) + `"}`
	for _, c := range []struct {
		name, number, method, host, path, ctype, body string
		auth                                          func(*http.Request)
		code                                          int
	}{
		{"PATCH card number", "5555555555554444", "PATCH", "cards.a.test", "/cards/" + id, jsonAPIType, "", shopBearer, 422},
		{"PATCH unknown card", "4012888888881881", "PATCH", "cards.a.test", "/cards/CRDunknownunknownunknown1", jsonAPIType, "", shopBearer, 404},
		{"PATCH without credentials", "4000056655665556", "PATCH", "cards.a.test", "/cards/" + id, jsonAPIType, "", nil, 401},
		{"PATCH by another account's client", "5105105105105100", "PATCH", "cards.a.test", "/cards/" + id, jsonAPIType, "",
			bearerToken(t, g, shopB), 403},
		{"PATCH as text/plain", "4242424242424242", "PATCH", "cards.a.test", "/cards/" + id, "text/plain", "", shopBearer, 415},
		{"PATCH larger than the API reads", "5200828282828210", "PATCH", "cards.a.test", "/cards/" + id, jsonAPIType,
			`{"data":{"type":"cards","id":"` + id + `","attributes":{"pan_alias":"5200828282828210"` + pad + `}}}`, shopBearer, 413},
		{"POST cards reusing an Idempotency-Key", "4000002500003155", "POST", "cards.a.test", "/cards", jsonAPIType,
			`{"data":{"type":"cards","attributes":{"pan_alias":"4000002500003155","exp_month":4,"exp_year":2031}}}`,
			withKey(shopBearer, "first-card"), 422},
		{"POST aliases without credentials", "4000000000003220", "POST", "vault.a.test", "/aliases", "application/json", "", nil, 401},
		{"POST aliases without aliases:write", "4000000000003063", "POST", "vault.a.test", "/aliases", "application/json", "", basicAuth(reader), 403},
		{"POST aliases of an unknown format", "4000000000003238", "POST", "vault.a.test", "/aliases", "application/json",
			`{"data":[{"value":"4000000000003238","format":"NO_SUCH_FORMAT"}]}`, basicAuth(api), 400},
		{"POST aliases as text/plain", "4000000000003246", "POST", "vault.a.test", "/aliases", "text/plain", "", basicAuth(api), 415},
		{"POST aliases larger than the API reads", "4000000000003253", "POST", "vault.a.test", "/aliases", "application/json",
			`{"pad":"` + strings.Repeat("x", 2200<<10) + `","data":[{"value":"4000000000003253","format":"UUID"}]}`, basicAuth(api), 413},
		// The route's second filter refuses (a # target meeting an
		// object: 422 invalid_target) after its first made the alias:
		// the gateway's own refusal, the API never ran.
		{"POST cards the route refuses after its redaction", "4000000000003261", "POST", "cards2.a.test", "/cards", jsonAPIType,
			`{"data":{"type":"cards","attributes":{"pan_alias":"4000000000003261","exp_month":4,"exp_year":2031,"meta":{"k":"v"}}}}`,
			shopBearer, 422},
		// The route's UUID alias makes the body longer than max_body: the
		// gateway's own 413 after the redaction, the API never ran.
		{"POST aliases the route makes longer than max_body", "4000000000003295", "POST", "vault.a.test", "/aliases", "application/json",
			grown(maxBody, "4000000000003295"), basicAuth(api), 413},
		{"PATCH the route refuses after its redaction", "4000000000003279", "PATCH", "cards2.a.test", "/cards/" + id, jsonAPIType,
			`{"data":{"type":"cards","id":"` + id + `","attributes":{"pan_alias":"4000000000003279","meta":{"k":"v"}}}}`,
			shopBearer, 422},
	} {
		t.Run(c.name, func(t *testing.T) {
			doc := c.body
			if doc == "" && c.method == "PATCH" {
				doc = patch(c.number)
			} else if doc == "" {
				doc = create(c.number)
			}
			numbers = append(numbers, c.number)
			status, body := call(t, c.method, g.inbound+c.path, c.ctype, doc, onHost(c.host, c.auth))
			if status != c.code {
				t.Fatalf("refused request: %d %s, want %d", status, body, c.code)
			}
			obstest.AssertNoPAN(t, "refusal", body)
			if n := aliasesOf(c.number); n != 1 {
				t.Fatalf("after the refusal acct_a holds %d aliases of the number, want the 1 its vault API just made", n)
			}
		})
	}
	t.Run("an alias held before stays", func(t *testing.T) {
		const number = "6011111111111117"
		numbers = append(numbers, number)
		mine := createAlias(t, g, api, number, "UUID")[0]
		known[mine] = true
		for _, r := range []struct{ method, host, path, ctype, body string }{
			{"PATCH", "cards.a.test", "/cards/" + id, jsonAPIType, patch(number)},
			{"POST", "vault.a.test", "/aliases", "application/json", create(number)},
		} {
			if status, body := call(t, r.method, g.inbound+r.path, r.ctype, r.body, onHost(r.host, nil)); status != 401 {
				t.Fatalf("%s %s without credentials: %d %s", r.method, r.path, status, body)
			}
		}
		status, body := call(t, "GET", g.inbound+"/aliases/"+mine, "", "", basicAuth(api))
		if status != 200 || !strings.Contains(string(body), number) {
			t.Fatalf("acct_a's own alias made before the refused requests: %d %s", status, body)
		}
	})
	// Every release went: none is counted as failed.
	if _, body := call(t, "GET", g.admin+"/metrics", "", "", nil); !strings.Contains(string(body), "\naliasgate_alias_releases_failed_total 0\n") {
		t.Errorf("metrics after the refused writes: no aliasgate_alias_releases_failed_total 0")
	}
	// The vault file holds the records the test knows of, no other.
	g.stop(t)
	st, err := boltstore.Open(filepath.Join(data, "vault.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.ScanRecords(context.Background(), "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if !known[r.Alias] {
			t.Errorf("the vault file holds a record no card or client holds: %s (%s)", r.Alias, r.Storage)
		}
	}
	if len(recs) != len(known) {
		t.Errorf("the vault file holds %d records, want the %d the test knows of", len(recs), len(known))
	}
	raw, err := os.ReadFile(filepath.Join(data, "vault.db"))
	if err != nil {
		t.Fatal(err)
	}
	// Values are sealed: no number in clear, live or in a freed page (the
	// FPE aliases the test made look like card numbers, so each number
	// is looked for).
	for _, n := range numbers {
		if bytes.Contains(raw, []byte(n)) {
			t.Errorf("the vault file holds card number %s…%s in clear", n[:6], n[len(n)-4:])
		}
	}
}

// TestThrottledWriteThroughARouteLeavesNoNumber: a POST /aliases through
// acct_a's redacting route that the client's rate limit refuses (429)
// leaves no record of the number the route redacted in the vault file, as
// any other refusal: once the gateway is stopped, the file holds the one
// record the client's first create made.
func TestThrottledWriteThroughARouteLeavesNoNumber(t *testing.T) {
	g, data, _, api, _, _ := refusalReleaseGateway(t, map[string]string{
		"ALIASGATE_LIMITS_CLIENT_RATE": "1", "ALIASGATE_LIMITS_CLIENT_BURST": "1"})
	first := createAlias(t, g, api, "hello", "UUID")
	status, body := call(t, "POST", g.inbound+"/aliases", "application/json",
		`{"data":[{"value":"4000000000003287","format":"UUID"}]}`, onHost("vault.a.test", basicAuth(api)))
	if status != http.StatusTooManyRequests {
		t.Fatalf("throttled create through the route: %d %s, want 429", status, body)
	}
	g.stop(t)
	st, err := boltstore.Open(filepath.Join(data, "vault.db"), boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.ScanRecords(context.Background(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Alias != first[0] {
		var got []string
		for _, r := range recs {
			got = append(got, r.Alias)
		}
		t.Fatalf("the vault file holds %v, want only the first create's %v", got, first)
	}
}

// TestWriteThroughARouteRefusedForTheBodyBudgetLeavesNoNumber: a POST
// /cards and a POST /aliases through acct_a's redacting routes that the
// body budget refuses in front of the API (503 gateway_busy: the route's
// request phase held the body, the API's document did not fit beside it)
// leave no alias of the card number the route redacted. Before, the API
// never ran to release it and the proxy's release follows only its own
// request phase's refusals: the alias stayed in the vault for good.
func TestWriteThroughARouteRefusedForTheBodyBudgetLeavesNoNumber(t *testing.T) {
	g, _, shop, api, _, _ := refusalReleaseGateway(t, map[string]string{
		"ALIASGATE_LIMITS_MAX_BODY":              "64KiB",
		"ALIASGATE_LIMITS_MAX_BUFFERED_BYTES":    "256KiB",
		"ALIASGATE_LIMITS_SOURCE_BUFFERED_SHARE": "100",
	})
	shopBearer := bearerToken(t, g, shop)
	pad := `,"pad":"` + strings.Repeat("x", 40000) + `"`
	for _, c := range []struct{ name, number, host, path, ctype, body string }{
		{"POST cards", "4000000000003295", "cards.a.test", "/cards", jsonAPIType,
			`{"data":{"type":"cards","attributes":{"pan_alias":"4000000000003295","exp_month":4,"exp_year":2031}}` + pad + `}`},
		{"POST aliases", "4000000000003303", "vault.a.test", "/aliases", "application/json",
			`{"data":[{"value":"4000000000003303","format":"UUID"}]` + pad + `}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			// Three bodies of 64 KiB announced and not sent hold 192 KiB of
			// the 256: the route's phase reserves the request's 40 KB, the
			// API's document finds no room.
			var holds []net.Conn
			for range 3 {
				conn, err := net.Dial("tcp", strings.TrimPrefix(g.inbound, "http://"))
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				if _, err := fmt.Fprintf(conn, "POST /hold HTTP/1.1\r\nHost: hold.test\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\nx", 64<<10); err != nil {
					t.Fatal(err)
				}
				holds = append(holds, conn)
			}
			waitBudget(t, g, "the held bodies", func(used, _ int64) bool { return used == 3*64<<10 })
			auth := shopBearer
			if c.host == "vault.a.test" {
				auth = basicAuth(api)
			}
			status, body := call(t, "POST", g.inbound+c.path, c.ctype, c.body, onHost(c.host, auth))
			if status != http.StatusServiceUnavailable {
				t.Fatalf("write through the route beside the held bodies: %d %s, want 503", status, body)
			}
			for _, conn := range holds {
				conn.Close()
			}
			waitBudget(t, g, "the bodies given back", func(used, _ int64) bool { return used == 0 })
			if made := createAlias(t, g, api, c.number, "FPE_SIX_T_FOUR"); len(made) != 1 {
				t.Fatalf("after the refusal acct_a holds %d aliases of the number, want the 1 its vault API just made", len(made))
			}
		})
	}
}

// TestProvisionThroughARouteKeepsItsTokenPAN: a POST
// /cards/{id}/network-tokens through acct_a's route in front of the Card
// Management API, whose body the route redacted (the endpoint reads no
// body), provisions the token and keeps its PAN in the vault: the
// cryptogram that follows is made. The alias the route made of the number
// in the body, which nothing took, is released. Before, the release after
// the request took the token PAN's alias the API's own redaction made for
// the route's (both in the request's vault.CreatedAliases) and deleted it:
// the cryptogram answered 409 card_data_gone.
func TestProvisionThroughARouteKeepsItsTokenPAN(t *testing.T) {
	g, _, shop, api, _, _ := refusalReleaseGateway(t, nil)
	shopBearer := bearerToken(t, g, shop)
	status, body := call(t, "POST", g.inbound+"/cards", jsonAPIType,
		`{"data":{"type":"cards","attributes":{"pan_alias":"4111111111111111","exp_month":4,"exp_year":2031}}}`,
		onHost("cards.a.test", shopBearer))
	id := cardID(t, status, body)
	const number = "4000000000003311"
	status, body = call(t, "POST", g.inbound+"/cards/"+id+"/network-tokens", jsonAPIType,
		`{"data":{"attributes":{"pan_alias":"`+number+`"}}}`, onHost("cards.a.test", shopBearer))
	if status != http.StatusOK || !strings.Contains(string(body), `"state":"active"`) {
		t.Fatalf("provision through the route: %d %s", status, body)
	}
	status, body = call(t, "POST", g.inbound+"/cards/"+id+"/cryptogram", jsonAPIType, `{"data":{"attributes":{}}}`,
		onHost("cards.a.test", shopBearer))
	if status != http.StatusOK {
		t.Errorf("cryptogram of the token provisioned through the route: %d %s", status, body)
	}
	if made := createAlias(t, g, api, number, "FPE_SIX_T_FOUR"); len(made) != 1 {
		t.Errorf("after the provision acct_a holds %d aliases of the number its body carried, want the 1 its vault API just made", len(made))
	}
}

// cardID is the id of the card a create answered 201.
func cardID(t *testing.T, status int, body []byte) string {
	t.Helper()
	var doc struct {
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if status != 201 || json.Unmarshal(body, &doc) != nil || doc.Data.ID == "" {
		t.Fatalf("create card: %d %s", status, body)
	}
	return doc.Data.ID
}
