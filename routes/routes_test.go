package routes

import (
	"errors"
	"fmt"
	"mime"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/account"
	"github.com/aliasgate/aliasgate/routes/rewrite"
)

// designExample is the route example of the design, which must load.
const designExample = `routes:
  - id: checkout
    direction: inbound
    host: shop.example.com
    path_prefix: /
    upstream: http://127.0.0.1:3000
    filters:
      - id: card-in
        phase: request
        match: {methods: [POST], path: "^/checkout$", content_type: json, status: []}
        operation: redact
        on_error: reject
        targets:
          - {json: card.number, format: FPE_SIX_T_FOUR, storage: persistent, classifiers: [pan]}
          - {json: "items.#.cvc", format: UUID, storage: volatile}
          - {header: X-Card-Number}
      - id: form-in
        match: {content_type: form}
        operation: redact
        targets:
          - {form: card_number}
      - id: xml-in
        match: {content_type: xml}
        operation: redact
        targets:
          - {xml: /payment/card/pan}
      - id: regex-in
        match: {content_type: text/plain}
        operation: redact
        targets:
          - {regex: '\b[0-9]{13,19}\b', luhn: true}
  - id: psp
    direction: outbound
    host: "*.psp.example"
    filters:
      - id: reveal-out
        operation: reveal
        targets: [{json: card.number}]
      - id: redact-back
        phase: response
        match: {status: [200, 201]}
        operation: redact
        targets: [{json: card.number}]
`

func knownFormat(f string) error {
	switch strings.ToUpper(f) {
	case "UUID", "FPE_SIX_T_FOUR", "PFPT":
		return nil
	}
	return errors.New("unknown")
}

func TestDesignExampleLoads(t *testing.T) {
	set, err := Parse([]byte(designExample), "routes.yaml", Options{CheckFormat: knownFormat})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Routes) != 2 {
		t.Fatalf("%d routes", len(set.Routes))
	}
	r := set.Routes[0]
	if r.ID != "checkout" || r.Direction != Inbound || r.UpstreamURL.Host != "127.0.0.1:3000" || r.LeakGuard != LeakLog || len(r.Filters) != 4 || r.Line != 2 {
		t.Fatalf("route = %+v", r)
	}
	f := r.Filters[0]
	if f.Program == nil || f.Operation != rewrite.Redact || f.OnError != Reject || f.Match.Path.String() != "^/checkout$" ||
		f.Match.ContentType != "json" || f.Targets[1].Storage != "volatile" || f.Line != 8 {
		t.Fatalf("filter = %+v", f)
	}
	if got := f.Program.Targets()[0]; got.Format != "FPE_SIX_T_FOUR" || got.Storage != "PERSISTENT" || got.Classifiers[0] != "pan" {
		t.Fatalf("compiled target = %+v", got)
	}
	if set.Routes[1].Filters[0].Phase != Request || set.Routes[1].Filters[1].Match.Status[1] != 201 {
		t.Fatalf("outbound filters = %+v", set.Routes[1].Filters)
	}
}

