package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// TestVaultAPIAnswerThroughARedactRouteIsHeldToMaxBody: a route with
// response filters in front of internal:aliases read the vault API's
// answer whole into a buffer outside limits.max_body and the body budget
// before its response phase refused it for its size: a client with the
// reveal scope listing 20 aliases of 200 KiB values (an answer of 7.6 MiB
// behind a max_body of 64 KiB) made the gateway allocate and hold the
// whole answer for each such request (here measured: as much again as the
// same reveal streamed by the vault API's own mount). The answer is read
// as an external upstream's is: refused at once for its declared length,
// 502 body_too_large as the proxy refuses an upstream answer it cannot
// filter, with no card number, the vault API's writes failing, and
// nothing left of the budget. An answer that fits is filtered.
func TestVaultAPIAnswerThroughARedactRouteIsHeldToMaxBody(t *testing.T) {
	dir := t.TempDir()
	rf := writeIn(t, dir, "routes.yaml", []byte(`routes:
  - id: aliases-hidden
    direction: inbound
    host: hidden.example
    path_prefix: /aliases
    upstream: internal:aliases
    filters:
      - {id: hide, phase: response, operation: redact, targets: [{json: "data.#.value"}]}
`))
	env := testEnv(map[string]string{
		"ALIASGATE_ROUTES_FILE":               rf,
		"ALIASGATE_LIMITS_MAX_BODY":           "64KiB",
		"ALIASGATE_LIMITS_MAX_HEADER_BYTES":   "4KiB",
		"ALIASGATE_LIMITS_MAX_BUFFERED_BYTES": "4MiB",
		"ALIASGATE_VAULT_MAX_VALUE_SIZE":      "256KiB",
	})
	data := filepath.Join(dir, "data")
	cred := createClient(t, env, data, "--name", "shop", "--account", "acct_1", "--scopes", "aliases:write,aliases:reveal")
	g := startGateway(t, env, "--data-dir", data, "--enable-vault-api")
	basic := func(r *http.Request) { r.SetBasicAuth(cred.ID, cred.Secret) }
	hidden := func(r *http.Request) { basic(r); r.Host = "hidden.example" }
	create := func(value string) string {
		t.Helper()
		status, body := call(t, "POST", g.inbound+"/aliases", "application/json",
			`{"data":[{"value":"`+value+`","format":"UUID"}]}`, basic)
		var doc struct {
			Data []struct{ Aliases []struct{ Alias string } }
		}
		if status != 201 || json.Unmarshal(body, &doc) != nil || len(doc.Data) != 1 || len(doc.Data[0].Aliases) != 1 {
			t.Fatalf("create: %d %.300s", status, body)
		}
		return doc.Data[0].Aliases[0].Alias
	}
	const pan = "4111111111111111"
	card := create(pan)

	// An answer that fits: the card number is redacted.
	status, body := call(t, "GET", g.inbound+"/aliases/"+card, "", "", hidden)
	if status != 200 || !strings.Contains(string(body), `"value":"`) {
		t.Fatalf("a reveal that fits, through the route: %d %.300s", status, body)
	}
	obstest.AssertNoPAN(t, "a reveal that fits, through the route", body)

	// 19 values of 200 KiB of '\', each written "\\": an answer of 7.6 MiB.
	const size = 200 << 10
	aliases := []string{card}
	for i := range 19 {
		aliases = append(aliases, create(strings.Repeat(`\\`, size-8)+fmt.Sprintf("%08d", i)))
	}
	list := "/aliases?q=" + strings.Join(aliases, ",")
	const answer = 19 * 2 * size
	get := func(setup func(*http.Request)) (status int, n int64, body []byte, delivered string, alloc uint64) {
		t.Helper()
		req, err := http.NewRequest("GET", g.inbound+list, nil)
		if err != nil {
			t.Fatal(err)
		}
		setup(req)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		head := make([]byte, 4096)
		m, _ := io.ReadFull(res.Body, head)
		rest, _ := io.Copy(io.Discard, res.Body) // in small pieces: the client allocates little
		res.Body.Close()
		runtime.ReadMemStats(&after)
		return res.StatusCode, int64(m) + rest, head[:m], res.Header.Get("Aliasgate-Request-Delivered"), after.TotalAlloc - before.TotalAlloc
	}
	// The same reveal from the vault API's own mount, streamed: what the
	// vault call and the answer's writes allocate.
	status, n, _, _, direct := get(basic)
	if status != 200 || n < answer {
		t.Fatalf("the reveal from the vault API's mount: %d, %d bytes", status, n)
	}
	status, n, body, delivered, routed := get(hidden)
	obstest.AssertNoPAN(t, "the refused answer", body)
	if status != http.StatusBadGateway || n >= 4096 || !strings.Contains(string(body), `"code":"body_too_large"`) || delivered != "true" {
		t.Fatalf("an answer over max_body through the route: %d (%s) %.300s, want 502 body_too_large", status, delivered, body)
	}
	t.Logf("allocated: %d KiB from the vault API's mount, %d KiB through the route", direct>>10, routed>>10)
	if routed > direct && routed-direct > answer/2 {
		t.Errorf("through the route the request allocated %d MiB more than from the vault API's mount (%d MiB), for an answer of %d MiB it refused",
			(routed-direct)>>20, direct>>20, answer>>20)
	}
	waitBudget(t, g, "the answer's bytes to be given back", func(used, _ int64) bool { return used == 0 })
}

