package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRouteCannotRevealInTheAnswersOfTheGatewayReachedThroughAURL: the
// load refusal of reveal on routes in front of internal:cards and
// internal:aliases is not stepped around by a route whose upstream is a
// URL that reaches the gateway's own APIs again (here a load balancer in
// front of the gateway, another host name of it; with forward_reserved, or
// with /cards in the upstream's path): the API answers such a request 403
// and no card number reaches a client without --pci. A route whose reveal
// filters match other requests only still reaches it.
func TestRouteCannotRevealInTheAnswersOfTheGatewayReachedThroughAURL(t *testing.T) {
	var target atomic.Pointer[url.URL]
	lb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httputil.NewSingleHostReverseProxy(target.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(lb.Close)
	dir := t.TempDir()
	rf := writeIn(t, dir, "routes.yaml", []byte(`routes:
  - id: wallet-forwarded
    direction: inbound
    host: forwarded.example
    forward_reserved: [/cards, /aliases]
    upstream: `+lb.URL+`
    filters:
      - {id: show, phase: response, operation: reveal, on_error: pass, targets: [{json: data.attributes.pan_alias}]}
  - id: wallet-pathed
    direction: inbound
    host: pathed.example
    upstream: `+lb.URL+`/cards
    filters:
      - {id: show, phase: response, operation: reveal, on_error: pass, targets: [{json: data.attributes.pan_alias}]}
  - id: orders-only
    direction: inbound
    host: orders.example
    forward_reserved: [/cards]
    upstream: `+lb.URL+`
    filters:
      - {id: show, phase: response, operation: reveal, on_error: pass, match: {path: ^/orders}, targets: [{json: data.attributes.pan_alias}]}
`))
	env := testEnv(map[string]string{"ALIASGATE_ROUTES_FILE": rf})
	data := filepath.Join(dir, "data")
	pci := createClient(t, env, data, "--name", "pci", "--scopes", "cards:read,cards:write", "--pci")
	plain := createClient(t, env, data, "--name", "plain", "--scopes", "cards:read")
	g := startGateway(t, env, "--data-dir", data)
	u, _ := url.Parse(g.inbound)
	target.Store(u)

	status, body := call(t, "POST", g.inbound+"/cards", jsonAPIType,
		`{"data":{"type":"cards","attributes":{"pan":"`+authzPAN+`","exp_month":4,"exp_year":2031}}}`, bearerToken(t, g, pci))
	var card struct{ Data struct{ ID string } }
	if status != 201 || json.Unmarshal(body, &card) != nil {
		t.Fatalf("card: %d %s", status, body)
	}
	tok := bearerToken(t, g, plain)
	if status, body = call(t, "GET", g.inbound+"/cards/"+card.Data.ID, "", "", tok); status != 200 || strings.Contains(string(body), authzPAN) {
		t.Fatalf("the plain client's own GET: %d %s", status, body)
	}
	for _, c := range []struct{ host, path string }{
		{"forwarded.example", "/cards/" + card.Data.ID},
		{"pathed.example", "/" + card.Data.ID},
	} {
		status, body := call(t, "GET", g.inbound+c.path, "", "", func(r *http.Request) { tok(r); r.Host = c.host })
		if strings.Contains(string(body), authzPAN) || status != http.StatusForbidden || !strings.Contains(string(body), `"forwarded_by_reveal_route"`) {
			t.Errorf("%s%s: %d %s", c.host, c.path, status, body)
		}
	}
	// A route whose reveal filters match other requests forwards this one
	// unmarked: it is served, and nothing reveals its answer.
	status, body = call(t, "GET", g.inbound+"/cards/"+card.Data.ID, "", "", func(r *http.Request) { tok(r); r.Host = "orders.example" })
	if status != 200 || strings.Contains(string(body), authzPAN) || !strings.Contains(string(body), card.Data.ID) {
		t.Errorf("orders.example/cards/…: %d %s", status, body)
	}
	// The same request sent straight to the gateway is served as before.
	if status, _ = call(t, "GET", lb.URL+"/cards/"+card.Data.ID, "", "", tok); status != 200 {
		t.Errorf("through the load balancer without the route: %d", status)
	}
}

// TestReplayToANarrowedTokenDoesNotTurnAnAliasIntoItsValue: a POST /cards
// naming pan_alias, made by a PCI client's full token with an
// Idempotency-Key, is not replayed to a token of the same client without
// aliases:reveal: that token is refused 403 as if it sent the request
// first, never shown the alias's card number in clear.
func TestReplayToANarrowedTokenDoesNotTurnAnAliasIntoItsValue(t *testing.T) {
	f := newAuthzFixture(t)
	g := f.g
	const pan = "4000056655665556"
	status, body := call(t, "POST", g.inbound+"/aliases", "application/json", `{"data":[{"value":"`+pan+`"}]}`, basicAuth(f.apiA))
	var created struct {
		Data []struct{ Aliases []struct{ Alias string } }
	}
	if status != 201 || json.Unmarshal(body, &created) != nil || len(created.Data) != 1 {
		t.Fatalf("alias: %d %s", status, body)
	}
	doc := `{"data":{"type":"cards","attributes":{"pan_alias":"` + created.Data[0].Aliases[0].Alias + `","exp_month":4,"exp_year":2031}}}`
	withKey := func(auth func(*http.Request)) func(*http.Request) {
		return func(r *http.Request) { auth(r); r.Header.Set("Idempotency-Key", "replay-narrowed-1") }
	}
	status, body = call(t, "POST", g.inbound+"/cards", jsonAPIType, doc, withKey(bearerToken(t, g, f.pciA)))
	if status != 201 || !strings.Contains(string(body), pan) {
		t.Fatalf("the full token's create: %d %s", status, body)
	}
	status, body = call(t, "POST", g.inbound+"/oauth/token", "application/x-www-form-urlencoded",
		"grant_type=client_credentials&scope="+url.QueryEscape("cards:read cards:write"), basicAuth(f.pciA))
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if status != 200 || json.Unmarshal(body, &tok) != nil {
		t.Fatalf("narrowed token: %d %s", status, body)
	}
	narrowed := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok.AccessToken) }
	status, body = call(t, "POST", g.inbound+"/cards", jsonAPIType, doc, narrowed)
	if status != 403 || strings.Contains(string(body), pan) {
		t.Fatalf("the narrowed token without a key: %d %s", status, body)
	}
	status, body = call(t, "POST", g.inbound+"/cards", jsonAPIType, doc, withKey(narrowed))
	if status != 403 || strings.Contains(string(body), pan) || !strings.Contains(string(body), `"insufficient_scope"`) {
		t.Errorf("the narrowed token's replay: %d %s", status, body)
	}
	// The full token still gets its replay.
	status, body = call(t, "POST", g.inbound+"/cards", jsonAPIType, doc, withKey(bearerToken(t, g, f.pciA)))
	if status != 201 || !strings.Contains(string(body), pan) {
		t.Errorf("the full token's replay: %d %s", status, body)
	}
}

