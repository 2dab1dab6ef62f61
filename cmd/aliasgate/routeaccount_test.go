package main

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// An inbound route in front of an in-process API acts for its account
// (account review): its request filters make their aliases there and its
// leak guard judges the answer there. A client of another account sent
// through it is refused (403 account_not_allowed) once authenticated; the
// built-in /cards and /aliases still serve every account.

// routeAccountGateway starts a gateway with routes of acct_a in front of
// internal:cards (host cards.a.test: redacts the raw card number a front
// end posts as pan_alias) and internal:aliases (host vault.a.test:
// leak_guard redact), and clients of acct_a and acct_b.
func routeAccountGateway(t *testing.T) (g *gatewayProc, apiA, apiB, shopA, shopB credential) {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	routesFile := filepath.Join(dir, "routes.yaml")
	os.WriteFile(routesFile, []byte(`routes:
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
    leak_guard: redact
`), 0o600)
	env := testEnv(map[string]string{"ALIASGATE_ROUTES_FILE": routesFile, "ALIASGATE_VAULT_API_ENABLED": "true"})
	apiA = createClient(t, env, data, "--name", "api", "--account", "acct_a", "--scopes", "aliases:write,aliases:reveal")
	apiB = createClient(t, env, data, "--name", "api", "--account", "acct_b", "--scopes", "aliases:write,aliases:reveal")
	shopA = createClient(t, env, data, "--name", "shop", "--account", "acct_a", "--scopes", "cards:read,cards:write")
	shopB = createClient(t, env, data, "--name", "shop", "--account", "acct_b", "--scopes", "cards:read,cards:write")
	return startGateway(t, env, "--data-dir", data), apiA, apiB, shopA, shopB
}

// onHost sends the request to host (a route's) with auth.
func onHost(host string, auth func(*http.Request)) func(*http.Request) {
	return func(r *http.Request) {
		r.Host = host
		if auth != nil {
			auth(r)
		}
	}
}

// createAlias makes an alias of value in format through the built-in
// vault API and returns the answer's aliases (the value's, one per format).
func createAlias(t *testing.T, g *gatewayProc, c credential, value, format string) []string {
	t.Helper()
	status, body := call(t, "POST", g.inbound+"/aliases", "application/json",
		`{"data":[{"value":"`+value+`","format":"`+format+`"}]}`, basicAuth(c))
	var created struct {
		Data []struct {
			Aliases []struct{ Alias, Format string }
		}
	}
	if status != 201 || json.Unmarshal(body, &created) != nil || len(created.Data) != 1 {
		t.Fatalf("create: %d %s", status, body)
	}
	var out []string
	for _, a := range created.Data[0].Aliases {
		out = append(out, a.Alias)
	}
	return out
}

// TestCreateThroughAnotherAccountsRouteLeavesNothingInIt: a client of
// acct_b posting a card number through acct_a's raw-card-data route is
// refused, and the alias the route made is released in acct_a, as for a
// request the guard refuses (401). Before, the create answered 422
// unknown_alias (the alias is acct_a's) and released the route's alias in
// acct_b, where it is no alias: acct_b's card number stayed acct_a's for
// good (acct_a's vault API listed the route's alias among the number's).
func TestCreateThroughAnotherAccountsRouteLeavesNothingInIt(t *testing.T) {
	const number = "4000056655665556"
	g, apiA, _, shopA, shopB := routeAccountGateway(t)
	doc := `{"data":{"type":"cards","attributes":{"pan_alias":"` + number + `","exp_month":4,"exp_year":2031}}}`
	// acct_a's aliases of the number: its vault API's answer to a create
	// of it in another format lists the others.
	aliasesOfA := func() int { return len(createAlias(t, g, apiA, number, "FPE_SIX_T_FOUR")) }

	if status, body := call(t, "POST", g.inbound+"/cards", jsonAPIType, doc, onHost("cards.a.test", nil)); status != 401 {
		t.Fatalf("anonymous create: %d %s", status, body)
	}
	if n := aliasesOfA(); n != 1 {
		t.Fatalf("after a create the guard refused, acct_a holds %d aliases of the number, want its own 1", n)
	}
	status, body := call(t, "POST", g.inbound+"/cards", jsonAPIType, doc, onHost("cards.a.test", bearerToken(t, g, shopB)))
	if status != 403 || !strings.Contains(string(body), "account_not_allowed") || strings.Contains(string(body), number) {
		t.Fatalf("acct_b's create through acct_a's route: %d %s", status, body)
	}
	if n := aliasesOfA(); n != 1 {
		t.Fatalf("after acct_b's create through acct_a's route, acct_a holds %d aliases of acct_b's card number, want its own 1", n)
	}
	// acct_a's client makes its card through the route; acct_b's makes
	// its own through the built-in /cards.
	if status, body = call(t, "POST", g.inbound+"/cards", jsonAPIType, doc, onHost("cards.a.test", bearerToken(t, g, shopA))); status != 201 {
		t.Fatalf("acct_a's create through its route: %d %s", status, body)
	}
	if status, body = call(t, "POST", g.inbound+"/cards", jsonAPIType,
		`{"data":{"type":"cards","attributes":{"pan":"`+number+`","exp_month":4,"exp_year":2031}}}`, bearerToken(t, g, shopB)); status != 201 {
		t.Fatalf("acct_b's create through /cards: %d %s", status, body)
	}
}

