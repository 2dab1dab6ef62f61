package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"github.com/aliasgate/aliasgate/internal/pan"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The cross-account matrix (issue 18): two accounts on one gateway, every
// way of reaching a record through an alias tried by the other account
// through the real listeners (vault API, Card Management API, the inbound
// and the outbound proxy), on the embedded bbolt vault and on PostgreSQL
// with Redis. Outside its account an alias answers exactly what an alias
// that does not exist answers (status and body), after the same vault
// work (the store operations counted by aliasgate_vault_operations_total);
// inside, everything still works.

func TestCrossAccountMatrixOnBolt(t *testing.T) {
	crossAccountMatrix(t, nil)
}

func TestCrossAccountMatrixOnPostgresAndRedis(t *testing.T) {
	crossAccountMatrix(t, map[string]string{
		"ALIASGATE_VAULT_STORE":        "postgres",
		"ALIASGATE_VAULT_POSTGRES_URL": testPostgresURL(t),
		"ALIASGATE_VAULT_VOLATILE":     "redis",
		"ALIASGATE_VAULT_REDIS_URL":    testRedisURL(),
		"ALIASGATE_VAULT_REDIS_PREFIX": "agtest" + randomHex(6) + ":",
	})
}

// recorder is an upstream that keeps the bodies it receives and answers
// with reply.
type recorder struct {
	*httptest.Server
	mu    sync.Mutex
	got   []string
	reply string
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{reply: `{"ok":true}`}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, string(b))
		reply := r.reply
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, reply)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) bodies() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

func (r *recorder) setReply(s string) {
	r.mu.Lock()
	r.reply = s
	r.mu.Unlock()
}

