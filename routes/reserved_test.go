package routes

import (
	"strings"
	"testing"
)

func TestReservedPathsNeverMatchedUnlessForwarded(t *testing.T) {
	set, err := Parse([]byte(`routes:
  - {id: all, direction: inbound, host: "*", upstream: "http://app"}
  - {id: shop, direction: inbound, host: shop.test, path_prefix: /, upstream: "http://shop", forward_reserved: [/cards]}
  - {id: card, direction: inbound, host: "*", path_prefix: /card, upstream: "http://c"}
  - {id: vault, direction: inbound, host: vault.test, upstream: internal:aliases}
  - {id: mgmt, direction: inbound, host: mgmt.test, path_prefix: /cards/, upstream: internal:cards}
  - {id: out, direction: outbound, host: "*.psp.test"}
`), "r.yaml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ host, path, want string }{
		{"any.test", "/oauth/token", ""},
		{"any.test", "/oauth/token/x", ""},
		{"any.test", "/oauth/tokens", "all"},
		{"any.test", "/oauth", "all"},
		{"any.test", "/aliases", ""},
		{"any.test", "/aliases/tok_1", ""},
		{"any.test", "/aliasesX", "all"},
		{"any.test", "/cards", ""},
		{"any.test", "/cards/c1", ""},
		{"any.test", "/cardholder", "card"},
		{"any.test", "/pay", "all"},
		{"shop.test", "/cards/c1", "shop"},        // forwarded by name
		{"shop.test", "/oauth/token", ""},         // not named
		{"vault.test", "/aliases/tok_1", "vault"}, // the endpoint itself
		{"vault.test", "/oauth/token", ""},
		{"vault.test", "/cards", ""},
		{"mgmt.test", "/cards/c1", "mgmt"},
		{"SHOP.test.:80", "/cards", "shop"},
	} {
		got := ""
		if r := set.Match(Inbound, c.host, c.path); r != nil {
			got = r.ID
		}
		if got != c.want {
			t.Errorf("Match(%s %s) = %q, want %q", c.host, c.path, got, c.want)
		}
	}
	// Outbound routes are not concerned: the forward proxy has no own paths.
	if r := set.Match(Outbound, "api.psp.test", "/oauth/token"); r == nil || r.ID != "out" {
		t.Errorf("outbound /oauth/token = %v", r)
	}
	w := strings.Join(set.Warnings(), "\n")
	for _, want := range []string{
		"route all (line 2): its path_prefix / covers the gateway's own /oauth/token, /cards, /aliases",
		"route shop (line 3): its path_prefix / covers the gateway's own /oauth/token, /aliases,",
		"route card (line 4): its path_prefix /card covers the gateway's own /cards,",
		"route vault (line 5): its path_prefix / covers the gateway's own /oauth/token, /cards,",
	} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings lack %q:\n%s", want, w)
		}
	}
	if strings.Contains(w, "route mgmt") || strings.Contains(w, "route out") {
		t.Errorf("warnings name a route that covers no withheld path:\n%s", w)
	}
}

func TestForwardReservedLoadErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{`- {id: a, direction: inbound, host: h, path_prefix: /oauth/token, upstream: "http://x"}`, "lies under the gateway's own /oauth/token"},
		{`- {id: a, direction: inbound, host: h, path_prefix: /aliases/v2, upstream: "http://x"}`, "lies under the gateway's own /aliases"},
		{`- {id: a, direction: inbound, host: h, path_prefix: /cards, upstream: internal:aliases}`, "lies under the gateway's own /cards"},
		{`- {id: a, direction: inbound, host: h, upstream: "http://x", forward_reserved: [/admin]}`, `"/admin" is not one of the gateway's paths`},
		{`- {id: a, direction: inbound, host: h, upstream: "http://x", forward_reserved: /cards}`, "want a list"},
		{`- {id: a, direction: outbound, host: h, forward_reserved: [/cards]}`, "forward_reserved is for inbound routes"},
	} {
		_, err := Parse([]byte(c.src), "", Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%s) = %v, want %q", c.src, err, c.want)
		}
	}
	if _, err := Parse([]byte(`- {id: a, direction: inbound, host: h, path_prefix: /oauth/token, upstream: "http://x", forward_reserved: [/oauth/token]}`), "", Options{}); err != nil {
		t.Errorf("a named reserved path: %v", err)
	}
}

