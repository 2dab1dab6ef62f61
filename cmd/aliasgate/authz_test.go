package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

// The authorization matrix (review): every endpoint of the Card Management
// API and the vault API, through a real gateway, for every kind of
// credential (Basic, Bearer, none, wrong, revoked, rotated, a token of a
// narrower scope), PCI and not, and another account's resources under every
// spelling of their ids. What must hold: the status the README promises,
// and no answer that carries another account's data or a card number to a
// client that must not see it.

const (
	authzPAN    = "4111111111111111"
	authzOther  = "5555555555554444"
	authzAdmin  = "authz-admin-token-0123456789abcdef"
	jsonAPIType = "application/vnd.api+json"
)

// authzFixture is a gateway with two accounts: acct_a holds a card (with a
// network token) and aliases; the clients of acct_b try to reach them.
type authzFixture struct {
	g   *gatewayProc
	env func(string) string
	// acct_a's resources.
	cardID, cardPANAlias, panAlias, cvcAlias string
	// acct_a's PCI client (every scope) and vault API client.
	pciA, apiA credential
	// acct_b's clients.
	b map[string]credential
}

func newAuthzFixture(t *testing.T) *authzFixture {
	t.Helper()
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(map[string]string{"ALIASGATE_ADMIN_TOKEN": authzAdmin, "ALIASGATE_VAULT_API_ENABLED": "true",
		"ALIASGATE_ADMIN_UI": "true", "ALIASGATE_LIMITS_CLIENT_RATE": "100000", "ALIASGATE_LIMITS_CLIENT_BURST": "100000"})
	f := &authzFixture{env: env, b: map[string]credential{}}
	all := "cards:read,cards:write,network-tokens:write,aliases:write,aliases:reveal"
	f.pciA = createClient(t, env, data, "--name", "pci", "--account", "acct_a", "--scopes", all, "--pci")
	f.apiA = createClient(t, env, data, "--name", "api", "--account", "acct_a", "--scopes", "aliases:write,aliases:reveal")
	for name, flags := range map[string][]string{
		"pci":       {"--scopes", all, "--pci"},
		"plain":     {"--scopes", "cards:read,cards:write,network-tokens:write,aliases:write"},
		"reader":    {"--scopes", "cards:read", "--pci"},
		"writer":    {"--scopes", "aliases:write"},
		"pciNoRev":  {"--scopes", "cards:read,cards:write,network-tokens:write", "--pci"},
		"revoked":   {"--scopes", all, "--pci"},
		"rotated":   {"--scopes", all, "--pci"},
		"outbound":  {"--outbound"},
		"obRevoked": {"--outbound"},
		"obRotated": {"--outbound"},
		"aliasesRW": {"--scopes", "aliases:write,aliases:reveal"},
	} {
		f.b[name] = createClient(t, env, data, append([]string{"--name", name, "--account", "acct_b"}, flags...)...)
	}
	f.g = startGateway(t, env, "--data-dir", data)

	a := bearerToken(t, f.g, f.pciA)
	status, body := call(t, "POST", f.g.inbound+"/aliases", "application/json",
		`{"data":[{"value":"`+authzPAN+`"},{"value":"123","storage":"VOLATILE"}]}`, basicAuth(f.apiA))
	var created struct {
		Data []struct{ Aliases []struct{ Alias string } }
	}
	if status != 201 || json.Unmarshal(body, &created) != nil || len(created.Data) != 2 {
		t.Fatalf("acct_a's aliases: %d %s", status, body)
	}
	f.panAlias, f.cvcAlias = created.Data[0].Aliases[0].Alias, created.Data[1].Aliases[0].Alias
	status, body = call(t, "POST", f.g.inbound+"/cards", jsonAPIType,
		`{"data":{"type":"cards","attributes":{"pan":"`+authzPAN+`","cvc":"321","exp_month":4,"exp_year":2031}}}`, a)
	var card struct {
		Data struct {
			ID         string
			Attributes map[string]any
		}
	}
	if status != 201 || json.Unmarshal(body, &card) != nil || card.Data.Attributes["pan"] != authzPAN {
		t.Fatalf("acct_a's card: %d %s", status, body)
	}
	f.cardID, f.cardPANAlias = card.Data.ID, card.Data.Attributes["pan_alias"].(string)
	if status, body = call(t, "POST", f.g.inbound+"/cards/"+f.cardID+"/network-tokens", jsonAPIType, "", a); status != 200 {
		t.Fatalf("acct_a's network token: %d %s", status, body)
	}
	return f
}