func TestLoadReportsEveryProblemWithItsLine(t *testing.T) {
	src := `routes:
  - id: a
    direction: inbound
    host: shop.example.com
    filters:
      - operation: reveal
        targets: [{json: pan}]
  - id: a
    direction: sideways
    host: "bad host/x"
    upstream: ftp://x
    bogus: 1
    filters:
      - id: f
        match: {path: "([", content_type: "not a type", status: [200]}
        operation: redact
        targets:
          - {json: "card.@reverse"}
          - {json: a, form: b}
          - {regex: "(?<=x)1"}
          - {json: ok, format: NOPE, storage: forever}
      - id: f
        operation: scramble
        on_error: ignore
        targets: []
  - id: out
    direction: outbound
    host: api.psp.example
    upstream: http://x
    filters:
      - phase: response
        operation: reveal
        targets: [{xml: "//pan"}, {header: X, luhn: true}]
`
	_, err := Parse([]byte(src), "r.yaml", Options{CheckFormat: knownFormat})
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("err = %v", err)
	}
	want := []struct {
		line int
		text string
	}{
		{2, "inbound route needs an upstream"},
		{6, "reveal on an inbound request is refused"},
		{8, `route id "a" is already used by the route at line 2`},
		{9, `direction "sideways"`},
		{10, `host "bad host/x"`},
		{11, "upstream must be an http(s) URL"},
		{12, `unknown key "bogus"`},
		{15, "match.path: bad regular expression"},
		{15, `match.content_type "not a type"`},
		{15, "match.status applies to response filters only"},
		{18, "uses a modifier (@…); modifiers compute values, they do not locate them"},
		{19, "give exactly one of json, form, header, xml, regex"},
		{20, "bad"},
		{21, `format "NOPE" is not an alias format`},
		{21, `storage "forever"`},
		{22, `filter id "f" is already used at line 14`},
		{23, `operation "scramble"`},
		{24, `on_error "ignore"`},
		{25, "targets: want a list of at least one target"},
		{29, "an outbound route has no upstream"},
		{33, "luhn goes with regex targets only"},
	}
	text := err.Error()
	for _, w := range want {
		found := false
		for _, p := range le.Problems {
			if p.Line == w.line && strings.Contains(p.Message, w.text) {
				found = true
			}
		}
		if !found {
			t.Errorf("no problem at line %d containing %q", w.line, w.text)
		}
	}
	if t.Failed() {
		t.Logf("problems:\n%s", text)
	}
	if !strings.Contains(text, "r.yaml:9: ") {
		t.Errorf("problems are not prefixed with file:line: %s", text)
	}
}

func TestParseAcceptsListAndEmptyDocuments(t *testing.T) {
	for _, src := range []string{"", "routes: []", "routes:", "[]", "- id: x\n  direction: outbound\n  host: '*.psp.example'\n"} {
		if _, err := Parse([]byte(src), "", Options{}); err != nil {
			t.Errorf("Parse(%q) = %v", src, err)
		}
	}
	for _, src := range []string{"routes: {a: 1}", "just text", "other: 1", "routes: [1]", "{",
		// an outbound route for any host would reveal to any destination
		"- id: x\n  direction: outbound\n  host: '*'\n", "- id: x\n  direction: outbound\n  host: '*'\n  ports: [443]\n"} {
		if _, err := Parse([]byte(src), "", Options{}); err == nil {
			t.Errorf("Parse(%q) succeeded", src)
		}
	}
}

func TestMatchPicksLongestPrefixThenMostSpecificHostThenFileOrder(t *testing.T) {
	src := `routes:
  - {id: any, direction: inbound, host: "*", upstream: "http://a"}
  - {id: shop, direction: inbound, host: shop.example.com, upstream: "http://b"}
  - {id: api, direction: inbound, host: "*.example.com", path_prefix: /api/, upstream: "http://c"}
  - {id: cards, direction: inbound, host: shop.example.com, path_prefix: /cards, upstream: internal:cards}
  - {id: psp, direction: outbound, host: "*.psp.example"}
  - {id: psp-exact, direction: outbound, host: api.psp.example}
  - {id: psp-exact-2, direction: outbound, host: api.psp.example}
  - {id: psp-deeper, direction: outbound, host: "*.eu.psp.example"}
`
	set, err := Parse([]byte(src), "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		dir        Direction
		host, path string
		want       string
	}{
		{Inbound, "shop.example.com", "/checkout", "shop"},
		{Inbound, "SHOP.example.com:8080", "/cards/CRD1", "cards"},
		{Inbound, "api.example.com", "/api/x", "api"},
		{Inbound, "example.com", "/api/x", "any"},
		{Inbound, "other.org", "/", "any"},
		{Outbound, "api.psp.example", "/v1", "psp-exact"},
		{Outbound, "psp.example", "/v1", ""},
		{Outbound, "x.y.psp.example", "/", "psp"},
		{Outbound, "api.eu.psp.example", "/", "psp-deeper"},
	}
	for _, tt := range tests {
		r := set.Match(tt.dir, tt.host, tt.path)
		got := ""
		if r != nil {
			got = r.ID
		}
		if got != tt.want {
			t.Errorf("Match(%s, %s, %s) = %q, want %q", tt.dir, tt.host, tt.path, got, tt.want)
		}
	}
}

