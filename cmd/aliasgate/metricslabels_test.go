package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMetricsLabelsHoldNothingARequestSends: requests with hosts, paths,
// methods, client ids and proxy credentials of the sender's choosing (card
// numbers in each), on the inbound, outbound and admin listeners, add no
// label value the gateway did not choose: after a second round with other
// such values the /metrics series are the same ones, and no line holds a
// card number or a sent name. Regression cover of internal/obs's rule
// (every label from a fixed vocabulary; passed before).
func TestMetricsLabelsHoldNothingARequestSends(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	psp := newRecorder(t)
	routesFile := filepath.Join(dir, "routes.yaml")
	if err := os.WriteFile(routesFile, []byte(`routes:
  - id: checkout
    direction: inbound
    host: "*"
    path_prefix: /pay
    upstream: `+psp.URL+`
    filters:
      - {id: card, operation: redact, targets: [{json: card.number}]}
  - id: psp
    direction: outbound
    host: 127.0.0.1
    unsafe_reveal_over_plain_http: true
    filters:
      - {id: reveal, operation: reveal, targets: [{json: card.number}]}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	env := testEnv(map[string]string{"ALIASGATE_ROUTES_FILE": routesFile, "ALIASGATE_OUTBOUND_ALLOW_PRIVATE_DESTINATIONS": "true"})
	shop := createClient(t, env, data, "--name", "shop", "--scopes", "aliases:write,aliases:reveal")
	out := createClient(t, env, data, "--name", "out", "--outbound")
	g := startGateway(t, env, "--data-dir", data, "--enable-vault-api")
	const pan = "4111111111111111"
	var sent []string // every name a request chose
	round := func(tag string) {
		host := "evil-" + tag + "-" + pan + ".example"
		sent = append(sent, "evil-"+tag, "x"+tag, "PROP"+tag, "tok_"+tag, "AC"+tag)
		for _, m := range []string{"GET", "POST", "PROP" + tag, "DELETE"} {
			for _, p := range []string{"/pay/" + pan, "/x" + tag + "/" + pan, "/aliases/tok_" + tag, "/cards/CRD" + tag, "/oauth/token"} {
				req, err := http.NewRequest(m, g.inbound+p, strings.NewReader(`{"card":{"number":"`+pan+`"}}`))
				if err != nil {
					t.Fatal(err)
				}
				req.Host = host
				req.Header.Set("Content-Type", "application/json")
				req.SetBasicAuth("AC"+tag+pan, "x")
				if res, err := http.DefaultClient.Do(req); err == nil {
					res.Body.Close()
				}
			}
		}
		call(t, "GET", g.inbound+"/aliases/tok_sandbox_"+tag, "", "", basicAuth(shop))
		call(t, "GET", g.admin+"/x"+tag+"/"+pan, "", "", nil)
		// A CONNECT with credentials of no client, and requests through
		// the proxy to a host of no route and to the route's host.
		conn, err := net.Dial("tcp", strings.TrimPrefix(g.outbound, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "CONNECT %s:443 HTTP/1.1\r\nHost: %s:443\r\nProxy-Authorization: Basic QUN4OnBhc3M=\r\n\r\n", host, host)
		if _, err := bufio.NewReader(conn).ReadString('\n'); err != nil {
			t.Fatal(err)
		}
		conn.Close()
		proxyURL, _ := url.Parse(g.outbound)
		proxyURL.User = url.UserPassword(out.ID, out.Secret)
		client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}}
		for _, target := range []string{"http://" + host + "/x" + tag + "/" + pan, psp.URL + "/x" + tag + "/" + pan} {
			if res, err := client.Post(target, "application/json", strings.NewReader("{}")); err == nil {
				res.Body.Close()
			}
		}
	}
	series := func() map[string]bool {
		_, body := call(t, "GET", g.admin+"/metrics", "", "", nil)
		out := map[string]bool{}
		for _, l := range strings.Split(string(body), "\n") {
			if !strings.HasPrefix(l, "aliasgate_") {
				continue
			}
			name, _, _ := strings.Cut(l, " ")
			out[name] = true
			if strings.Contains(l, pan) || strings.Contains(l, pan[:6]+"******") {
				t.Errorf("a metrics line holds the card number: %s", l)
			}
			for _, s := range sent {
				if strings.Contains(l, s) {
					t.Errorf("a metrics line holds %q, sent by a request: %s", s, l)
				}
			}
		}
		return out
	}
	round("a1")
	series() // the scrape itself is counted once it has been answered
	first := series()
	round("b2")
	for s := range series() {
		if !first[s] {
			t.Errorf("a second round of other names made a new series: %s", s)
		}
	}
	if !first[`aliasgate_http_requests_total{listener="inbound",method="OTHER",route="checkout",status="200"}`] {
		t.Errorf("the requests were not counted as the test expects (an unknown method as OTHER on route checkout): %v", first)
	}
}
