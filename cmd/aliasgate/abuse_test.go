package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/aliasgate/aliasgate/vault/vaulttest"
)

// abuseGateway starts a gateway with the vault API and cards on and the
// given extra settings (environment), returning it and its data dir.
func abuseGateway(t *testing.T, extra map[string]string) (*gatewayProc, string, func(string) string) {
	t.Helper()
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(extra)
	g := startGateway(t, env, "--data-dir", data, "--enable-vault-api")
	return g, data, env
}

// createAliases posts values to /aliases with the format and returns the
// status, the aliases in order, and the response.
func createAliases(t *testing.T, g *gatewayProc, c credential, format string, values []string) (int, []string, *http.Response) {
	t.Helper()
	items := make([]string, len(values))
	for i, v := range values {
		items[i] = fmt.Sprintf(`{"value":%q,"format":%q}`, v, format)
	}
	req, _ := http.NewRequest("POST", g.inbound+"/aliases", strings.NewReader(`{"data":[`+strings.Join(items, ",")+`]}`))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(c.ID, c.Secret)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var doc struct {
		Data []struct {
			Aliases []struct{ Alias string }
		}
	}
	json.NewDecoder(res.Body).Decode(&doc)
	var aliases []string
	for _, d := range doc.Data {
		if len(d.Aliases) > 0 {
			aliases = append(aliases, d.Aliases[0].Alias)
		}
	}
	return res.StatusCode, aliases, res
}