func TestOutboundRevealWarningsAndPlainHTTPKey(t *testing.T) {
	set, err := Parse([]byte(`routes:
  - {id: anyport, direction: outbound, host: a.test, filters: [{operation: reveal, targets: [{json: n}]}]}
  - {id: pinned, direction: outbound, host: b.test, ports: [443], filters: [{operation: reveal, targets: [{json: n}]}]}
  - {id: clear, direction: outbound, host: c.test, ports: [80], unsafe_reveal_over_plain_http: true, filters: [{operation: reveal, targets: [{json: n}]}]}
  - {id: redacts, direction: outbound, host: d.test, filters: [{phase: response, operation: redact, targets: [{json: n}]}]}
`), "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := strings.Join(set.Warnings(), "\n")
	for _, want := range []string{"route anyport (line 2): it reveals card data to every port", "route clear (line 4): unsafe_reveal_over_plain_http is on"} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings lack %q:\n%s", want, w)
		}
	}
	if strings.Contains(w, "route pinned") || strings.Contains(w, "route redacts") {
		t.Errorf("warnings name a route that does not reveal to any port:\n%s", w)
	}
	if !set.Routes[2].UnsafeRevealOverPlainHTTP || set.Routes[0].UnsafeRevealOverPlainHTTP {
		t.Error("unsafe_reveal_over_plain_http not read")
	}
	for _, c := range []struct{ src, want string }{
		{`- {id: a, direction: inbound, host: h, upstream: "http://x", unsafe_reveal_over_plain_http: true}`, "is for outbound routes"},
		{`- {id: a, direction: outbound, host: h, unsafe_reveal_over_plain_http: "yes"}`, "want true or false"},
	} {
		if _, err := Parse([]byte(c.src), "", Options{}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%s) = %v, want %q", c.src, err, c.want)
		}
	}
}

func TestLonelyDotInARevealingHostRegexWarns(t *testing.T) {
	for _, c := range []struct {
		pattern string
		warn    bool
	}{
		{`api.psp.com`, true},
		{`api\.psp.com`, true},
		{`(api|pay).psp\.com`, true},
		{`api\.psp\.com`, false},
		{`api[.]psp[.]com`, false},
		{`(.*)\.psp\.com`, false},
		{`.+\.psp\.com`, false},
		{`[a-z]+\.psp\.com`, false},
		{`.{1,20}\.psp\.com`, false},
	} {
		src := "routes:\n  - id: r\n    direction: outbound\n    host_regex: '" + c.pattern + "'\n    ports: [443]\n    filters: [{operation: reveal, targets: [{json: n}]}]\n" +
			"  - id: redacts\n    direction: outbound\n    host_regex: '" + c.pattern + "'\n    filters: [{phase: response, operation: redact, targets: [{json: n}]}]\n"
		set, err := Parse([]byte(src), "", Options{})
		if err != nil {
			t.Fatalf("%s: %v", c.pattern, err)
		}
		w := strings.Join(set.Warnings(), "\n")
		if got := strings.Contains(w, "route r (line 2): its host_regex has a '.' that matches any character"); got != c.warn {
			t.Errorf("host_regex %s: warned %v, want %v:\n%s", c.pattern, got, c.warn, w)
		}
		if strings.Contains(w, "route redacts") {
			t.Errorf("host_regex %s: a route that does not reveal is warned about:\n%s", c.pattern, w)
		}
	}
	if !strings.Contains(strings.Join(mustParse(t, "routes:\n  - {id: r, direction: outbound, host_regex: 'api.psp.com', ports: [443], filters: [{operation: reveal, targets: [{json: n}]}]}\n").Warnings(), ""), `write \. for a dot`) {
		t.Error("the warning does not say how to write a dot")
	}
}

func mustParse(t *testing.T, src string) *Set {
	t.Helper()
	set, err := Parse([]byte(src), "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// TestNetworkTokenRouteIsARevealingRoute: a network_token filter puts card
// data into the request (the token PAN and cryptogram, or the PAN and CVC),
// so its route counts as revealing in requests (HTTPS only, the ports and
// host_regex warnings), while its leak guard default stays block; a route
// that also reveals keeps redact, as before.
func TestNetworkTokenRouteIsARevealingRoute(t *testing.T) {
	set := mustParse(t, `routes:
  - {id: nt, direction: outbound, host_regex: 'api.psp\.com', filters: [{operation: network_token, targets: [{json: n, role: card}]}]}
  - {id: both, direction: outbound, host: b.test, ports: [443], filters: [{operation: network_token, targets: [{json: n, role: card}]}, {id: r, operation: reveal, targets: [{json: m}]}]}
`)
	nt, both := set.Routes[0], set.Routes[1]
	if !nt.RevealsInRequests() || !both.RevealsInRequests() {
		t.Error("a network_token route does not count as revealing in requests")
	}
	if nt.LeakGuard != LeakBlock || both.LeakGuard != LeakRedact {
		t.Errorf("leak guard defaults %q and %q, want block and redact", nt.LeakGuard, both.LeakGuard)
	}
	w := strings.Join(set.Warnings(), "\n")
	for _, want := range []string{"route nt (line 2): it reveals card data to every port", "route nt (line 2): its host_regex has a '.'"} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings lack %q:\n%s", want, w)
		}
	}
}