// TestLeakGuardOfARouteInFrontOfAnInternalAPI: a route in front of
// internal:aliases without response filters handed the vault API's answer
// to the client unread, whatever its leak_guard said: `block` and `redact`
// let a card number through, `log` logged nothing, so the route meant less
// than it said. Its answers are guarded as an external upstream's are:
// block refuses (502, nothing of the number), redact masks, log passes the
// answer and logs, off streams it unread.
func TestLeakGuardOfARouteInFrontOfAnInternalAPI(t *testing.T) {
	dir := t.TempDir()
	var routes strings.Builder
	routes.WriteString("routes:\n")
	for _, mode := range []string{"block", "redact", "log", "off"} {
		fmt.Fprintf(&routes, `  - id: aliases-%[1]s
    direction: inbound
    host: %[1]s.example
    path_prefix: /aliases
    upstream: internal:aliases
    leak_guard: "%[1]s"
`, mode)
	}
	rf := writeIn(t, dir, "routes.yaml", []byte(routes.String()))
	env := testEnv(map[string]string{"ALIASGATE_ROUTES_FILE": rf})
	data := filepath.Join(dir, "data")
	cred := createClient(t, env, data, "--name", "shop", "--scopes", "aliases:write,aliases:reveal")
	g := startGateway(t, env, "--data-dir", data, "--enable-vault-api")
	basic := func(r *http.Request) { r.SetBasicAuth(cred.ID, cred.Secret) }
	const pan = "4111111111111111"
	status, body := call(t, "POST", g.inbound+"/aliases", "application/json", `{"data":[{"value":"`+pan+`","format":"UUID"}]}`, basic)
	var doc struct {
		Data []struct{ Aliases []struct{ Alias string } }
	}
	if status != 201 || json.Unmarshal(body, &doc) != nil || len(doc.Data) != 1 || len(doc.Data[0].Aliases) != 1 {
		t.Fatalf("create: %d %.300s", status, body)
	}
	alias := doc.Data[0].Aliases[0].Alias
	reveal := func(mode string) (int, []byte) {
		t.Helper()
		return call(t, "GET", g.inbound+"/aliases/"+alias, "", "", func(r *http.Request) { basic(r); r.Host = mode + ".example" })
	}

	status, body = reveal("block")
	obstest.AssertNoPAN(t, "the answer of a blocking route", body)
	if status != http.StatusBadGateway || strings.Contains(string(body), pan[6:12]) {
		t.Errorf("leak_guard block in front of internal:aliases: %d %.300s, want 502 without the number", status, body)
	}
	status, body = reveal("redact")
	obstest.AssertNoPAN(t, "the answer of a masking route", body)
	if status != http.StatusOK || !strings.Contains(string(body), `"value":"411111`) {
		t.Errorf("leak_guard redact in front of internal:aliases: %d %.300s, want 200 with the number masked", status, body)
	}
	before := strings.Count(g.stderr.String(), "leak guard found card-like numbers")
	status, body = reveal("log")
	if status != http.StatusOK || !strings.Contains(string(body), pan) {
		t.Errorf("leak_guard log in front of internal:aliases: %d %.300s, want the answer as it is", status, body)
	}
	if after := strings.Count(g.stderr.String(), "leak guard found card-like numbers"); after != before+1 {
		t.Errorf("leak_guard log: %d log lines about the number, want 1", after-before)
	}
	status, body = reveal("off")
	if status != http.StatusOK || !strings.Contains(string(body), pan) {
		t.Errorf("leak_guard off in front of internal:aliases: %d %.300s", status, body)
	}
	obstest.AssertNoPAN(t, "the gateway's log", []byte(g.stderr.String()))
}