// TestInspectorKeepsNoCryptogramOfTheCardAPI: the Card Management API's
// answers pass through the inbound listener, which the inspector captures;
// a cryptogram (and a network token PAN, a CVC) in them is card data the
// inspector must not show in clear.
func TestInspectorKeepsNoCryptogramOfTheCardAPI(t *testing.T) {
	f := newAuthzFixture(t)
	g := f.g
	status, body := call(t, "POST", g.inbound+"/cards/"+f.cardID+"/cryptogram", jsonAPIType, `{"data":{"attributes":{}}}`, bearerToken(t, g, f.pciA))
	var answer struct {
		Data struct {
			Attributes struct {
				NetworkToken string `json:"network_token"`
				Cryptogram   struct{ Value string }
			}
		}
	}
	if status != 200 || json.Unmarshal(body, &answer) != nil || len(answer.Data.Attributes.Cryptogram.Value) < 8 || answer.Data.Attributes.NetworkToken == "" {
		t.Fatalf("cryptogram: %d %s", status, body)
	}
	secrets := []string{answer.Data.Attributes.Cryptogram.Value, answer.Data.Attributes.NetworkToken, authzPAN}
	get := func(path string) []byte {
		req, _ := http.NewRequest("GET", g.admin+path, nil)
		req.Header.Set("Authorization", "Bearer "+authzAdmin)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, res.StatusCode, b)
		}
		return b
	}
	var list struct {
		Captures []struct {
			ID   uint64
			Path string
		}
	}
	var id uint64
	if !waitFor(10*time.Second, func() bool {
		if err := json.Unmarshal(get("/ui/api/captures"), &list); err != nil {
			t.Fatal(err)
		}
		for _, c := range list.Captures {
			if strings.HasSuffix(c.Path, "/cryptogram") {
				id = c.ID
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no capture of the cryptogram request: %+v", list)
	}
	for _, c := range list.Captures {
		b := get(fmt.Sprintf("/ui/api/captures/%d", c.ID))
		for _, s := range secrets {
			if strings.Contains(string(b), s) {
				t.Errorf("capture %d (%s) shows %q in clear", c.ID, c.Path, s)
			}
		}
	}
	if b := get(fmt.Sprintf("/ui/api/captures/%d", id)); !strings.Contains(string(b), `cryptogram`) {
		t.Errorf("the cryptogram capture does not show the answer's shape: %s", b)
	}
}