// leaksOf returns what of acct_a's an answer to another account's client
// holds: its card number, CVC, card id or aliases, besides the echo of
// what the request sent (the vault API's error href is the request URL).
func (f *authzFixture) leaksOf(body []byte, sent ...string) []string {
	b := string(body)
	for _, s := range sent {
		b = strings.ReplaceAll(b, s, "")
	}
	var out []string
	for _, s := range []string{authzPAN, `"321"`, `"123"`, f.cardID, f.cardPANAlias, f.panAlias, f.cvcAlias} {
		if strings.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

type authzEndpoint struct {
	name, method, path, ctype, body string
	scope                           string // the scope the endpoint needs ("": none beyond a client)
	basicOK                         bool   // HTTP Basic is accepted (vault API)
}

// endpoints are every endpoint of both APIs, aimed at acct_a's resources:
// id is the card id's spelling, alias the alias's.
func (f *authzFixture) endpoints(id, alias string) []authzEndpoint {
	cardDoc := `{"data":{"type":"cards","attributes":{"pan_alias":"` + alias + `","exp_month":4,"exp_year":2031}}}`
	return []authzEndpoint{
		{"create card from alias", "POST", "/cards", jsonAPIType, cardDoc, "cards:write", false},
		{"list cards", "GET", "/cards?filter%5Blast4%5D=1111", "", "", "cards:read", false},
		{"get card", "GET", "/cards/" + id + "?include=network_tokens,card_updates", "", "", "cards:read", false},
		{"patch card", "PATCH", "/cards/" + id, jsonAPIType, `{"data":{"type":"cards","attributes":{"exp_month":5}}}`, "cards:write", false},
		{"delete card", "DELETE", "/cards/" + id, "", "", "cards:write", false},
		{"provision token", "POST", "/cards/" + id + "/network-tokens", jsonAPIType, "", "network-tokens:write", false},
		{"cryptogram", "POST", "/cards/" + id + "/cryptogram", jsonAPIType, `{"data":{"attributes":{}}}`, "network-tokens:write", false},
		{"delete token", "DELETE", "/cards/" + id + "/network-tokens", "", "", "network-tokens:write", false},
		{"reveal alias", "GET", "/aliases/" + alias, "", "", "aliases:reveal", true},
		{"reveal many", "GET", "/aliases?q=" + alias, "", "", "aliases:reveal", true},
		{"alias of another format", "POST", "/aliases", "application/json", `{"data":[{"alias":"` + alias + `","format":"PFPT"}]}`, "aliases:write", true},
		{"classifiers", "PUT", "/aliases/" + alias, "application/json", `{"data":{"classifiers":["x"]}}`, "aliases:write", true},
		{"delete alias", "DELETE", "/aliases/" + alias, "", "", "aliases:write", true},
		{"batch delete", "POST", "/aliases/delete", "application/json", `{"data":["` + alias + `"]}`, "aliases:write", true},
	}
}

// TestAuthorizationMatrixKeepsAccountsApart: acct_b's clients, with every
// kind of credential and scope set, reach none of acct_a's card, token or
// aliases through any endpoint, and nothing of acct_a's is in any answer;
// bad credentials are 401 everywhere, a missing scope 403, another
// account's resource what a missing one answers.
func TestAuthorizationMatrixKeepsAccountsApart(t *testing.T) {
	f := newAuthzFixture(t)
	g := f.g
	revoked, rotated := f.b["revoked"], f.b["rotated"]
	revokedToken, rotatedToken := bearerToken(t, g, revoked), bearerToken(t, g, rotated)
	revoke(t, f.env, revoked.ID, "--admin", g.admin)
	rotateSecret(t, f.env, rotated.ID, "--admin", g.admin)
	// A token asked for with fewer scopes than the client holds.
	narrow := func(c credential, scope string) func(*http.Request) {
		t.Helper()
		status, body := call(t, "POST", g.inbound+"/oauth/token", "application/x-www-form-urlencoded",
			"grant_type=client_credentials&scope="+url.QueryEscape(scope), basicAuth(c))
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if status != 200 || json.Unmarshal(body, &tok) != nil {
			t.Fatalf("token of scope %q: %d %s", scope, status, body)
		}
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok.AccessToken) }
	}
	bearerOf := func(name string) func(*http.Request) { return bearerToken(t, g, f.b[name]) }

	type who struct {
		name   string
		auth   func(*http.Request)
		basic  bool     // the credential is HTTP Basic
		bad    bool     // every endpoint answers 401
		scopes []string // granted (when not bad)
	}
	all := []string{"cards:read", "cards:write", "network-tokens:write", "aliases:write", "aliases:reveal"}
	whos := []who{
		{"none", nil, false, true, nil},
		{"garbage bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer x.y.z") }, false, true, nil},
		{"wrong secret", basicAuth(credential{ID: f.b["pci"].ID, Secret: "wrong"}), true, true, nil},
		{"unknown client", basicAuth(credential{ID: "cli_nobody", Secret: "x"}), true, true, nil},
		{"revoked basic", basicAuth(revoked), true, true, nil},
		{"revoked token", revokedToken, false, true, nil},
		{"rotated old secret", basicAuth(rotated), true, true, nil},
		{"rotated old token", rotatedToken, false, true, nil},
		{"outbound credentials", basicAuth(f.b["outbound"]), true, true, nil},
		{"admin token as bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+authzAdmin) }, false, true, nil},
		{"pci bearer", bearerOf("pci"), false, false, all},
		{"pci basic", basicAuth(f.b["pci"]), true, false, all},
		{"plain bearer", bearerOf("plain"), false, false, []string{"cards:read", "cards:write", "network-tokens:write", "aliases:write"}},
		{"reader bearer", bearerOf("reader"), false, false, []string{"cards:read"}},
		{"writer basic", basicAuth(f.b["writer"]), true, false, []string{"aliases:write"}},
		{"pci without reveal", bearerOf("pciNoRev"), false, false, []string{"cards:read", "cards:write", "network-tokens:write"}},
		{"aliases client", basicAuth(f.b["aliasesRW"]), true, false, []string{"aliases:write", "aliases:reveal"}},
		{"narrow token", narrow(f.b["pci"], "cards:read"), false, false, []string{"cards:read"}},
	}
	// Failed credentials are charged to their source address (past
	// lockout.DefaultFree it is answered 429: clientlockout_test.go):
	// each bad one is sent from an address of its own, so that the matrix
	// sees the answer to the credential.
	guessers := 0
	for _, w := range whos {
		for _, ep := range f.endpoints(f.cardID, f.panAlias) {
			c := http.DefaultClient
			if w.bad {
				guessers++
				c = loopbackClient(t, fmt.Sprintf("127.0.1.%d", guessers))
			}
			status, _, _, body := lockoutCall(t, c, ep.method, g.inbound+ep.path, ep.ctype, ep.body, w.auth)
			want := 0
			switch {
			case w.bad:
				want = 401
			case w.basic && !ep.basicOK:
				want = 401 // the Card Management API takes Bearer tokens only
			case !contains(w.scopes, ep.scope):
				want = 403
			}
			if want != 0 && status != want {
				t.Errorf("%s: %s %s: %d, want %d: %s", w.name, ep.method, ep.path, status, want, body)
			}
			if want == 0 && status < 400 && ep.name != "list cards" {
				t.Errorf("%s: %s %s reached acct_a's resource: %d %s", w.name, ep.method, ep.path, status, body)
			}
			if l := f.leaksOf(body, g.inbound+ep.path); len(l) > 0 {
				t.Errorf("%s: %s %s: the answer holds acct_a's %v: %d %s", w.name, ep.method, ep.path, l, status, body)
			}
		}
	}
	f.stillIntact(t)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// stillIntact checks that acct_a's card, token and aliases are as made.