func TestFilterMatching(t *testing.T) {
	set, err := Parse([]byte(designExample), "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := set.Routes[0]
	ids := func(fs []*Filter) string {
		var s []string
		for _, f := range fs {
			s = append(s, f.ID)
		}
		return strings.Join(s, ",")
	}
	tests := []struct {
		x    Exchange
		want string
	}{
		{Exchange{Method: "POST", Path: "/checkout", MediaType: "application/json"}, "card-in"},
		{Exchange{Method: "POST", Path: "/checkout", MediaType: "application/json; charset=utf-8"}, "card-in"},
		{Exchange{Method: "post", Path: "/checkout", MediaType: "application/json"}, ""}, // methods are case-sensitive
		{Exchange{Method: "GET", Path: "/checkout", MediaType: "application/json"}, ""},
		{Exchange{Method: "POST", Path: "/checkout/x", MediaType: "application/json"}, ""},
		{Exchange{Method: "POST", Path: "/pay", MediaType: "application/x-www-form-urlencoded"}, "form-in"},
		{Exchange{Method: "POST", Path: "/pay", MediaType: "application/soap+xml"}, "xml-in"},
		{Exchange{Method: "POST", Path: "/pay", MediaType: "text/plain"}, "regex-in"},
	}
	for _, tt := range tests {
		if got := ids(r.Matching(Request, tt.x)); got != tt.want {
			t.Errorf("Matching(%+v) = %q, want %q", tt.x, got, tt.want)
		}
	}
	out := set.Routes[1]
	if got := ids(out.Matching(Response, Exchange{Status: 201})); got != "redact-back" {
		t.Errorf("response 201 = %q", got)
	}
	if got := ids(out.Matching(Response, Exchange{Status: 500})); got != "" {
		t.Errorf("response 500 = %q", got)
	}
}

func TestContentTypeMatches(t *testing.T) {
	tests := []struct {
		want, mt string
		ok       bool
	}{
		{"json", "application/json", true},
		{"json", "application/vnd.api+json", true},
		{"json", "text/json", false},
		{"form", "application/x-www-form-urlencoded", true},
		{"form", "multipart/form-data; boundary=x", false},
		{"multipart", "multipart/form-data; boundary=x", true},
		{"xml", "text/xml; charset=utf-8", true},
		{"text/plain", "TEXT/PLAIN", true},
		{"json", " Application/JSON\t", true},
		{"json", "APPLICATION/JSON; charset=utf-8", true},
		{"json", "application/json;", true}, // ParseMediaType accepts an empty parameter list
		{"json", "application/ json", false},
		{"json", "application/json extra", false},
		{"json", "", false},
	}
	for _, tt := range tests {
		if got := ContentTypeMatches(tt.want, tt.mt); got != tt.ok {
			t.Errorf("ContentTypeMatches(%q, %q) = %v", tt.want, tt.mt, got)
		}
	}
	// The fast path (no parameters) normalizes as mime.ParseMediaType does.
	for _, mt := range []string{"application/json", "APPLICATION/XML", " text/xml ", "a b/c", "Application/Vnd.Api+JSON", "x/y/z", "\ttext/plain"} {
		parsed, _, err := mime.ParseMediaType(mt)
		if err != nil {
			parsed = strings.ToLower(strings.TrimSpace(mt))
		}
		if !ContentTypeMatches(parsed, mt) {
			t.Errorf("ContentTypeMatches(%q, %q) = false, want true (what ParseMediaType gives)", parsed, mt)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(designExample))
	f.Add([]byte("routes:\n  - {id: a, direction: outbound, host: '*.x', filters: [{operation: reveal, targets: [{json: a.#.b}]}]}\n"))
	f.Add([]byte("- id: x\n  direction: inbound\n  host: h\n  upstream: internal:cards\n"))
	f.Add([]byte("- {id: x, direction: inbound, host: h, upstream: internal:cards, account: acct_1}\n- {id: y, direction: outbound, host: h, accounts: [a, b]}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		set, err := Parse(b, "f.yaml", Options{})
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) && !strings.HasPrefix(err.Error(), "routes:") {
				t.Fatalf("error of unexpected type: %v", err)
			}
			return
		}
		for _, r := range set.Routes {
			if r.ID == "" || (r.Direction != Inbound && r.Direction != Outbound) || r.Host == "" {
				t.Fatalf("accepted an incomplete route %+v", r)
			}
			if (r.Account != "" && (r.Direction != Inbound || account.Check(r.Account) != nil)) ||
				(len(r.Accounts) > 0 && r.Direction != Outbound) {
				t.Fatalf("accepted route %s with account %q, accounts %q", r.ID, r.Account, r.Accounts)
			}
			for _, a := range r.Accounts {
				if account.Check(a) != nil {
					t.Fatalf("accepted route %s with account %q", r.ID, a)
				}
			}
			for _, fl := range r.Filters {
				if fl.Program == nil {
					t.Fatalf("accepted filter %s without a program", fl.ID)
				}
				if r.Direction == Inbound && fl.Phase == Request && fl.Operation == rewrite.Reveal {
					t.Fatal("accepted a reveal on an inbound request")
				}
			}
			_ = fmt.Sprint(r.Matching(Request, Exchange{Method: "POST", Path: "/"}))
		}
	})
}

