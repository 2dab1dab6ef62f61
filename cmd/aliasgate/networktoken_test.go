package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliasgate/aliasgate/internal/pan"
)

// TestNetworkTokenPaymentThroughTheOutboundProxy: a merchant's request to
// its processor through the outbound proxy carries only a card alias (or
// card id) and placeholders; a network_token route puts the card's active
// network token PAN, its expiry, a fresh Visa TAVV cryptogram and ECI into
// the named fields (the token was provisioned when the card was created:
// the account has network tokens on), and the recording TLS processor receives them; the
// merchant's response holds none of them, and a processor that echoes the
// token PAN is refused (502) rather than shown. A card without a token is
// paid with its PAN and CVC on a route that falls back, and refused (422,
// the processor never called) on one that does not. curl sends one of the
// requests through HTTPS_PROXY.
func TestNetworkTokenPaymentThroughTheOutboundProxy(t *testing.T) {
	var mu sync.Mutex
	var got []map[string]any
	psp := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m map[string]any
		json.Unmarshal(b, &m)
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "/echo") {
			w.Write(b) // a processor that repeats the request
			return
		}
		if strings.Contains(r.URL.Path, "/echo-cryptogram") {
			// A processor that names the cryptogram it declined: in a
			// header, or in its JSON answer with '/' escaped.
			c, _ := m["card"].(map[string]any)
			v, _ := c["cryptogram"].(string)
			if strings.HasSuffix(r.URL.Path, "/header") {
				w.Header().Set("X-Declined", v)
				v = ""
			}
			w.WriteHeader(http.StatusPaymentRequired)
			io.WriteString(w, `{"status":"declined","detail":"cryptogram `+strings.ReplaceAll(v, "/", `\/`)+` failed validation"}`)
			return
		}
		io.WriteString(w, `{"status":"authorized","id":"ch_1"}`)
	}))
	defer psp.Close()
	last := func() map[string]any {
		mu.Lock()
		defer mu.Unlock()
		if len(got) == 0 {
			return nil
		}
		return got[len(got)-1]
	}
	calls := func() int { mu.Lock(); defer mu.Unlock(); return len(got) }

	dir := t.TempDir()
	bundle := filepath.Join(dir, "psp.pem")
	os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: psp.Certificate().Raw}), 0o600)
	routesFile := filepath.Join(dir, "routes.yaml")
	targets := `
        targets:
          - {json: card.number, role: card}
          - {json: card.exp_month, role: exp_month}
          - {json: card.exp_year, role: exp_year}
          - {json: card.cryptogram, role: cryptogram}
          - {json: card.eci, role: eci}
          - {json: card.cvc, role: cvc}
`
	os.WriteFile(routesFile, []byte(`routes:
  - id: psp-token
    direction: outbound
    host: 127.0.0.1
    path_prefix: /token-only
    filters:
      - id: pay
        operation: network_token`+targets+`
  - id: psp
    direction: outbound
    host: 127.0.0.1
    path_prefix: /
    filters:
      - id: pay
        operation: network_token
        fallback: pan`+targets), 0o600)
	data := filepath.Join(dir, "data")
	// acct_1 has network tokens on: its cards are provisioned when created.
	env := testEnv(map[string]string{"ALIASGATE_ROUTES_FILE": routesFile, "ALIASGATE_OUTBOUND_CA_BUNDLE": bundle,
		"ALIASGATE_OUTBOUND_ALLOW_PRIVATE_DESTINATIONS": "true", "ALIASGATE_CARDS_NETWORK_TOKEN_ACCOUNTS": "acct_1",
		"ALIASGATE_ADMIN_UI": "true", "ALIASGATE_ADMIN_TOKEN": authzAdmin})
	backend := createClient(t, env, data, "--name", "backend", "--account", "acct_1", "--outbound")
	shop := createClient(t, env, data, "--name", "shop", "--account", "acct_1", "--scopes", "cards:read,cards:write,network-tokens:write")
	caPEM, _, err := runCmd(t, env, "ca", "cert", "--data-dir", data)
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, env, "--data-dir", data)
	bearer := bearerToken(t, g, shop)
	createCard := func(attrs, enrollment string) (id, panAlias, cvcAlias string) {
		t.Helper()
		status, b := call(t, "POST", g.inbound+"/cards", "application/vnd.api+json", `{"data":{"attributes":{`+attrs+`}}}`, bearer)
		var doc struct {
			Data struct {
				ID         string            `json:"id"`
				Attributes map[string]string `json:"attributes"`
			} `json:"data"`
		}
		json.Unmarshal(b, &doc)
		if status != 201 || doc.Data.Attributes["enrollment_status"] != enrollment {
			t.Fatalf("create card: %d %s, want enrollment_status %q", status, b, enrollment)
		}
		return doc.Data.ID, doc.Data.Attributes["pan_alias"], doc.Data.Attributes["cvc_alias"]
	}
	// Provisioned automatically; a JCB card cannot be (no token service for the brand).
	visa, visaAlias, visaCVC := createCard(`"pan":"4111111111111111","cvc":"123","exp_month":4,"exp_year":30`, "enrolled")
	if status, b := call(t, "GET", g.inbound+"/cards/"+visa+"?include=network_tokens", "", "", bearer); status != 200 ||
		!strings.Contains(string(b), `"state":"active"`) {
		t.Fatalf("the card's token: %d %s", status, b)
	}
	mc, _, _ := createCard(`"pan":"3530111333300000","cvc":"321","exp_month":11,"exp_year":2031`, "unsupported")

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(caPEM))
	proxyURL, _ := url.Parse(g.outbound)
	proxyURL.User = url.UserPassword(backend.ID, backend.Secret)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL), TLSClientConfig: &tls.Config{RootCAs: pool}}}
	pay := func(path, ref, cvc string) (int, string) {
		t.Helper()
		body := `{"amount":100,"card":{"number":"` + ref + `","exp_month":"","exp_year":"","cryptogram":"","eci":"","cvc":"` + cvc + `"}}`
		res, err := client.Post(psp.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	cardOf := func(m map[string]any) map[string]any {
		c, _ := m["card"].(map[string]any)
		return c
	}

	// 1. The Visa card by its pan_alias: the network token.
	status, answer := pay("/token-only/charges", visaAlias, visaCVC)
	c := cardOf(last())
	tokenPAN, _ := c["number"].(string)
	crypt, _ := base64.StdEncoding.DecodeString(c["cryptogram"].(string))
	if status != 200 || !strings.HasPrefix(tokenPAN, "489537") || !pan.Valid(tokenPAN) || tokenPAN == "4111111111111111" ||
		c["exp_month"] != "04" || c["exp_year"] != "2030" || c["eci"] != "07" || len(crypt) != 16 || c["cvc"] != "" {
		t.Fatalf("processor got %v (merchant %d %s)", c, status, answer)
	}
	for _, secret := range []string{tokenPAN, c["cryptogram"].(string), "4111111111111111"} {
		if strings.Contains(answer, secret) {
			t.Fatalf("the merchant's answer holds %q: %s", secret, answer)
		}
	}
	// 2. Again by card id: a fresh cryptogram.
	first := c["cryptogram"]
	if status, answer = pay("/token-only/charges", visa, ""); status != 200 || cardOf(last())["number"] != tokenPAN ||
		cardOf(last())["cryptogram"] == first {
		t.Fatalf("by card id: %d %s, processor got %v", status, answer, cardOf(last()))
	}
	// 3. A processor that echoes the request: the token PAN never reaches the merchant.
	status, answer = pay("/token-only/echo", visaAlias, "")
	if strings.Contains(answer, tokenPAN) || status != http.StatusBadGateway {
		t.Fatalf("echoing processor: the merchant got %d %s", status, answer)
	}
	// 3b. A processor that names the cryptogram in its answer: the
	// merchant never gets it (a cryptogram is card data, as the token PAN).
	// The route's guard is block (it puts card data on the wire): refused.
	for i, sawSlash := 0, false; !sawSlash && i < 50; i++ { // until a cryptogram holds a '/' (escaped in JSON)
		for _, where := range []string{"/token-only/echo-cryptogram", "/token-only/echo-cryptogram/header"} {
			res, err := client.Post(psp.URL+where, "application/json", strings.NewReader(
				`{"amount":100,"card":{"number":"`+visaAlias+`","exp_month":"","exp_year":"","cryptogram":"","eci":"","cvc":""}}`))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			echoed, _ := cardOf(last())["cryptogram"].(string)
			sawSlash = sawSlash || strings.Contains(echoed, "/")
			if echoed == "" || res.StatusCode != http.StatusBadGateway || !strings.Contains(string(b), "card_data_leak") ||
				strings.Contains(string(b), echoed) || strings.Contains(string(b), strings.ReplaceAll(echoed, "/", `\/`)) ||
				res.Header.Get("X-Declined") != "" {
				t.Fatalf("a processor naming the cryptogram (%s): the merchant got %d %v %s", where, res.StatusCode, res.Header, b)
			}
		}
	}
	// … and the inspector's captures of these exchanges show no cryptogram.
	mu.Lock()
	var cryptograms []string
	for _, m := range got {
		if v, _ := cardOf(m)["cryptogram"].(string); v != "" {
			cryptograms = append(cryptograms, v)
		}
	}
	mu.Unlock()
	adminGet := func(path string) []byte {
		req, _ := http.NewRequest("GET", g.admin+path, nil)
		req.Header.Set("Authorization", "Bearer "+authzAdmin)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return b
	}
	var captures struct {
		Captures []struct {
			ID   uint64
			Path string
		}
	}
	if !waitFor(10*time.Second, func() bool {
		json.Unmarshal(adminGet("/ui/api/captures"), &captures)
		for _, c := range captures.Captures {
			if strings.HasSuffix(c.Path, "/echo-cryptogram/header") {
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no capture of the echoing processor's exchanges: %+v", captures)
	}
	for _, c := range captures.Captures {
		b := string(adminGet(fmt.Sprintf("/ui/api/captures/%d", c.ID)))
		for _, v := range cryptograms {
			for _, sp := range []string{v, strings.ReplaceAll(v, "/", `\/`), url.QueryEscape(v)} {
				if strings.Contains(b, sp) {
					t.Fatalf("capture %d (%s) shows a cryptogram: %s", c.ID, c.Path, b)
				}
			}
		}
	}
	// 4. The JCB card has no token: PAN, expiry and CVC where the route falls back…
	if status, answer = pay("/charges", mc, ""); status != 200 {
		t.Fatalf("fallback: %d %s", status, answer)
	}
	if c := cardOf(last()); c["number"] != "3530111333300000" || c["exp_month"] != "11" || c["exp_year"] != "2031" ||
		c["cvc"] != "321" || c["cryptogram"] != "" || c["eci"] != "" {
		t.Fatalf("fallback: processor got %v", c)
	}
	if strings.Contains(answer, "3530111333300000") {
		t.Fatalf("fallback: the merchant's answer holds the PAN: %s", answer)
	}
	// … and 422 where it does not, without calling the processor.
	before := calls()
	if status, answer = pay("/token-only/charges", mc, ""); status != 422 || !strings.Contains(answer, "no_active_network_token") || calls() != before {
		t.Fatalf("no token, no fallback: %d %s (processor calls %d → %d)", status, answer, before, calls())
	}
	// An unknown reference: 422 unknown_card.
	if status, answer = pay("/charges", "tok_sandbox_nosuchalias", ""); status != 422 || !strings.Contains(answer, "unknown_card") || calls() != before {
		t.Fatalf("unknown card: %d %s", status, answer)
	}

	// 5. curl through HTTPS_PROXY, as any HTTP client would be configured.
	caFile := filepath.Join(dir, "gateway-ca.pem")
	os.WriteFile(caFile, []byte(caPEM), 0o600)
	cmd := exec.Command("curl", "-sS", "--fail-with-body", "--cacert", caFile, "-H", "Content-Type: application/json",
		"-d", `{"card":{"number":"`+visaAlias+`","exp_month":"","exp_year":"","cryptogram":"","eci":""}}`, psp.URL+"/token-only/charges")
	cmd.Env = append(os.Environ(), "HTTPS_PROXY="+proxyURL.String(), "https_proxy="+proxyURL.String(), "NO_PROXY=", "no_proxy=")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "authorized") || strings.Contains(string(out), tokenPAN) {
		t.Fatalf("curl through HTTPS_PROXY: %v %s", err, out)
	}
	if c := cardOf(last()); c["number"] != tokenPAN || c["eci"] != "07" || c["cryptogram"] == "" {
		t.Fatalf("curl: processor got %v", c)
	}
}