func (f *authzFixture) stillIntact(t *testing.T) {
	t.Helper()
	a := bearerToken(t, f.g, f.pciA)
	status, body := call(t, "GET", f.g.inbound+"/cards/"+f.cardID+"?include=network_tokens", "", "", a)
	if status != 200 || !strings.Contains(string(body), authzPAN) || !strings.Contains(string(body), `"exp_month":4`) ||
		!strings.Contains(string(body), `"state":"active"`) {
		t.Fatalf("acct_a's card after acct_b's attempts: %d %s", status, body)
	}
	for _, al := range []string{f.panAlias, f.cvcAlias, f.cardPANAlias} {
		if status, body := call(t, "GET", f.g.inbound+"/aliases/"+al, "", "", basicAuth(f.apiA)); status != 200 || strings.Contains(string(body), `"x"`) {
			t.Fatalf("acct_a's alias after acct_b's attempts: %d %s", status, body)
		}
	}
}

// authzSpellings are ways of writing an id that a lenient router or store
// could take for it.
func authzSpellings(id string) []string {
	var enc strings.Builder
	for _, c := range []byte(id) {
		fmt.Fprintf(&enc, "%%%02X", c)
	}
	return []string{
		id, strings.ToLower(id), strings.ToUpper(id), "%20" + id, id + "%20", id + "%09", id + "/", "/" + id,
		"x/../" + id, "./" + id, "%2E%2E/" + id, enc.String(), id + "%00", id + ";x=1", id + "%2F", id + "%3F",
		"%2F" + id, id + "#x",
	}
}