// TestEnumerationOfAnFPEAliasIsStoppedAndAlerted runs the attack of issue
// 19 through the vault API: a client that knows an FPE_SIX_T_FOUR alias
// (first 6 and last 4 digits kept) redacts Luhn-valid candidates and
// compares aliases. With the detector scaled down (5 new values of a group
// an hour), the client is flagged after its first 5 misses: an audit line,
// a metric and a log line name it; from then on every try, the right
// guess included, answers 429 with Retry-After and stores nothing, so the
// alias is never matched; another client keeps working.
func TestEnumerationOfAnFPEAliasIsStoppedAndAlerted(t *testing.T) {
	const threshold = 5
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(map[string]string{"ALIASGATE_LIMITS_ENUMERATION_THRESHOLD": fmt.Sprint(threshold)})
	victim := createClient(t, env, data, "--name", "shop", "--account", "acct_1", "--scopes", "aliases:write,aliases:reveal")
	attacker := createClient(t, env, data, "--name", "probe", "--account", "acct_1", "--scopes", "aliases:write")
	g := startGateway(t, env, "--data-dir", data, "--enable-vault-api")

	guesses := vaulttest.Guesses("411111", "1111", 60)
	secret := guesses[40] // the card the victim stored
	status, got, _ := createAliases(t, g, victim, "FPE_SIX_T_FOUR", []string{secret})
	if status != 201 || len(got) != 1 {
		t.Fatalf("victim's create: %d %v", status, got)
	}
	target := got[0]

	var matched, admitted, refused int
	for i := 0; i < len(guesses); i += 5 {
		status, aliases, res := createAliases(t, g, attacker, "FPE_SIX_T_FOUR", guesses[i:i+5])
		switch status {
		case 201, 200:
			admitted += len(aliases)
			for _, a := range aliases {
				if a == target {
					matched++
				}
			}
		case http.StatusTooManyRequests:
			refused++
			if res.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		default:
			t.Fatalf("guess batch %d: %d", i/5, status)
		}
	}
	if matched != 0 || admitted != threshold || refused != len(guesses)/5-1 {
		t.Fatalf("matched %d, admitted %d, refused %d batches; want 0, %d, %d", matched, admitted, refused, threshold, len(guesses)/5-1)
	}
	// The refused guesses were not stored: the victim's reveal still works
	// and the attacker's first five are all that exists of the group.
	if status, _, _ := createAliases(t, g, victim, "FPE_SIX_T_FOUR", []string{"5555555555554444"}); status != 201 {
		t.Fatalf("another client during the attack: %d", status)
	}
	_, metrics := call(t, "GET", g.admin+"/metrics", "", "", nil)
	for _, want := range []string{
		`aliasgate_abuse_alerts_total{caller="client",kind="enumeration"} 1`,
		fmt.Sprintf(`aliasgate_abuse_refused_total{limit="enumeration"} %d`, refused),
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	g.stop(t)
	log := g.stderr.String()
	if !strings.Contains(log, `"msg":"abuse: caller flagged and throttled"`) || !strings.Contains(log, `"caller":"client:`+attacker.ID+`"`) {
		t.Errorf("no log line names the flagged client:\n%s", log)
	}
	if strings.Contains(log, "411111") {
		t.Error("the log holds the group's digits")
	}
	lines := auditLines(t, filepath.Join(data, "audit.log"))
	if findLine(lines, map[string]any{"event": "abuse_alert", "actor": "client:" + attacker.ID, "reason": "enumeration"}) == nil {
		t.Error("no abuse_alert audit line names the attacker")
	}
	if _, stderr, err := runCmd(t, env, "audit", "verify", "--data-dir", data); err != nil {
		t.Fatalf("audit verify: %v\n%s", err, stderr)
	}
}

// TestEnumerationThroughTheInboundProxy: the same attack with no
// credentials, through an inbound route whose app echoes the alias. The
// caller is the source address; X-Forwarded-For from an untrusted peer
// changes nothing. Refused messages never reach the app. Behind a trusted
// proxy, another customer (another forwarded address) keeps checking out
// while the attacker is throttled.
func TestEnumerationThroughTheInboundProxy(t *testing.T) {
	var forwarded atomic.Int64
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		forwarded.Add(1)
		b := make([]byte, 4096)
		n, _ := r.Body.Read(b)
		w.Write(b[:n]) // echoes the alias: the oracle
	}))
	defer app.Close()
	for _, tc := range []struct {
		name    string
		trusted string
	}{{"untrusted peer", ""}, {"behind a trusted proxy", "127.0.0.1"}} {
		t.Run(tc.name, func(t *testing.T) {
			forwarded.Store(0)
			dir := t.TempDir()
			routesFile := filepath.Join(dir, "routes.yaml")
			os.WriteFile(routesFile, []byte(`routes:
  - id: checkout
    direction: inbound
    host: "*"
    upstream: `+app.URL+`
    filters:
      - id: pan
        match: {content_type: json}
        operation: redact
        targets:
          - {json: number, format: FPE_SIX_T_FOUR}
`), 0o600)
			extra := map[string]string{"ALIASGATE_ROUTES_FILE": routesFile, "ALIASGATE_LIMITS_ENUMERATION_THRESHOLD": "5"}
			if tc.trusted != "" {
				extra["ALIASGATE_LIMITS_TRUSTED_PROXIES"] = tc.trusted
			}
			g, _, _ := abuseGateway(t, extra)
			post := func(number, xff string) (int, string, string) {
				req, _ := http.NewRequest("POST", g.inbound+"/pay", strings.NewReader(`{"number":"`+number+`"}`))
				req.Header.Set("Content-Type", "application/json")
				if xff != "" {
					req.Header.Set("X-Forwarded-For", xff)
				}
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				b := make([]byte, 4096)
				n, _ := res.Body.Read(b)
				return res.StatusCode, string(b[:n]), res.Header.Get("Retry-After")
			}
			guesses := vaulttest.Guesses("545454", "5454", 30)
			secret := guesses[20]
			// The victim's card went through the checkout earlier.
			_, echoed, _ := post(secret, "198.51.100.20")
			var target struct{ Number string }
			if json.Unmarshal([]byte(echoed), &target) != nil || target.Number == "" || target.Number == secret {
				t.Fatalf("victim's checkout echoed %q", echoed)
			}
			before := forwarded.Load()
			matched, refused := 0, 0
			for i, guess := range guesses {
				// The attacker varies X-Forwarded-For to look like many
				// customers; only a trusted peer's header is read, and here
				// the attacker is the one writing it either way.
				xff := fmt.Sprintf("203.0.113.%d", i)
				if tc.trusted != "" {
					xff = "203.0.113.66" // one real client behind the proxy
				}
				status, body, retry := post(guess, xff)
				switch status {
				case 200:
					if strings.Contains(body, target.Number) {
						matched++
					}
				case http.StatusTooManyRequests:
					refused++
					if retry == "" || strings.Contains(body, guess) {
						t.Fatalf("429: Retry-After %q, body %s", retry, body)
					}
				default:
					t.Fatalf("guess %d: %d %s", i, status, body)
				}
			}
			// Without trust every request is the peer's, the victim's
			// checkout included: it was the group's first new value.
			admitted := 5
			if tc.trusted == "" {
				admitted = 4
			}
			if matched != 0 || refused != len(guesses)-admitted || forwarded.Load()-before != int64(admitted) {
				t.Fatalf("matched %d, refused %d (want %d), forwarded %d (want %d)", matched, refused, len(guesses)-admitted,
					forwarded.Load()-before, admitted)
			}
			if tc.trusted != "" {
				// Another customer behind the same load balancer.
				if status, body, _ := post("4012888888881881", "198.51.100.77"); status != 200 {
					t.Fatalf("another customer behind the proxy: %d %s", status, body)
				}
			} else {
				// Without trust, a forged header is another try of the
				// same source.
				if status, _, _ := post("4012888888881881", "198.51.100.77"); status != http.StatusTooManyRequests {
					t.Fatalf("a new card from the flagged source with a forged X-Forwarded-For: %d", status)
				}
			}
			_, metrics := call(t, "GET", g.admin+"/metrics", "", "", nil)
			if !strings.Contains(string(metrics), `aliasgate_abuse_alerts_total{caller="source",kind="enumeration"} 1`) {
				t.Error("no source alert in the metrics")
			}
		})
	}
}