// vaultOps sums aliasgate_vault_operations_total: every store operation
// the vault made.
func vaultOps(t *testing.T, g *gatewayProc) float64 {
	t.Helper()
	_, body := call(t, "GET", g.admin+"/metrics", "", "", nil)
	var sum float64
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "aliasgate_vault_operations_total{") {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// sameAsMissing calls do with a foreign alias and with one that does not
// exist, and fails unless both answer the same status and body after the
// same number of vault store operations. It returns the status.
func sameAsMissing(t *testing.T, g *gatewayProc, what string, do func(alias string) (int, []byte), foreign, missing string) int {
	t.Helper()
	before := vaultOps(t, g)
	fs, fb := do(foreign)
	mid := vaultOps(t, g)
	ms, mb := do(missing)
	after := vaultOps(t, g)
	// The vault API's error documents carry the request URL (href), which
	// names the alias asked for: compare the bodies with it blanked.
	fb = bytes.ReplaceAll(fb, []byte(foreign), []byte("{alias}"))
	mb = bytes.ReplaceAll(mb, []byte(missing), []byte("{alias}"))
	if fs != ms || !bytes.Equal(fb, mb) {
		t.Errorf("%s: a foreign alias answers %d %s, a missing one %d %s", what, fs, fb, ms, mb)
	}
	if mid-before != after-mid {
		t.Errorf("%s: a foreign alias cost %v vault store operations, a missing one %v", what, mid-before, after-mid)
	}
	if fs < 400 {
		t.Errorf("%s: a foreign alias answered %d", what, fs)
	}
	return fs
}

// mutate returns alias with its last character changed: an alias of the
// same shape that does not exist.
//
// A Luhn-valid alias (an FPE alias) stays Luhn-valid with the same first
// 6 and last 4 digits (two of the masked middle digits changed): answers
// mask Luhn-valid runs to first 6 and last 4 in what they echo, and the
// foreign and the missing alias must be masked alike. Every middle of two
// or more digits has such a change (the first digit changed, the second
// set to the one value that restores the sum); the fixed ±1 of an earlier
// version found none when the digits it tried were all 9 or all 0, and
// the test then compared a masked alias with an unmasked one.
func mutate(alias string) string {
	if pan.Valid(alias) && len(alias) >= 13 {
		b := []byte(alias)
		for i := 6; i < len(b)-4; i++ {
			for j := 6; j < len(b)-4; j++ {
				if i == j {
					continue
				}
				orig := b[i]
				b[i] = '0' + (orig-'0'+1)%10
				for d := byte('0'); d <= '9'; d++ {
					origJ := b[j]
					b[j] = d
					if pan.Valid(string(b)) {
						return string(b)
					}
					b[j] = origJ
				}
				b[i] = orig
			}
		}
	}
	last := alias[len(alias)-1]
	repl := byte('2')
	if last == '2' {
		repl = '3'
	}
	return alias[:len(alias)-1] + string(repl)
}

type accountClients struct {
	api, pci, plain, out credential
}

func crossAccountMatrix(t *testing.T, extra map[string]string) {
	const pan1, pan2 = "4111111111111111", "5555555555554444"
	psp := newRecorder(t)
	shop := newRecorder(t)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	routesFile := filepath.Join(dir, "routes.yaml")
	inbound := func(id, prefix, acct string) string {
		return `  - id: ` + id + `
    direction: inbound
    host: "*"
    path_prefix: ` + prefix + `
    upstream: ` + shop.URL + `
    account: ` + acct + `
    leak_guard: "off"
    filters:
      - {id: redact, operation: redact, targets: [{json: pan}]}
      - {id: reveal, phase: response, operation: reveal, on_error: pass, targets: [{json: shown}]}
`
	}
	os.WriteFile(routesFile, []byte("routes:\n"+inbound("shop_a", "/shop-a", "acct_a")+inbound("shop_b", "/shop-b", "acct_b")+`  - id: psp
    direction: outbound
    host: 127.0.0.1
    unsafe_reveal_over_plain_http: true # the processor stand-in speaks plain HTTP
    filters:
      - {id: reveal, operation: reveal, targets: [{json: card.number}, {json: card.cvc}]}
`), 0o600)
	vars := map[string]string{"ALIASGATE_ROUTES_FILE": routesFile, "ALIASGATE_OUTBOUND_ALLOW_PRIVATE_DESTINATIONS": "true"}
	for k, v := range extra {
		vars[k] = v
	}
	env := testEnv(vars)
	clients := map[string]accountClients{}
	for _, acct := range []string{"acct_a", "acct_b"} {
		clients[acct] = accountClients{
			api:   createClient(t, env, data, "--name", "api", "--account", acct, "--scopes", "aliases:write,aliases:reveal"),
			pci:   createClient(t, env, data, "--name", "pci", "--account", acct, "--scopes", "cards:write,cards:read,network-tokens:write,aliases:reveal", "--pci"),
			plain: createClient(t, env, data, "--name", "plain", "--account", acct, "--scopes", "cards:write,cards:read,network-tokens:write"),
			out:   createClient(t, env, data, "--name", "backend", "--account", acct, "--outbound"),
		}
	}
	g := startGateway(t, env, "--data-dir", data, "--enable-vault-api")
	A, B := clients["acct_a"], clients["acct_b"]
	basic := func(c credential) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth(c.ID, c.Secret) }
	}

	type created struct {
		Data []struct {
			Aliases []struct{ Alias, Format string }
		}
	}
	create := func(c credential, items string) []string {
		t.Helper()
		status, body := call(t, "POST", g.inbound+"/aliases", "application/json", `{"data":[`+items+`]}`, basic(c))
		var doc created
		if status != 201 || json.Unmarshal(body, &doc) != nil {
			t.Fatalf("create: %d %s", status, body)
		}
		var out []string
		for _, d := range doc.Data {
			out = append(out, d.Aliases[0].Alias)
		}
		return out
	}
	items := `{"value":"` + pan1 + `","format":"FPE_SIX_T_FOUR"},{"value":"` + pan1 + `"},{"value":"123","storage":"VOLATILE"}`
	ownA := create(A.api, items)
	fpeA, uuidA, cvcA := ownA[0], ownA[1], ownA[2]
	ownB := create(B.api, items)
	fpeB, uuidB := ownB[0], ownB[1]

	// Deterministic per account: the same PAN has unrelated aliases in two
	// accounts, and the same ones again within an account.
	if fpeA == fpeB || uuidA == uuidB {
		t.Fatalf("one PAN has one alias in two accounts: %v %v", ownA, ownB)
	}
	if again := create(A.api, items); again[0] != fpeA || again[1] != uuidA {
		t.Fatalf("acct_a's aliases changed: %v then %v", ownA, again)
	}

	// The vault API: GET, PUT, DELETE, ?q= and a create naming an alias.
	bAPI := basic(B.api)
	for _, foreign := range []string{fpeA, uuidA, cvcA} {
		missing := mutate(foreign)
		sameAsMissing(t, g, "GET /aliases/{alias}", func(a string) (int, []byte) {
			return call(t, "GET", g.inbound+"/aliases/"+a, "", "", bAPI)
		}, foreign, missing)
		sameAsMissing(t, g, "PUT /aliases/{alias}", func(a string) (int, []byte) {
			return call(t, "PUT", g.inbound+"/aliases/"+a, "application/json", `{"data":{"classifiers":["stolen"]}}`, bAPI)
		}, foreign, missing)
		sameAsMissing(t, g, "DELETE /aliases/{alias}", func(a string) (int, []byte) {
			return call(t, "DELETE", g.inbound+"/aliases/"+a, "", "", bAPI)
		}, foreign, missing)
		sameAsMissing(t, g, "GET /aliases?q=", func(a string) (int, []byte) {
			return call(t, "GET", g.inbound+"/aliases?q="+a, "", "", bAPI)
		}, foreign, missing)
		sameAsMissing(t, g, "POST /aliases/delete", func(a string) (int, []byte) {
			return call(t, "POST", g.inbound+"/aliases/delete", "application/json", `{"data":["`+a+`"]}`, bAPI)
		}, foreign, missing)
	}
	sameAsMissing(t, g, "POST /aliases naming an alias", func(a string) (int, []byte) {
		return call(t, "POST", g.inbound+"/aliases", "application/json", `{"data":[{"alias":"`+a+`","format":"PFPT"}]}`, bAPI)
	}, uuidA, mutate(uuidA))
	// ?q= mixing own and foreign aliases answers the own ones only.
	status, body := call(t, "GET", g.inbound+"/aliases?q="+uuidB+","+uuidA+","+fpeA, "", "", bAPI)
	var many struct{ Data map[string]json.RawMessage }
	if status != 200 || json.Unmarshal(body, &many) != nil || len(many.Data) != 1 || many.Data[uuidB] == nil {
		t.Fatalf("?q= own and foreign: %d %s", status, body)
	}
	// acct_a still has everything, untouched by the attempts.
	status, body = call(t, "GET", g.inbound+"/aliases/"+fpeA, "", "", basic(A.api))
	if status != 200 || !strings.Contains(string(body), pan1) || strings.Contains(string(body), "stolen") {
		t.Fatalf("acct_a's alias after acct_b's attempts: %d %s", status, body)
	}
	if status, body = call(t, "GET", g.inbound+"/aliases/"+cvcA, "", "", basic(A.api)); status != 200 {
		t.Fatalf("acct_a's volatile alias after acct_b's attempts: %d %s", status, body)
	}

	// The Card Management API: a card from acct_a's aliases is acct_a's
	// only; acct_b cannot make one from them (PCI or not), nor reach
	// acct_a's card, its network token or a cryptogram.
	aPCI, bPCI, bPlain, aPlain := bearerToken(t, g, A.pci), bearerToken(t, g, B.pci), bearerToken(t, g, B.plain), bearerToken(t, g, A.plain)
	const jsonAPI = "application/vnd.api+json"
	cardDoc := func(panAlias, cvcAlias string) string {
		return `{"data":{"type":"cards","attributes":{"pan_alias":"` + panAlias + `","cvc_alias":"` + cvcAlias + `","exp_month":4,"exp_year":2031}}}`
	}
	for _, who := range []func(*http.Request){bPCI, bPlain} {
		sameAsMissing(t, g, "POST /cards with acct_a's aliases", func(a string) (int, []byte) {
			return call(t, "POST", g.inbound+"/cards", jsonAPI, cardDoc(a, a), who)
		}, uuidA, mutate(uuidA))
		status, body = call(t, "POST", g.inbound+"/cards", jsonAPI, cardDoc(uuidA, cvcA), who)
		if status != 422 || strings.Contains(string(body), pan1) || strings.Contains(string(body), `"123"`) {
			t.Fatalf("acct_b's card from acct_a's aliases: %d %s", status, body)
		}
	}
	status, body = call(t, "POST", g.inbound+"/cards", jsonAPI, cardDoc(uuidA, cvcA), aPCI)
	var card struct {
		Data struct {
			ID         string
			Attributes map[string]any
		}
	}
	if status != 201 || json.Unmarshal(body, &card) != nil || card.Data.Attributes["pan"] != pan1 || card.Data.Attributes["cvc"] != "123" {
		t.Fatalf("acct_a's card from its aliases: %d %s", status, body)
	}
	cardID, cardPANAlias := card.Data.ID, card.Data.Attributes["pan_alias"].(string)
	for _, p := range []struct{ method, path, body string }{
		{"GET", "/cards/" + cardID, ""},
		{"POST", "/cards/" + cardID + "/network-tokens", ""},
		{"POST", "/cards/" + cardID + "/cryptogram", `{"data":{"attributes":{}}}`},
	} {
		for _, who := range []func(*http.Request){bPCI, bPlain} {
			if status, body = call(t, p.method, g.inbound+p.path, jsonAPI, p.body, who); status != 404 || strings.Contains(string(body), pan1) {
				t.Errorf("acct_b %s %s of acct_a's card: %d %s", p.method, p.path, status, body)
			}
		}
	}
	// Within acct_a: a network token and a cryptogram.
	if status, body = call(t, "POST", g.inbound+"/cards/"+cardID+"/network-tokens", jsonAPI, "", aPlain); status != 200 && status != 201 {
		t.Fatalf("acct_a's network token: %d %s", status, body)
	}
	if status, body = call(t, "POST", g.inbound+"/cards/"+cardID+"/cryptogram", jsonAPI, `{"data":{"attributes":{}}}`, aPlain); status != 200 && status != 201 {
		t.Fatalf("acct_a's cryptogram: %d %s", status, body)
	}
	// The alias behind acct_a's card cannot be deleted out from under it;
	// acct_b's delete of it is a 404 like any foreign alias.
	status, body = call(t, "DELETE", g.inbound+"/aliases/"+cardPANAlias, "", "", basic(A.api))
	if status != 409 || !strings.Contains(string(body), "alias_in_use") {
		t.Fatalf("delete of the card's PAN alias: %d %s", status, body)
	}
	sameAsMissing(t, g, "DELETE of acct_a's card alias by acct_b", func(a string) (int, []byte) {
		return call(t, "DELETE", g.inbound+"/aliases/"+a, "", "", bAPI)
	}, cardPANAlias, mutate(cardPANAlias))
	if status, body = call(t, "GET", g.inbound+"/cards/"+cardID, "", "", aPCI); status != 200 || !strings.Contains(string(body), pan1) {
		t.Fatalf("acct_a's card after the refused deletes: %d %s", status, body)
	}
	// An alias that backs no card deletes as before.
	if status, body = call(t, "DELETE", g.inbound+"/aliases/"+fpeA, "", "", basic(A.api)); status != 204 {
		t.Fatalf("acct_a deletes its own alias: %d %s", status, body)
	}

	// The outbound proxy: a client's reveals reach its own account only.
	outbound := func(c credential, doc string) (int, []byte) {
		proxyURL, _ := url.Parse(g.outbound)
		proxyURL.User = url.UserPassword(c.ID, c.Secret)
		client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}}
		res, err := client.Post(psp.URL+"/charges", "application/json", strings.NewReader(doc))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	sent := len(psp.bodies())
	sameAsMissing(t, g, "outbound reveal", func(a string) (int, []byte) {
		return outbound(B.out, `{"card":{"number":"`+a+`"}}`)
	}, uuidA, mutate(uuidA))
	sameAsMissing(t, g, "outbound reveal of a volatile alias", func(a string) (int, []byte) {
		return outbound(B.out, `{"card":{"number":"`+uuidB+`","cvc":"`+a+`"}}`)
	}, cvcA, mutate(cvcA))
	if n := len(psp.bodies()); n != sent {
		t.Fatalf("refused outbound requests reached the processor (%d)", n-sent)
	}
	if status, body = outbound(A.out, `{"card":{"number":"`+uuidA+`","cvc":"`+cvcA+`"}}`); status != 200 {
		t.Fatalf("acct_a's outbound reveal: %d %s", status, body)
	}
	if got := psp.bodies(); got[len(got)-1] != `{"card":{"number":"`+pan1+`","cvc":"123"}}` {
		t.Fatalf("processor got %q", got[len(got)-1])
	}
	if status, body = outbound(B.out, `{"card":{"number":"`+uuidB+`"}}`); status != 200 {
		t.Fatalf("acct_b's outbound reveal of its own alias: %d %s", status, body)
	}

	// The inbound proxy: a route acts for its account.
	if status, body = call(t, "POST", g.inbound+"/shop-a/pay", "application/json", `{"pan":"`+pan2+`"}`, nil); status != 200 {
		t.Fatalf("inbound redact: %d %s", status, body)
	}
	got := shop.bodies()
	var redacted struct{ Pan string }
	if err := json.Unmarshal([]byte(got[len(got)-1]), &redacted); err != nil || !strings.HasPrefix(redacted.Pan, "tok_") {
		t.Fatalf("the shop got %q", got[len(got)-1])
	}
	shop.setReply(`{"shown":"` + redacted.Pan + `"}`)
	if status, body = call(t, "GET", g.inbound+"/shop-b/order", "", "", nil); status != 200 || strings.Contains(string(body), pan2) {
		t.Fatalf("acct_b's route revealed acct_a's alias: %d %s", status, body)
	}
	if status, body = call(t, "GET", g.inbound+"/shop-a/order", "", "", nil); status != 200 || !strings.Contains(string(body), pan2) {
		t.Fatalf("acct_a's route does not reveal its alias: %d %s", status, body)
	}
	if status, body = call(t, "GET", g.inbound+"/aliases/"+redacted.Pan, "", "", bAPI); status != 404 {
		t.Fatalf("acct_b's API client revealed acct_a's route alias: %d %s", status, body)
	}
	if status, body = call(t, "GET", g.inbound+"/aliases/"+redacted.Pan, "", "", basic(A.api)); status != 200 || !strings.Contains(string(body), pan2) {
		t.Fatalf("acct_a's API client does not reveal its route's alias: %d %s", status, body)
	}
	g.stop(t)

	// Every reveal line names the account it acted for, and the log verifies.
	lines := auditLines(t, filepath.Join(data, "audit.log"))
	for _, l := range lines {
		if (l["event"] == "reveal" || l["event"] == "delete") && l["account"] != "acct_a" && l["account"] != "acct_b" {
			t.Errorf("audit line without the account: %v", l)
		}
	}
	if findLine(lines, map[string]any{"event": "reveal", "account": "acct_b", "outcome": "not_found"}) == nil {
		t.Error("no not_found reveal line of acct_b")
	}
	if stdout, _, err := runCmd(t, env, "audit", "verify", "--data-dir", data); err != nil || !strings.HasPrefix(stdout, "ok, ") {
		t.Fatalf("audit verify = %q, %v", stdout, err)
	}
}