// TestAnotherAccountsIdsUnderEverySpellingReachNothing: acct_b's clients
// holding every scope send acct_a's card id and aliases spelled every way
// (case, padding, URL-encoding, trailing and double slashes, "..", a
// method override header, HEAD and OPTIONS): nothing succeeds, nothing of
// acct_a's comes back, and acct_a's data is unchanged.
func TestAnotherAccountsIdsUnderEverySpellingReachNothing(t *testing.T) {
	f := newAuthzFixture(t)
	g := f.g
	pciB, aliasesB := bearerToken(t, g, f.b["pci"]), basicAuth(f.b["pci"])
	for _, id := range authzSpellings(f.cardID) {
		for _, ep := range f.endpoints(id, f.panAlias) {
			if ep.basicOK {
				continue // aliases: below
			}
			status, body := call(t, ep.method, g.inbound+ep.path, ep.ctype, ep.body, pciB)
			if (status < 400 && ep.name != "list cards" && ep.name != "create card from alias") || len(f.leaksOf(body, g.inbound+ep.path)) > 0 {
				t.Errorf("acct_b %s %s: %d %s", ep.method, ep.path, status, body)
			}
		}
	}
	for _, alias := range authzSpellings(f.panAlias) {
		for _, ep := range f.endpoints(f.cardID, alias) {
			if !ep.basicOK && ep.name != "create card from alias" {
				continue
			}
			auth := aliasesB
			if !ep.basicOK {
				auth = pciB
			}
			status, body := call(t, ep.method, g.inbound+ep.path, ep.ctype, ep.body, auth)
			// The alias's own spelling may come back in the error's href
			// (the request URL, cleaned): the client sent it.
			if status < 400 || len(f.leaksOf(body, g.inbound+ep.path, f.panAlias)) > 0 {
				t.Errorf("acct_b %s %s: %d %s", ep.method, ep.path, status, body)
			}
		}
	}
	// Method overrides, HEAD and OPTIONS: never a read, a write or a delete
	// of acct_a's card, and never its data.
	for _, m := range []string{"HEAD", "OPTIONS", "TRACE", "CONNECT", "PROPFIND", "get", "Get"} {
		status, body := call(t, m, g.inbound+"/cards/"+f.cardID, "", "", pciB)
		if status < 400 || len(f.leaksOf(body)) > 0 {
			t.Errorf("acct_b %s /cards/{id}: %d %s", m, status, body)
		}
	}
	for _, h := range []string{"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"} {
		for _, m := range []string{"GET", "DELETE", "PATCH"} {
			status, body := call(t, "POST", g.inbound+"/cards/"+f.cardID, jsonAPIType, "",
				func(r *http.Request) { pciB(r); r.Header.Set(h, m) })
			if status < 400 || len(f.leaksOf(body)) > 0 {
				t.Errorf("acct_b POST /cards/{id} with %s: %s: %d %s", h, m, status, body)
			}
		}
	}
	// Within acct_b, a client holding cards:read only cannot write or
	// delete its account's card through an override header or another
	// method either.
	status, body := call(t, "POST", g.inbound+"/cards", jsonAPIType,
		`{"data":{"type":"cards","attributes":{"pan":"`+authzOther+`","exp_month":4,"exp_year":2031}}}`, pciB)
	var card struct{ Data struct{ ID string } }
	if status != 201 || json.Unmarshal(body, &card) != nil {
		t.Fatalf("acct_b's card: %d %s", status, body)
	}
	reader := bearerToken(t, g, f.b["reader"])
	for _, h := range []string{"X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"} {
		for _, m := range []string{"GET", "POST", "DELETE"} {
			call(t, m, g.inbound+"/cards/"+card.Data.ID, jsonAPIType, `{"data":{"type":"cards","attributes":{"exp_month":9}}}`,
				func(r *http.Request) { reader(r); r.Header.Set(h, "DELETE") })
			call(t, m, g.inbound+"/cards/"+card.Data.ID, jsonAPIType, `{"data":{"type":"cards","attributes":{"exp_month":9}}}`,
				func(r *http.Request) { reader(r); r.Header.Set(h, "PATCH") })
		}
	}
	status, body = call(t, "GET", g.inbound+"/cards/"+card.Data.ID, "", "", reader)
	if status != 200 || !strings.Contains(string(body), `"exp_month":4`) {
		t.Fatalf("acct_b's card after a reader's overrides: %d %s", status, body)
	}
	f.stillIntact(t)
}