// TestAnotherAccountsRouteIsNoOracleOfItsAliases: acct_b's client stores
// two card-like numbers as its own values, one of them an FPE alias of
// acct_a, and reveals them through acct_a's route in front of
// internal:aliases, whose leak guard (redact) judges numbers in acct_a:
// before, the one that is acct_a's alias came back in clear and the other
// masked, telling acct_b which numbers are acct_a's aliases. Now both are
// refused alike, and acct_a's own client is served through its route.
func TestAnotherAccountsRouteIsNoOracleOfItsAliases(t *testing.T) {
	g, apiA, apiB, _, _ := routeAccountGateway(t)
	fpeA := createAlias(t, g, apiA, "4111111111111111", "FPE_SIX_T_FOUR")[0]
	var answers []string
	for _, v := range []string{fpeA, mutate(fpeA)} {
		own := createAlias(t, g, apiB, v, "UUID")[0]
		status, body := call(t, "GET", g.inbound+"/aliases/"+own, "", "", onHost("vault.a.test", basicAuth(apiB)))
		if status != 403 || !strings.Contains(string(body), "account_not_allowed") {
			t.Errorf("acct_b reveals its own value through acct_a's route: %d %s", status, body)
		}
		answers = append(answers, strings.ReplaceAll(string(body), own, "{alias}"))
	}
	if answers[0] != answers[1] {
		t.Errorf("acct_a's alias and another number answer differently: %s and %s", answers[0], answers[1])
	}
	// acct_a's client through its route: served, its FPE alias's value
	// masked by the route's guard; through the built-in /aliases acct_b
	// still reveals its own values.
	status, body := call(t, "GET", g.inbound+"/aliases/"+fpeA, "", "", onHost("vault.a.test", basicAuth(apiA)))
	if status != 200 || strings.Contains(string(body), "4111111111111111") || !strings.Contains(string(body), "411111******1111") {
		t.Fatalf("acct_a reveals through its route: %d %s", status, body)
	}
	own := createAlias(t, g, apiB, fpeA, "UUID")[0]
	if status, body = call(t, "GET", g.inbound+"/aliases/"+own, "", "", basicAuth(apiB)); status != 200 || !strings.Contains(string(body), fpeA) {
		t.Fatalf("acct_b reveals its value through /aliases: %d %s", status, body)
	}
}