// TestDefaultAccountOnceStoredIsKept: the first client makes its account
// the vault's default; a default_account that differs afterwards stops
// serve and clients create with one clear line (the records without an
// owner would change hands), and the same name is accepted.
func TestDefaultAccountOnceStoredIsKept(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	createClient(t, testEnv(nil), data, "--name", "first", "--account", "acct_1", "--scopes", "aliases:reveal")
	other := testEnv(map[string]string{"ALIASGATE_DEFAULT_ACCOUNT": "acct_other"})
	for _, args := range [][]string{
		{"serve", "--data-dir", data},
		{"clients", "create", "--data-dir", data, "--name", "x", "--scopes", "aliases:reveal"},
	} {
		_, _, err := runCmd(t, other, args...)
		var buf bytes.Buffer
		if err == nil || exitCode(err, &buf) != 1 || !strings.Contains(err.Error(), `belong to "acct_1", default_account says "acct_other"`) {
			t.Fatalf("%v with another default_account: %v", args[0], err)
		}
	}
	c := createClient(t, testEnv(map[string]string{"ALIASGATE_DEFAULT_ACCOUNT": "acct_1"}), data, "--name", "second", "--scopes", "aliases:reveal")
	if list, _ := clientsListOf(t, testEnv(nil), "--data-dir", data); list[c.ID].Account != "acct_1" {
		t.Fatalf("a client made without --account is in %q", list[c.ID].Account)
	}
}