// TestRevealingRouteOverAnyOwnersHostsWarns: an outbound route that
// reveals to every name under a public suffix (*.com, *.co.uk, a hosting
// platform's *.herokuapp.com) or whose host_regex matches names of any
// domain (.+, (.*)\.com, [a-z0-9-]+\.io: the public suffix its pattern
// ends with; only .com and .co.uk names were probed) reveals card data to hosts anyone can register,
// as host "*" would (refused): it is warned about. Routes that name their
// processor's domain, and routes that do not reveal, are not.
func TestRevealingRouteOverAnyOwnersHostsWarns(t *testing.T) {
	for _, c := range []struct {
		host string // "re:" + a host_regex
		warn bool
	}{
		{"*.com", true},
		{"*.co.uk", true},
		{"*.herokuapp.com", true},
		{"re:.+", true},
		{`re:[a-z-]+\.[a-z]+`, true},
		{`re:(.*)\.com`, true},
		{`re:(.*)\.co\.uk`, true},
		{`re:[a-z0-9-]+\.io`, true},
		{`re:[a-z]+\.io`, true},
		{`re:(.*)\.de`, true},
		{`re:([a-z]+\.com\.au)`, true},
		{`re:.+\.herokuapp\.com`, true},
		{`re:(.*\.)?psp\.io`, false},
		{"*.example.com", false},
		{"*.psp.test", false},
		{"*.stripe.com", false},
		{`re:(.*)\.stripe\.com`, false},
		{`re:[a-z]+\.psp\.example`, false},
	} {
		sel := "host: '" + c.host + "'"
		if p, ok := strings.CutPrefix(c.host, "re:"); ok {
			sel = "host_regex: '" + p + "'"
		}
		set := mustParse(t, "routes:\n  - {id: r, direction: outbound, "+sel+", ports: [443], filters: [{operation: reveal, targets: [{json: n}]}]}\n"+
			"  - {id: redacts, direction: outbound, "+sel+", filters: [{phase: response, operation: redact, targets: [{json: n}]}]}\n")
		w := strings.Join(set.Warnings(), "\n")
		if got := strings.Contains(w, "route r (line 2): ") && strings.Contains(w, "hosts of any owner"); got != c.warn {
			t.Errorf("%s: warned %v, want %v:\n%s", c.host, got, c.warn, w)
		}
		if strings.Contains(w, "route redacts") {
			t.Errorf("%s: a route that does not reveal is warned about:\n%s", c.host, w)
		}
	}
}

func TestReservedPathBoundaries(t *testing.T) {
	for path, want := range map[string]string{
		"/cards": "/cards", "/cards/": "/cards", "/cards/abc": "/cards", "/cardsx": "", "/card": "",
		"/aliases": "/aliases", "/aliases/tok_1": "/aliases", "/aliases-old": "",
		"/oauth/token": "/oauth/token", "/oauth/token/x": "/oauth/token", "/oauth/tokens": "", "/oauth": "",
		"/": "", "": "", "/checkout": "", "/x/cards": "",
	} {
		if got := ReservedPath(path); got != want {
			t.Errorf("ReservedPath(%q) = %q, want %q", path, got, want)
		}
	}
}

// TestMatchAllocatesNothing: the inbound proxy matches every request (and
// asks ReservedPath before): a Host without a port allocated the error of
// net.SplitHostPort it was asked of.
func TestMatchAllocatesNothing(t *testing.T) {
	set, err := Parse([]byte(`routes:
  - {id: checkout, direction: inbound, host: "*", path_prefix: /checkout, upstream: "http://127.0.0.1:1"}
  - {id: api, direction: inbound, host: "api.example", upstream: "http://127.0.0.1:1"}
`), "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"shop.example", "shop.example:8443", "127.0.0.1"} {
		n := testing.AllocsPerRun(100, func() {
			if ReservedPath("/checkout/1") != "" || set.Match(Inbound, host, "/checkout/1") == nil {
				t.Fatal("no match")
			}
		})
		if n != 0 {
			t.Errorf("Match(%q): %v allocations, want 0", host, n)
		}
	}
}