// TestAnotherAccountsURLRouteToTheGatewaysAPIIsNoOracle: the same through
// a route of acct_a whose upstream is a URL that reaches the gateway's own
// /aliases (forward_reserved, the gateway's listener: a load balancer in
// front of it or another gateway would do the same), its leak guard
// redact judging the answers in acct_a. Before, acct_b's client got its
// value in clear when it was acct_a's FPE alias and masked otherwise. The
// route sends Aliasgate-Route-Account and /aliases serves acct_a's client
// only; a client sending that header itself only narrows what it gets.
func TestAnotherAccountsURLRouteToTheGatewaysAPIIsNoOracle(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	routesFile := filepath.Join(dir, "routes.yaml")
	os.WriteFile(routesFile, []byte(`routes:
  - id: vault_a
    direction: inbound
    host: vault.a.test
    path_prefix: /aliases
    forward_reserved: [/aliases]
    upstream: http://`+addr+`
    account: acct_a
    leak_guard: redact
`), 0o600)
	env := testEnv(map[string]string{"ALIASGATE_ROUTES_FILE": routesFile, "ALIASGATE_VAULT_API_ENABLED": "true",
		"ALIASGATE_LISTEN_INBOUND": addr})
	apiA := createClient(t, env, data, "--name", "api", "--account", "acct_a", "--scopes", "aliases:write,aliases:reveal")
	apiB := createClient(t, env, data, "--name", "api", "--account", "acct_b", "--scopes", "aliases:write,aliases:reveal")
	g := startGateway(t, env, "--data-dir", data)
	fpeA := createAlias(t, g, apiA, "4111111111111111", "FPE_SIX_T_FOUR")[0]
	var answers []string
	for _, v := range []string{fpeA, mutate(fpeA)} {
		own := createAlias(t, g, apiB, v, "UUID")[0]
		status, body := call(t, "GET", g.inbound+"/aliases/"+own, "", "", onHost("vault.a.test", basicAuth(apiB)))
		if status != 403 || !strings.Contains(string(body), "account_not_allowed") {
			t.Errorf("acct_b reveals its own value through acct_a's URL route: %d %s", status, body)
		}
		answers = append(answers, strings.ReplaceAll(string(body), own, "{alias}"))
	}
	if answers[0] != answers[1] {
		t.Errorf("acct_a's alias and another number answer differently: %s and %s", answers[0], answers[1])
	}
	status, body := call(t, "GET", g.inbound+"/aliases/"+fpeA, "", "", onHost("vault.a.test", basicAuth(apiA)))
	if status != 200 || !strings.Contains(string(body), "411111******1111") {
		t.Fatalf("acct_a reveals through its URL route: %d %s", status, body)
	}
	// The header sent by a client itself: it narrows, never widens.
	own := createAlias(t, g, apiB, "5555555555554444", "UUID")[0]
	if status, body = call(t, "GET", g.inbound+"/aliases/"+own, "", "", func(r *http.Request) {
		basicAuth(apiB)(r)
		r.Header.Set("Aliasgate-Route-Account", "acct_a")
	}); status != 403 {
		t.Fatalf("acct_b naming acct_a's route account itself: %d %s", status, body)
	}
	if status, body = call(t, "GET", g.inbound+"/aliases/"+own, "", "", func(r *http.Request) {
		basicAuth(apiB)(r)
		r.Header.Set("Aliasgate-Route-Account", "acct_b")
	}); status != 200 {
		t.Fatalf("acct_b naming its own account: %d %s", status, body)
	}
	// A balancer may join a chain's lines into one (RFC 9110 5.3):
	// each element is one route's account, none widens.
	for value, want := range map[string]int{"acct_b, acct_b": 200, "acct_b,acct_b ,": 403, "acct_a, acct_b": 403,
		"acct_b, acct_a": 403, "acct_b,": 403} {
		if status, body = call(t, "GET", g.inbound+"/aliases/"+own, "", "", func(r *http.Request) {
			basicAuth(apiB)(r)
			r.Header.Set("Aliasgate-Route-Account", value)
		}); status != want {
			t.Errorf("acct_b with Aliasgate-Route-Account %q: %d, want %d: %s", value, status, want, body)
		}
	}
}