// TestMutateKeepsTheMask: mutate's alias of a Luhn-valid alias is another
// Luhn-valid run with the same first 6 and last 4 digits, whatever its
// middle digits (all 9 and all 0 included, which the fixed ±1 of an
// earlier version could not change).
func TestMutateKeepsTheMask(t *testing.T) {
	valid := func(head, middle, tail string) string { // tail: 3 digits, the check digit is chosen
		for d := '0'; d <= '9'; d++ {
			if s := head + middle + tail + string(d); pan.Valid(s) {
				return s
			}
		}
		t.Fatalf("no check digit for %s%s%s", head, middle, tail)
		return ""
	}
	for _, alias := range []string{
		valid("411111", "999999", "111"),
		valid("411111", "000000", "111"),
		valid("411111", "909090", "111"),
		valid("378282", "99999", "000"), // 15 digits
		valid("601111", "999", "999"),   // 13 digits
		valid("411111", "123456789", "111"),
	} {
		m := mutate(alias)
		if m == alias || !pan.Valid(m) || len(m) != len(alias) || m[:6] != alias[:6] || m[len(m)-4:] != alias[len(alias)-4:] {
			t.Errorf("mutate(%s) = %s: want another Luhn-valid run with the same first 6 and last 4", alias, m)
		}
	}
}