// TestPCIClientWithoutRevealScopeCannotTurnAnAliasIntoItsValue, through a
// gateway: a PCI client (or a token asked for without aliases:reveal) that
// names a pan_alias or cvc_alias of its own account is refused (403) before
// the vault is asked, the same for a known and an unknown alias, and no
// card is made (a card made from the alias would show the number in clear:
// an alias is not a capability); a client that is not PCI makes the card and
// sees no number; a PCI client with aliases:reveal makes it and sees it.
func TestPCIClientWithoutRevealScopeCannotTurnAnAliasIntoItsValueThroughTheGateway(t *testing.T) {
	f := newAuthzFixture(t)
	g := f.g
	status, body := call(t, "POST", g.inbound+"/aliases", "application/json",
		`{"data":[{"value":"`+authzOther+`"},{"value":"737","storage":"VOLATILE"}]}`, basicAuth(f.b["aliasesRW"]))
	var created struct {
		Data []struct{ Aliases []struct{ Alias string } }
	}
	if status != 201 || json.Unmarshal(body, &created) != nil || len(created.Data) != 2 {
		t.Fatalf("acct_b's aliases: %d %s", status, body)
	}
	panAlias, cvcAlias := created.Data[0].Aliases[0].Alias, created.Data[1].Aliases[0].Alias
	doc := func(pa, ca string) string {
		return `{"data":{"type":"cards","attributes":{"pan_alias":"` + pa + `","cvc_alias":"` + ca + `","exp_month":4,"exp_year":2031}}}`
	}
	status, body = call(t, "POST", g.inbound+"/oauth/token", "application/x-www-form-urlencoded",
		"grant_type=client_credentials&scope="+url.QueryEscape("cards:read cards:write"), basicAuth(f.b["pci"]))
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if status != 200 || json.Unmarshal(body, &tok) != nil {
		t.Fatalf("narrow token: %d %s", status, body)
	}
	narrow := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok.AccessToken) }
	for name, who := range map[string]func(*http.Request){"PCI client without aliases:reveal": bearerToken(t, g, f.b["pciNoRev"]),
		"PCI client's token without aliases:reveal": narrow} {
		for _, d := range []string{doc(panAlias, cvcAlias), doc(panAlias, "tok_sandbox_0000000000000000000000"),
			doc("tok_sandbox_0000000000000000000000", cvcAlias)} {
			status, body := call(t, "POST", g.inbound+"/cards", jsonAPIType, d, who)
			if status != 403 || strings.Contains(string(body), authzOther) || strings.Contains(string(body), "737") {
				t.Errorf("%s: create from aliases: %d %s", name, status, body)
			}
		}
		status, body := call(t, "GET", g.inbound+"/cards", "", "", who)
		if status != 200 || !strings.Contains(string(body), `"data":[]`) {
			t.Errorf("%s: a refused create made a card: %d %s", name, status, body)
		}
	}
	status, body = call(t, "POST", g.inbound+"/cards", jsonAPIType, doc(panAlias, cvcAlias), bearerToken(t, g, f.b["plain"]))
	if status != 201 || strings.Contains(string(body), authzOther) || strings.Contains(string(body), `"737"`) {
		t.Fatalf("non-PCI client: create from aliases: %d %s", status, body)
	}
	status, body = call(t, "POST", g.inbound+"/cards", jsonAPIType, doc(panAlias, cvcAlias), bearerToken(t, g, f.b["pci"]))
	if status != 200 || !strings.Contains(string(body), authzOther) { // the 303 to the card, followed
		t.Fatalf("PCI client with aliases:reveal: create from aliases: %d %s", status, body)
	}
}

