package routes

import (
	"errors"
	"strings"
	"testing"
)

// exactRoutes uses every key that lets a route say exactly what a VGS
// route says: host_regex, ports, group, path_info, request_content_type.
const exactRoutes = `routes:
  - id: one-label
    direction: outbound
    host_regex: '[a-z]+\.psp\.example'
    filters:
      - {id: a, group: g1, match: {path_info: '/v1/charges', request_content_type: application/json}, operation: reveal, targets: [{json: pan}]}
      - {id: b, group: g1, match: {path_info: '/v1/charges'}, operation: reveal, targets: [{json: cvc}]}
      - {id: c, group: g2, match: {path_info: '/v1/.*'}, operation: reveal, targets: [{json: other}]}
      - {id: d, group: g2, match: {path_info: '/v1/charges\?version=2', request_content_type: [application/xml, text/xml]}, operation: reveal, targets: [{xml: /a/pan}]}
  - id: wide
    direction: outbound
    host: "*.psp.example"
    filters: []
  - id: exact
    direction: outbound
    host: api.psp.example
    filters: []
  - id: port
    direction: outbound
    host: api.psp.example
    ports: [8443]
    filters: []
`

func TestExactKeysMatchWhatTheySay(t *testing.T) {
	set, err := Parse([]byte(exactRoutes), "exact.yaml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	hosts := []struct{ host, want string }{
		{"pay.psp.example:443", "one-label"},
		{"PAY.psp.example.:443", "one-label"}, // case and trailing dot, with a port
		{"a.b.psp.example:443", "wide"},       // two labels: not host_regex's one
		{"a1.psp.example:443", "wide"},        // a digit: not [a-z]+
		{"api.psp.example:443", "exact"},      // exact beats host_regex
		{"api.psp.example:8443", "port"},      // a route with ports beats one without
		{"api.psp.example", "exact"},          // no port: ports cannot match
		{"psp.example:443", ""},
	}
	for _, h := range hosts {
		got := ""
		if r := set.Match(Outbound, h.host, "/v1/charges"); r != nil {
			got = r.ID
		}
		if got != h.want {
			t.Errorf("Match(%q) = %q, want %q", h.host, got, h.want)
		}
	}

	r := set.Match(Outbound, "pay.psp.example:443", "/")
	filters := []struct {
		x    Exchange
		want string
	}{
		{Exchange{Method: "POST", Path: "/v1/charges", RequestContentType: "application/json"}, "a,b"},
		// g1 matched through b: g2's c, which matches too, does not apply.
		{Exchange{Method: "POST", Path: "/v1/charges", RequestContentType: "application/json; charset=utf-8"}, "b"},
		{Exchange{Method: "POST", Path: "/v1/charges/", RequestContentType: "application/json"}, "c"}, // no trailing-slash leniency
		{Exchange{Method: "POST", Path: "/v1/charges", Query: "version=2", RequestContentType: "text/xml"}, "c,d"},
		{Exchange{Method: "POST", Path: "/v1/charges", Query: "version=2", RequestContentType: "Text/XML"}, "c"},
		{Exchange{Method: "POST", Path: "/v1/charges", Query: "version=3", RequestContentType: "text/xml"}, "c"},
		{Exchange{Method: "POST", Path: "/api/v1/charges"}, ""}, // path_info is anchored at both ends
		{Exchange{Method: "POST", Path: "/v1/charges", MediaType: "application/json"}, "b"},
	}
	for _, tt := range filters {
		if got := filterIDs(r.Matching(Request, tt.x)); got != tt.want {
			t.Errorf("Matching(%+v) = %q, want %q", tt.x, got, tt.want)
		}
		// AppendMatching after filters already there: the same filters
		// after them, the group rule applied to the appended ones only.
		other := &Filter{ID: "z", Group: "g9"}
		want := "z"
		if tt.want != "" {
			want += "," + tt.want
		}
		if got := filterIDs(r.AppendMatching([]*Filter{other}, Request, tt.x)); got != want {
			t.Errorf("AppendMatching(z, %+v) = %q, want %q", tt.x, got, want)
		}
	}
}