// leakGuardStores are the vaults the account-scoped leak guard is tried
// on: bbolt, and PostgreSQL (whose Known is one probe query).
func leakGuardStores(t *testing.T) []struct {
	name  string
	extra map[string]string
} {
	return []struct {
		name  string
		extra map[string]string
	}{
		{"bolt", nil},
		{"postgres", map[string]string{
			"ALIASGATE_VAULT_STORE":        "postgres",
			"ALIASGATE_VAULT_POSTGRES_URL": testPostgresURL(t),
		}},
	}
}

// createFPEAlias makes an FPE_SIX_T_FOUR alias of number through g's vault
// API as client c and checks that it is card-like.
func createFPEAlias(t *testing.T, g *gatewayProc, c credential, number string) string {
	t.Helper()
	status, body := call(t, "POST", g.inbound+"/aliases", "application/json",
		`{"data":[{"value":"`+number+`","format":"FPE_SIX_T_FOUR"}]}`, func(r *http.Request) { r.SetBasicAuth(c.ID, c.Secret) })
	var doc struct {
		Data []struct{ Aliases []struct{ Alias string } }
	}
	if status != 201 || json.Unmarshal(body, &doc) != nil || len(doc.Data) != 1 {
		t.Fatalf("create: %d %s", status, body)
	}
	alias := doc.Data[0].Aliases[0].Alias
	if !pan.Valid(alias) {
		t.Fatalf("FPE alias %q is not card-like", alias)
	}
	return alias
}