// TestBatchDeleteRefusedForOneAliasDeletesNone: POST /aliases/delete with an
// alias that backs a card among others answers 409 alias_in_use naming that
// item (/data/1) and deletes none of them, so the client knows what the
// vault holds: before, the aliases listed before it were gone and the 409
// said nothing of them. A batch without it deletes them all (204), and the
// same batch again answers 404 (none exists).
func TestBatchDeleteRefusedForOneAliasDeletesNone(t *testing.T) {
	f := newAuthzFixture(t)
	g := f.g
	status, body := call(t, "POST", g.inbound+"/aliases", "application/json",
		`{"data":[{"value":"first"},{"value":"second"}]}`, basicAuth(f.apiA))
	var created struct {
		Data []struct{ Aliases []struct{ Alias string } }
	}
	if status != 201 || json.Unmarshal(body, &created) != nil || len(created.Data) != 2 {
		t.Fatalf("aliases: %d %s", status, body)
	}
	a1, a2 := created.Data[0].Aliases[0].Alias, created.Data[1].Aliases[0].Alias
	batch := func(aliases ...string) (int, []byte) {
		return call(t, "POST", g.inbound+"/aliases/delete", "application/json",
			`{"data":["`+strings.Join(aliases, `","`)+`"]}`, basicAuth(f.apiA))
	}
	status, body = batch(a1, f.cardPANAlias, a2)
	if status != 409 || !strings.Contains(string(body), `"code":"alias_in_use"`) ||
		!strings.Contains(string(body), `"pointer":"/data/1"`) || strings.Contains(string(body), `"/data/0"`) {
		t.Fatalf("batch with an alias in use: %d %s", status, body)
	}
	for _, a := range []string{a1, a2, f.cardPANAlias} {
		if status, body := call(t, "GET", g.inbound+"/aliases/"+a, "", "", basicAuth(f.apiA)); status != 200 {
			t.Errorf("alias %s after a refused batch: %d %s", a, status, body)
		}
	}
	if status, body = batch(a1, "tok_sandbox_0000000000000000000000", a2); status != 204 {
		t.Fatalf("batch: %d %s", status, body)
	}
	for _, a := range []string{a1, a2} {
		if status, _ := call(t, "GET", g.inbound+"/aliases/"+a, "", "", basicAuth(f.apiA)); status != 404 {
			t.Errorf("alias after the batch: %d", status)
		}
	}
	if status, body = batch(a1, a2); status != 404 {
		t.Fatalf("the batch again: %d %s", status, body)
	}
	f.stillIntact(t)
}

// TestWriteOnlyTokenOfAPCIClientReadsNoCardInClear: a PCI client's token
// asked for with cards:write and network-tokens:write (least privilege for a
// job that updates expiries or provisions tokens) gets no clear pan, cvc or
// token PAN in the answers of PATCH and provisioning; its full token does.
func TestWriteOnlyTokenOfAPCIClientReadsNoCardInClear(t *testing.T) {
	f := newAuthzFixture(t)
	g := f.g
	status, body := call(t, "POST", g.inbound+"/oauth/token", "application/x-www-form-urlencoded",
		"grant_type=client_credentials&scope="+url.QueryEscape("cards:write network-tokens:write"), basicAuth(f.pciA))
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if status != 200 || json.Unmarshal(body, &tok) != nil {
		t.Fatalf("write-only token: %d %s", status, body)
	}
	writeOnly := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok.AccessToken) }
	patch := `{"data":{"type":"cards","id":"` + f.cardID + `","attributes":{"exp_month":6}}}`
	for _, c := range []struct{ method, path, body string }{
		{"PATCH", "/cards/" + f.cardID, patch},
		{"POST", "/cards/" + f.cardID + "/network-tokens", ""},
	} {
		status, body := call(t, c.method, g.inbound+c.path, jsonAPIType, c.body, writeOnly)
		if status != 200 || strings.Contains(string(body), authzPAN) || strings.Contains(string(body), `"cvc":`) ||
			strings.Contains(string(body), `"network_token":"`) {
			t.Errorf("write-only token: %s %s: %d %s", c.method, c.path, status, body)
		}
		status, body = call(t, c.method, g.inbound+c.path, jsonAPIType, c.body, bearerToken(t, g, f.pciA))
		if status != 200 || !strings.Contains(string(body), `"network_token":"`) && !strings.Contains(string(body), authzPAN) {
			t.Errorf("full token: %s %s: %d %s", c.method, c.path, status, body)
		}
	}
}