// TestParseJSONQueryTargets: gjson queries load as JSON targets; modifiers,
// multipaths, literals and queries gjson would read loosely are refused at
// load, each on its own line.
func TestParseJSONQueryTargets(t *testing.T) {
	good := `routes:
  - id: pay
    direction: inbound
    host: shop.example
    upstream: http://app
    filters:
      - operation: redact
        targets:
          - {json: 'payments.#(type=="card")#.number', format: FPE_SIX_T_FOUR}
          - {json: 'payments.#(type=="card").cvc', storage: volatile}
          - {json: 'orders.#.lines.#(kind!="gift")#.pan'}
          - {json: 'wallets.#(balance>=100)#.iban'}
`
	rs, err := Parse([]byte(good), "r.yaml", Options{CheckFormat: knownFormat})
	if err != nil {
		t.Fatal(err)
	}
	if got := rs.Routes[0].Filters[0].Targets[0].JSON; got != `payments.#(type=="card")#.number` {
		t.Fatalf("target %q", got)
	}
	bad := `routes:
  - id: pay
    direction: inbound
    host: shop.example
    upstream: http://app
    filters:
      - operation: redact
        targets:
          - {json: 'payments.#(type=="card")#|@reverse'}
          - {json: '{a,b}'}
          - {json: '!true'}
          - {json: 'payments.#(type==card)#.number'}
          - {json: 'payments.#(type=="card"'}
          - {json: 'payments.#(type==~true)#.n'}
`
	_, err = Parse([]byte(bad), "r.yaml", Options{CheckFormat: knownFormat})
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("err = %v", err)
	}
	want := map[int]string{9: "pipe", 10: "multipath", 11: "literal", 12: "JSON literal", 13: "not closed", 14: "~ conversions"}
	for line, text := range want {
		found := false
		for _, p := range le.Problems {
			found = found || p.Line == line && strings.Contains(p.Message, text)
		}
		if !found {
			t.Errorf("no problem at line %d containing %q in:\n%v", line, text, err)
		}
	}
}