// TestLeakGuardCountsAnotherAccountsAliasAsCardData: an FPE alias is a
// card-like number, and one account can make many of them (100 per first
// six and last four of a 13-digit card): another account's route must not
// take them for aliases, or one account could open every other account's
// leak guard to the card numbers it chose. Through the real gateway, on
// bbolt and on PostgreSQL (whose Known is one probe query).
func TestLeakGuardCountsAnotherAccountsAliasAsCardData(t *testing.T) {
	for _, tc := range leakGuardStores(t) {
		t.Run(tc.name, func(t *testing.T) {
			shop := newRecorder(t)
			dir := t.TempDir()
			data := filepath.Join(dir, "data")
			routesFile := filepath.Join(dir, "routes.yaml")
			os.WriteFile(routesFile, []byte(`routes:
  - id: shop_b
    direction: inbound
    host: "*"
    path_prefix: /shop-b
    upstream: `+shop.URL+`
    account: acct_b
    leak_guard: block
`), 0o600)
			vars := map[string]string{"ALIASGATE_ROUTES_FILE": routesFile}
			for k, v := range tc.extra {
				vars[k] = v
			}
			env := testEnv(vars)
			a := createClient(t, env, data, "--name", "api", "--account", "acct_a", "--scopes", "aliases:write")
			b := createClient(t, env, data, "--name", "api", "--account", "acct_b", "--scopes", "aliases:write")
			g := startGateway(t, env, "--data-dir", data, "--enable-vault-api")
			aliasA, aliasB := createFPEAlias(t, g, a, "4111111111111111"), createFPEAlias(t, g, b, "5555555555554444")
			send := func(number string) int {
				t.Helper()
				status, _ := call(t, "POST", g.inbound+"/shop-b/orders", "application/json", `{"ref":"`+number+`"}`, func(*http.Request) {})
				return status
			}
			if status := send(aliasB); status != 200 {
				t.Fatalf("acct_b's own alias through its route: %d, want 200", status)
			}
			if status := send(aliasA); status == 200 {
				t.Fatalf("acct_a's card-like alias passed acct_b's block guard as an alias (%d)", status)
			}
			for _, got := range shop.bodies() {
				if strings.Contains(got, aliasA) {
					t.Fatalf("the upstream of acct_b got acct_a's alias: %s", got)
				}
			}
			if n := len(shop.bodies()); n != 1 {
				t.Fatalf("the upstream got %d requests, want 1 (acct_b's alias only)", n)
			}
		})
	}
}