// TestDuplicateOracleIsThrottled: a non-PCI cards:write client that knows
// a card's BIN and last 4 posts candidates to POST /cards; a miss makes a
// new card, the right guess would answer 303. The misses flag the client
// before the right guess, which then answers 429 (no Location). A client
// that asks for many duplicates is flagged by the duplicate count.
func TestDuplicateOracleIsThrottled(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(map[string]string{"ALIASGATE_LIMITS_ENUMERATION_THRESHOLD": "5", "ALIASGATE_LIMITS_DUPLICATE_THRESHOLD": "3"})
	probe := createClient(t, env, data, "--name", "probe", "--account", "acct_1", "--scopes", "cards:write,cards:read")
	resubmit := createClient(t, env, data, "--name", "resubmit", "--account", "acct_2", "--scopes", "cards:write,cards:read")
	g := startGateway(t, env, "--data-dir", data)
	token := func(c credential) func(*http.Request) {
		status, body := call(t, "POST", g.inbound+"/oauth/token", "application/x-www-form-urlencoded", "grant_type=client_credentials",
			func(r *http.Request) { r.SetBasicAuth(c.ID, c.Secret) })
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		if status != 200 || json.Unmarshal(body, &tok) != nil {
			t.Fatalf("token: %d %s", status, body)
		}
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok.AccessToken) }
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	create := func(auth func(*http.Request), number string) (int, string) {
		req, _ := http.NewRequest("POST", g.inbound+"/cards", strings.NewReader(
			`{"data":{"attributes":{"pan":"`+number+`","exp_month":4,"exp_year":2031}}}`))
		req.Header.Set("Content-Type", "application/vnd.api+json")
		auth(req)
		res, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode, res.Header.Get("Location")
	}

	probeAuth := token(probe)
	guesses := vaulttest.Guesses("400000", "0002", 12)
	secret := guesses[8]
	if status, _ := create(probeAuth, secret); status != 201 {
		t.Fatalf("the card: %d", status)
	}
	statuses := map[int]int{}
	for _, guess := range guesses[:9] { // the right guess is the 9th
		status, loc := create(probeAuth, guess)
		statuses[status]++
		if status == http.StatusSeeOther || loc != "" && status != 201 {
			t.Fatalf("the duplicate oracle answered: %d %q", status, loc)
		}
	}
	// The card itself was the first new value of the group.
	if statuses[201] != 4 || statuses[http.StatusTooManyRequests] != 5 {
		t.Fatalf("statuses %v; want 4 cards made, then 429", statuses)
	}

	resubmitAuth := token(resubmit)
	card := "5105105105105100"
	for i := range 5 { // a card, 3 duplicates allowed, the 4th flags
		status, _ := create(resubmitAuth, card)
		want := http.StatusSeeOther
		switch i {
		case 0:
			want = 201
		case 4:
			want = http.StatusTooManyRequests
		}
		if status != want {
			t.Fatalf("resubmission %d: %d, want %d", i, status, want)
		}
	}
	_, metrics := call(t, "GET", g.admin+"/metrics", "", "", nil)
	for _, want := range []string{
		`aliasgate_abuse_alerts_total{caller="client",kind="enumeration"} 1`,
		`aliasgate_abuse_alerts_total{caller="client",kind="duplicates"} 1`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestSourceLimitsAndMessageCaps: an anonymous sender may tokenize
// limits.source_new_values new cards a minute; past it 429 with
// Retry-After, nothing forwarded, nothing stored; its known card (a retry)
// still passes. A message with more new values than
// limits.max_new_per_message is refused whole (422). A checkout's retries
// never meet the defaults.
func TestSourceLimitsAndMessageCaps(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 1<<16)
		n, _ := r.Body.Read(b)
		mu.Lock()
		seen = append(seen, string(b[:n]))
		mu.Unlock()
		w.Write([]byte(`{"ok":true}`))
	}))
	defer app.Close()
	dir := t.TempDir()
	routesFile := filepath.Join(dir, "routes.yaml")
	os.WriteFile(routesFile, []byte(`routes:
  - id: checkout
    direction: inbound
    host: "*"
    upstream: `+app.URL+`
    filters:
      - id: pan
        match: {content_type: json}
        operation: redact
        targets:
          - {json: number}
          - {json: cards.#.number}
          - {json: cvc, storage: volatile}
`), 0o600)
	g, _, _ := abuseGateway(t, map[string]string{"ALIASGATE_ROUTES_FILE": routesFile,
		"ALIASGATE_LIMITS_SOURCE_NEW_VALUES": "3", "ALIASGATE_LIMITS_SOURCE_NEW_BURST": "3", "ALIASGATE_LIMITS_MAX_NEW_PER_MESSAGE": "4",
		// The test's load balancer: a second sender is told apart by its
		// forwarded address (the peer alone is the first).
		"ALIASGATE_LIMITS_TRUSTED_PROXIES": "127.0.0.1"})
	sender := ""
	post := func(body string) (int, http.Header) {
		req, _ := http.NewRequest("POST", g.inbound+"/pay", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if sender != "" {
			req.Header.Set("X-Forwarded-For", sender)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode, res.Header
	}
	cards := []string{"4111111111111111", "5555555555554444", "378282246310005", "6011111111111117"}
	for _, c := range cards[:3] {
		if status, _ := post(`{"number":"` + c + `","cvc":"123"}`); status != 200 {
			t.Fatalf("new card within the limit: %d", status)
		}
	}
	status, h := post(`{"number":"` + cards[3] + `","cvc":"123"}`)
	if status != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Fatalf("fourth new card: %d, Retry-After %q", status, h.Get("Retry-After"))
	}
	// A checkout retrying its card: known values are not new.
	for range 20 {
		if status, _ := post(`{"number":"` + cards[0] + `","cvc":"123"}`); status != 200 {
			t.Fatalf("a retry of a known card: %d", status)
		}
	}
	if len(seen) != 23 {
		t.Fatalf("the app saw %d messages, want 23 (the refused one held back)", len(seen))
	}
	for _, s := range seen {
		if strings.Contains(s, cards[3]) {
			t.Fatal("the refused card reached the app")
		}
	}
	// Over the per-message cap of new values: refused whole (422) for a
	// sender within its rate (another sender: the first has spent its
	// bucket, and a sender over its rate is refused 429 first).
	sender = "198.51.100.50"
	many := make([]string, 5)
	for i, c := range vaulttest.Guesses("601100", "0004", 5) {
		many[i] = `{"number":"` + c + `"}`
	}
	if status, _ := post(`{"cards":[` + strings.Join(many, ",") + `]}`); status != http.StatusUnprocessableEntity {
		t.Fatalf("5 new values with max_new_per_message 4: %d", status)
	}
	if len(seen) != 23 {
		t.Fatal("a message over its cap reached the app")
	}
}

// TestClientRateHeaders: with the default client rate on, vault API
// answers carry X-RateLimit-Remaining, counting down.
func TestClientRateHeaders(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	env := testEnv(map[string]string{"ALIASGATE_LIMITS_CLIENT_RATE": "1", "ALIASGATE_LIMITS_CLIENT_BURST": "3"})
	c := createClient(t, env, data, "--name", "shop", "--account", "acct_1", "--scopes", "aliases:write")
	g := startGateway(t, env, "--data-dir", data, "--enable-vault-api")
	var remaining []string
	var last int
	for range 4 {
		status, _, res := createAliases(t, g, c, "UUID", []string{"hello"})
		remaining = append(remaining, res.Header.Get("X-RateLimit-Remaining"))
		last = status
	}
	if strings.Join(remaining, ",") != "2,1,0,0" || last != http.StatusTooManyRequests {
		t.Fatalf("X-RateLimit-Remaining %v, last status %d; want 2,1,0,0 and 429", remaining, last)
	}
}