// TestManyRouteAccountValuesCostNoMoreThanTheirBytes: the values of
// Aliasgate-Route-Account a request to /aliases carries (any client may
// send them, before authentication) mark its context in one step. Before,
// each value copied the list of those before it into a context of its own,
// every copy kept alive by the chain: an anonymous request of the default
// max_header_bytes (64 KiB: 2,400 empty values) made the gateway allocate
// and hold about 80 MB, quadratic in the header's size.
func TestManyRouteAccountValuesCostNoMoreThanTheirBytes(t *testing.T) {
	env := testEnv(map[string]string{"ALIASGATE_VAULT_API_ENABLED": "true"})
	g := startGateway(t, env, "--data-dir", filepath.Join(t.TempDir(), "data"))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	status, body := call(t, "GET", g.inbound+"/aliases/tok_none", "", "", func(r *http.Request) {
		r.Header["Aliasgate-Route-Account"] = make([]string, 2400)
	})
	runtime.ReadMemStats(&after)
	if status != 401 {
		t.Fatalf("anonymous request: %d %s", status, body)
	}
	// The test's client and the gateway share this process: both
	// allocations count, a few hundred KiB without the values.
	if n := after.TotalAlloc - before.TotalAlloc; n > 8<<20 {
		t.Errorf("one request with 2,400 Aliasgate-Route-Account values (64 KiB) allocated %d KiB", n>>10)
	}
}

// TestDefaultAccountsURLRouteNamesItsAccount: a route naming no account
// acts for the default one, and its URL upstream (here a balancer in
// front of the gateway's listener) is told so by the default account's
// name, not by an empty Aliasgate-Route-Account. An intermediary may
// drop an empty field value (RFC 9110 §5.6.1 lets a recipient ignore
// empty list elements): before, the balancer forwarded no header at all,
// /aliases served every account through the default account's route, and
// acct_b learnt which numbers are the default account's aliases through
// its leak_guard redact.
func TestDefaultAccountsURLRouteNamesItsAccount(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	target := &url.URL{Scheme: "http", Host: addr}
	balancer := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		for k, vs := range pr.Out.Header {
			vs = slices.DeleteFunc(vs, func(v string) bool { return v == "" })
			if len(vs) == 0 {
				delete(pr.Out.Header, k)
			} else {
				pr.Out.Header[k] = vs
			}
		}
	}})
	defer balancer.Close()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	routesFile := filepath.Join(dir, "routes.yaml")
	os.WriteFile(routesFile, []byte(`routes:
  - id: vault_default
    direction: inbound
    host: vault.default.test
    path_prefix: /aliases
    forward_reserved: [/aliases]
    upstream: `+balancer.URL+`
    leak_guard: redact
`), 0o600)
	env := testEnv(map[string]string{"ALIASGATE_ROUTES_FILE": routesFile, "ALIASGATE_VAULT_API_ENABLED": "true",
		"ALIASGATE_LISTEN_INBOUND": addr, "ALIASGATE_DEFAULT_ACCOUNT": "main"})
	apiMain := createClient(t, env, data, "--name", "api", "--account", "main", "--scopes", "aliases:write,aliases:reveal")
	apiB := createClient(t, env, data, "--name", "api", "--account", "acct_b", "--scopes", "aliases:write,aliases:reveal")
	g := startGateway(t, env, "--data-dir", data)
	fpe := createAlias(t, g, apiMain, "4111111111111111", "FPE_SIX_T_FOUR")[0]
	var answers []string
	for _, v := range []string{fpe, mutate(fpe)} {
		own := createAlias(t, g, apiB, v, "UUID")[0]
		status, body := call(t, "GET", g.inbound+"/aliases/"+own, "", "", onHost("vault.default.test", basicAuth(apiB)))
		if status != 403 || !strings.Contains(string(body), "account_not_allowed") {
			t.Errorf("acct_b reveals its own value through the default account's URL route: %d %s", status, body)
		}
		answers = append(answers, strings.ReplaceAll(string(body), own, "{alias}"))
	}
	if answers[0] != answers[1] {
		t.Errorf("the default account's alias and another number answer differently: %s and %s", answers[0], answers[1])
	}
	status, body := call(t, "GET", g.inbound+"/aliases/"+fpe, "", "", onHost("vault.default.test", basicAuth(apiMain)))
	if status != 200 || !strings.Contains(string(body), "411111******1111") {
		t.Fatalf("the default account's client reveals through its URL route: %d %s", status, body)
	}
}