// TestAdminListenerTakesTheAdminTokenOnly: every endpoint of the admin
// listener and the inspector's API refuses (401, or 429 once the address
// is locked out) no credential, an API client's token or Basic credentials,
// the admin token under Basic, and near-misses of it (a prefix, a suffix,
// padding); a client's secret never opens it. Read before the refusals (the
// lockout would hold the right token off too): the right token works.
func TestAdminListenerTakesTheAdminTokenOnly(t *testing.T) {
	f := newAuthzFixture(t)
	g := f.g
	eps := []struct{ method, path, body string }{
		{"GET", "/admin/clients", ""},
		{"POST", "/admin/clients/" + f.pciA.ID + "/revoke", ""},
		{"POST", "/admin/clients/" + f.pciA.ID + "/rotate-secret", ""},
		{"GET", "/admin/keys/status", ""},
		{"POST", "/admin/keys/rotate", ""},
		{"POST", "/admin/tsp/simulate", `{"event":"token-suspended","account":"acct_a","card":"` + f.cardID + `"}`},
		{"GET", "/admin/webhooks/deliveries", ""},
		{"GET", "/ui/api/captures", ""},
		{"GET", "/ui/api/routes", ""},
		{"POST", "/ui/api/apply", `{"routes":[]}`},
	}
	admin := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	if status, body := call(t, "GET", g.admin+"/admin/clients", "", "", admin(authzAdmin)); status != 200 {
		t.Fatalf("the admin token: %d %s", status, body)
	}
	bads := map[string]func(*http.Request){
		"none":                nil,
		"API client's token":  bearerToken(t, g, f.pciA),
		"API client's Basic":  basicAuth(f.pciA),
		"admin token, Basic":  func(r *http.Request) { r.SetBasicAuth("admin", authzAdmin) },
		"admin token prefix":  admin(authzAdmin[:len(authzAdmin)-1]),
		"admin token suffix":  admin(authzAdmin + "x"),
		"admin token spaced":  admin(authzAdmin + " x"),
		"admin token twice":   admin(authzAdmin + "," + authzAdmin),
		"empty bearer":        admin(""),
		"client secret":       admin(f.pciA.Secret),
		"admin token in url?": nil,
	}
	for name, who := range bads {
		for _, ep := range eps {
			u := g.admin + ep.path
			if name == "admin token in url?" {
				u += "?token=" + authzAdmin + "&access_token=" + authzAdmin
			}
			status, body := call(t, ep.method, u, "application/json", ep.body, who)
			if status != 401 && status != 429 {
				t.Errorf("%s: %s %s: %d %s", name, ep.method, ep.path, status, body)
			}
		}
	}
	f.stillIntact(t)
}

// TestOutboundProxyTakesOutboundCredentialsOnly: the outbound proxy refuses
// (407) an API client's id and secret, a wrong secret, an unknown client,
// the admin token and a revoked or rotated outbound client; an outbound
// client's credentials pass the check (the request then meets the default
// deny, 403).
func TestOutboundProxyTakesOutboundCredentialsOnly(t *testing.T) {
	f := newAuthzFixture(t)
	g := f.g
	ob := f.b["outbound"]
	if s := proxyStatus(t, g, ob); s != http.StatusForbidden {
		t.Fatalf("outbound client: %d, want 403 (no route)", s)
	}
	rotated, revoked := f.b["obRotated"], f.b["obRevoked"]
	newSecret := rotateSecret(t, f.env, rotated.ID, "--admin", g.admin)
	revoke(t, f.env, revoked.ID, "--admin", g.admin)
	for name, c := range map[string]credential{
		"API client":        f.b["pci"],
		"wrong secret":      {ID: ob.ID, Secret: ob.Secret + "x"},
		"unknown client":    {ID: "cli_nobody", Secret: ob.Secret},
		"admin token":       {ID: "admin", Secret: authzAdmin},
		"rotated old":       rotated,
		"revoked":           revoked,
		"another's secret":  {ID: ob.ID, Secret: f.b["pci"].Secret},
		"empty secret":      {ID: ob.ID},
		"padded id":         {ID: " " + ob.ID, Secret: ob.Secret},
		"upper-cased id":    {ID: strings.ToUpper(ob.ID), Secret: ob.Secret},
		"secret with space": {ID: ob.ID, Secret: ob.Secret + " "},
	} {
		if s := proxyStatus(t, g, c); s != http.StatusProxyAuthRequired {
			t.Errorf("%s: %d, want 407", name, s)
		}
	}
	// Nor do outbound credentials get an access token for the APIs.
	for _, c := range []credential{ob, newSecret} {
		if s := tokenStatus(t, g, c); s != http.StatusUnauthorized {
			t.Errorf("token for an outbound client: %d, want 401", s)
		}
	}
	if s := proxyStatus(t, g, newSecret); s != http.StatusForbidden {
		t.Errorf("rotated client's new secret: %d, want 403 (no route)", s)
	}
}