func TestExactKeysRefuseWhatTheyCannotMean(t *testing.T) {
	cases := []struct{ yaml, want string }{
		{`[{id: r, direction: outbound, host: a.example, host_regex: 'a\.example', filters: []}]`, "not both"},
		{`[{id: r, direction: outbound, host_regex: '(', filters: []}]`, "host_regex: bad regular expression"},
		{`[{id: r, direction: outbound, host_regex: '.*', filters: []}]`, "matches the empty host"},
		{`[{id: r, direction: inbound, host: a.example, upstream: "http://127.0.0.1:1", ports: [443], filters: []}]`, "ports are for outbound routes"},
		{`[{id: r, direction: outbound, host: a.example, ports: [0], filters: []}]`, "0 is not a TCP port"},
		{`[{id: r, direction: outbound, host: a.example, ports: [], filters: []}]`, "want a list of TCP ports"},
		{`[{id: r, direction: outbound, host: a.example, filters: [{id: f, group: g, operation: reveal, targets: [{json: a}]}, {id: h, operation: reveal, targets: [{json: b}]}]}]`, "every filter has a group or none"},
		{`[{id: r, direction: outbound, host: a.example, filters: [{id: f, group: "a b", operation: reveal, targets: [{json: a}]}]}]`, `group "a b"`},
		{`[{id: r, direction: outbound, host: a.example, filters: [{id: f, match: {path_info: '('}, operation: reveal, targets: [{json: a}]}]}]`, "match.path_info: bad regular expression"},
		{`[{id: r, direction: outbound, host: a.example, filters: [{id: f, match: {path_info: ''}, operation: reveal, targets: [{json: a}]}]}]`, "match.path_info is empty"},
		{`[{id: r, direction: outbound, host: a.example, filters: [{id: f, match: {request_content_type: ' text/xml'}, operation: reveal, targets: [{json: a}]}]}]`, "is not a header value"},
		{`[{id: r, direction: outbound, host: a.example, filters: [{id: f, match: {request_content_type: []}, operation: reveal, targets: [{json: a}]}]}]`, "at least one value"},
		{`[{id: r, direction: outbound, host: a.example, filters: [{id: f, match: {request_content_type: {a: b}}, operation: reveal, targets: [{json: a}]}]}]`, "want a Content-Type value or a list"},
		{`[{id: r, direction: outbound, host: a.example, filters: [{id: f, operation: reveal, targets: [{json: a, namespaces: true}]}]}]`, "namespaces goes with xml targets only"},
		{`[{id: r, direction: outbound, host: a.example, filters: [{id: f, operation: reveal, targets: [{xml: /s:a/pan, namespaces: true}, {xml: /t:a/pan, namespaces: true}]}]}]`, "same element"},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.yaml), "x.yaml", Options{})
		var le *LoadError
		if !errors.As(err, &le) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%s) = %v, want a problem containing %q", c.yaml, err, c.want)
		}
	}
}

func TestSplitHost(t *testing.T) {
	for _, c := range []struct{ in, host, port string }{
		{"Shop.Test", "shop.test", ""},
		{"shop.test.", "shop.test", ""},
		{"shop.test.:80", "shop.test", "80"},
		{"shop.test:8443", "shop.test", "8443"},
		{"[::1]:443", "::1", "443"},
		{"[::1]", "::1", ""},
	} {
		if h, p := SplitHost(c.in); h != c.host || p != c.port {
			t.Errorf("SplitHost(%q) = %q, %q; want %q, %q", c.in, h, p, c.host, c.port)
		}
	}
}

func filterIDs(fs []*Filter) string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = f.ID
	}
	return strings.Join(s, ",")
}