// TestLeakGuardCountsTheDefaultAccountsAliasOnRoutesWithoutAccount: the
// aliases the vault API makes for a client of the default account (the one
// account of a merchant's clients) are aliases to a route that names no
// account and to one that names the default account: the leak guard scoped
// to accounts must not block a merchant's own card-like aliases. Through
// the real gateway, on bbolt and on PostgreSQL (one probe query, owners ""
// and the default account's name).
func TestLeakGuardCountsTheDefaultAccountsAliasOnRoutesWithoutAccount(t *testing.T) {
	for _, tc := range leakGuardStores(t) {
		t.Run(tc.name, func(t *testing.T) {
			shop := newRecorder(t)
			dir := t.TempDir()
			data := filepath.Join(dir, "data")
			routesFile := filepath.Join(dir, "routes.yaml")
			os.WriteFile(routesFile, []byte(`routes:
  - id: shop
    direction: inbound
    host: "*"
    path_prefix: /shop
    upstream: `+shop.URL+`
    leak_guard: block
  - id: shop_named
    direction: inbound
    host: "*"
    path_prefix: /named
    upstream: `+shop.URL+`
    account: acme
    leak_guard: block
`), 0o600)
			vars := map[string]string{"ALIASGATE_ROUTES_FILE": routesFile}
			for k, v := range tc.extra {
				vars[k] = v
			}
			env := testEnv(vars)
			c := createClient(t, env, data, "--name", "api", "--account", "acme", "--scopes", "aliases:write")
			g := startGateway(t, env, "--data-dir", data, "--enable-vault-api")
			alias := createFPEAlias(t, g, c, "4111111111111111")
			for _, p := range []string{"/shop/orders", "/named/orders"} {
				if status, body := call(t, "POST", g.inbound+p, "application/json", `{"ref":"`+alias+`"}`, func(*http.Request) {}); status != 200 {
					t.Fatalf("the default account's alias through %s: %d %s, want 200", p, status, body)
				}
			}
			// The guard is on: a card number that is no alias is blocked.
			if status, _ := call(t, "POST", g.inbound+"/shop/orders", "application/json", `{"ref":"5555555555554444"}`, func(*http.Request) {}); status == 200 {
				t.Fatal("a card number passed the block guard")
			}
			if n := len(shop.bodies()); n != 2 {
				t.Fatalf("the upstream got %d requests, want 2", n)
			}
		})
	}
}