// TestRouteCannotRevealInTheAnswersOfTheInternalAPIs: an inbound route in
// front of internal:cards with a response reveal of pan_alias showed the
// card number to a client without --pci (GET /cards/{id}); such a route is
// refused by routes validate and serve does not start with it.
func TestRouteCannotRevealInTheAnswersOfTheInternalAPIs(t *testing.T) {
	dir := t.TempDir()
	rf := writeIn(t, dir, "routes.yaml", []byte(`routes:
  - id: cards-shown
    direction: inbound
    host: "*"
    path_prefix: /cards
    upstream: internal:cards
    filters:
      - {id: show, phase: response, operation: reveal, on_error: pass, targets: [{json: data.attributes.pan_alias}]}
`))
	env := testEnv(map[string]string{"ALIASGATE_ROUTES_FILE": rf})
	if _, errOut, err := runCmd(t, env, "routes", "validate", rf); err == nil || !strings.Contains(errOut+err.Error(), "reveal in the answers of internal:cards is refused") {
		t.Fatalf("routes validate: %v %s", err, errOut)
	}
	data := filepath.Join(dir, "data")
	createClient(t, env, data, "--name", "plain", "--account", "acct_1", "--scopes", "cards:read")
	err := run(t.Context(), []string{"serve", "--data-dir", data}, env, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "reveal in the answers of internal:cards is refused") {
		t.Fatalf("serve with the route: %v", err)
	}
}

// TestClearCardDataOnlyForPCIClientsHoldingCardsRead: within one account,
// every answer of the Card Management API carries pan, cvc and the token
// PAN exactly when the client is --pci and its token holds cards:read, and
// a list never does.
func TestClearCardDataOnlyForPCIClientsHoldingCardsRead(t *testing.T) {
	f := newAuthzFixture(t)
	g := f.g
	pci := bearerToken(t, g, f.b["pci"])
	status, body := call(t, "POST", g.inbound+"/cards", jsonAPIType,
		`{"data":{"type":"cards","attributes":{"pan":"`+authzOther+`","cvc":"737","exp_month":4,"exp_year":2031}}}`, pci)
	var card struct{ Data struct{ ID string } }
	if status != 201 || json.Unmarshal(body, &card) != nil {
		t.Fatalf("acct_b's card: %d %s", status, body)
	}
	id := card.Data.ID
	if status, body = call(t, "POST", g.inbound+"/cards/"+id+"/network-tokens", jsonAPIType, "", pci); status != 200 {
		t.Fatalf("token: %d %s", status, body)
	}
	clear := func(b []byte) bool {
		return strings.Contains(string(b), authzOther) || strings.Contains(string(b), `"737"`) ||
			strings.Contains(string(b), `"network_token":"`)
	}
	for _, c := range []struct {
		name      string
		who       func(*http.Request)
		wantClear bool
	}{
		{"PCI, every scope", pci, true},
		{"PCI, cards:read only", bearerToken(t, g, f.b["reader"]), true},
		{"PCI without aliases:reveal", bearerToken(t, g, f.b["pciNoRev"]), true},
		{"not PCI", bearerToken(t, g, f.b["plain"]), false},
	} {
		for _, r := range []struct{ method, path, body string }{
			{"GET", "/cards/" + id + "?include=network_tokens,card_updates", ""},
			{"PATCH", "/cards/" + id, `{"data":{"type":"cards","id":"` + id + `","attributes":{"meta":{"k":"v"}}}}`},
			{"POST", "/cards/" + id + "/network-tokens", ""},
		} {
			status, body := call(t, r.method, g.inbound+r.path, jsonAPIType, r.body, c.who)
			if status == 403 {
				continue // a scope the client lacks
			}
			if status != 200 || clear(body) != c.wantClear {
				t.Errorf("%s: %s %s: %d, clear data %v, want %v: %s", c.name, r.method, r.path, status, clear(body), c.wantClear, body)
			}
		}
		status, body := call(t, "GET", g.inbound+"/cards?include=network_tokens", "", "", c.who)
		if status == 400 {
			status, body = call(t, "GET", g.inbound+"/cards", "", "", c.who)
		}
		if status != 200 || clear(body) {
			t.Errorf("%s: list: %d %s", c.name, status, body)
		}
	}
}