// TestRedactingRouteMatchesItsPrefixInAnyLetterCase: a route with request
// redact filters takes the paths its prefix starts once ASCII case is
// ignored; one without them, and one that reveals only, compare case; of
// two prefixes of one length the one written as the path is wins, and a
// longer prefix still wins over a shorter exact one.
func TestRedactingRouteMatchesItsPrefixInAnyLetterCase(t *testing.T) {
	redact := `filters: [{id: f, operation: redact, targets: [{json: card.number}]}]`
	src := `routes:
  - {id: app, direction: inbound, host: "*", path_prefix: /, upstream: "http://a"}
  - {id: checkout, direction: inbound, host: "*", path_prefix: /checkout, upstream: "http://b", ` + redact + `}
  - {id: Checkout-exact, direction: inbound, host: "*", path_prefix: /Checkout, upstream: "http://c"}
  - {id: static, direction: inbound, host: "*", path_prefix: /static/, upstream: "http://d"}
  - {id: api, direction: inbound, host: "*", path_prefix: /api/, upstream: "http://f", ` + redact + `}
  - {id: deep, direction: inbound, host: "*", path_prefix: /checkout/v2, upstream: "http://e", ` + redact + `}
  - {id: psp, direction: outbound, host: api.psp.example, path_prefix: /v1, filters: [{id: r, operation: reveal, targets: [{json: card.number}]}]}
  - {id: psp-redact, direction: outbound, host: api.psp.example, path_prefix: /tokens, ` + redact + `}
  - {id: wallet-page, direction: inbound, host: "*", path_prefix: /wallet, upstream: "http://g"}
  - {id: wallet-api, direction: inbound, host: "*", path_prefix: /wallet/, upstream: "http://h", ` + redact + `}
`
	set, err := Parse([]byte(src), "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		dir        Direction
		path, want string
	}{
		{Inbound, "/checkout", "checkout"},
		{Inbound, "/CHECKOUT/x", "checkout"},
		{Inbound, "/Checkout", "Checkout-exact"},
		{Inbound, "/Checkout/V2/x", "deep"},
		{Inbound, "/Static/a", "app"},
		{Inbound, "/chec", "app"},
		{Inbound, "/checkouts", "checkout"},
		{Inbound, "/api", "api"},
		{Inbound, "/API", "api"},
		{Inbound, "/ap", "app"},
		{Inbound, "/static", "app"},
		{Outbound, "/V1/x", ""},
		{Outbound, "/TOKENS", "psp-redact"},
		// A route whose prefix starts the path as written is not taken
		// over by a redacting route that matches it only without its
		// trailing slash (review round 2: /wallet went to wallet-api).
		{Inbound, "/wallet", "wallet-page"},
		{Inbound, "/wallet.json", "wallet-page"},
		{Inbound, "/wallet/x", "wallet-api"},
		{Inbound, "/Wallet", "wallet-api"},
		{Inbound, "/WALLET.json", "wallet-api"},
	} {
		host := "shop.example"
		if tt.dir == Outbound {
			host = "api.psp.example"
		}
		got := ""
		if r := set.Match(tt.dir, host, tt.path); r != nil {
			got = r.ID
		}
		if got != tt.want {
			t.Errorf("Match(%s, %s) = %q, want %q", tt.dir, tt.path, got, tt.want)
		}
	}
}

// TestFormatSuffix: the format extension Rails reads off a path's last
// segment, and paths that have none.
func TestFormatSuffix(t *testing.T) {
	for path, want := range map[string]string{
		"/checkout.json": "/checkout", "/a/b.c.xml": "/a/b.c", "/Pay.XML": "/Pay",
		"/checkout": "", "/.env": "", "/a./": "", "/a.b/c": "", "/a.": "", ".": "",
	} {
		got, ok := formatSuffix(path)
		if ok != (want != "") || got != want {
			t.Errorf("formatSuffix(%q) = %q, %v; want %q", path, got, ok, want)
		}
	}
}
