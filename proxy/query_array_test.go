package proxy

import (
	"net/http"
	"strings"
	"testing"
)

// arrayQueryRoutes are jsonQueryRoutes with a filter whose body is a
// top-level array of cards (#.pan).
const arrayQueryRoutes = jsonQueryRoutes + `      - id: bulk
        match: {methods: [POST], path: "^/bulk$", content_type: json}
        operation: redact
        targets:
          - {json: "#.pan"}
`

// TestQueryFieldUnderAParamsWrapperKeyIsRefused: a query field that
// nests to a JSON target's value under one more key first is refused.
// Rails wraps a JSON body's keys under the controller's name
// (wrap_parameters, on by default for JSON), so its actions read
// params.require(:checkout)[:card][:number]; a request without a JSON
// body gets no wrapping, and POST /checkout?checkout[card][number]=4111…
// was that value in clear. The gateway cannot know the controller's
// name, so any first key counts, for targets of two keys or more (a
// single key, "number", would refuse JSON:API's page[number]).
func TestQueryFieldUnderAParamsWrapperKeyIsRefused(t *testing.T) {
	up := newUpstream(t, nil)
	g := newGateway(t, parseRoutes(t, arrayQueryRoutes, up.URL), nil, gwOptions{})
	for _, path := range []string{
		"/checkout?checkout[card][number]=" + testPAN,
		"/checkout?order[Card][CVC]=" + testCVC,
		"/batch?batch[cards][][pan]=" + testPAN,
		"/Checkout.json?payment[card][number][]=" + testPAN,
	} {
		wantQueryRefused(t, g, up, "POST", path, "")
	}
	for _, path := range []string{"/checkout?page[number]=2", "/checkout?checkout[card]=visa", "/checkout?filter[card][brand]=visa", "/bulk?batch[pan]=1"} {
		wantQueryForwarded(t, g, up, path)
	}
}

// wantQueryRefused sends method path (with body as JSON, or none) to g
// and fails t unless it is refused 422 card_field_in_query without
// reaching up.
func wantQueryRefused(t *testing.T, g *gateway, up *upstream, method, path, body string) {
	t.Helper()
	before := len(up.requests())
	var resp *http.Response
	var got []byte
	if body == "" {
		resp, got = g.do(t, method, path, "", nil, nil)
	} else {
		resp, got = g.do(t, method, path, "application/json", strings.NewReader(body), nil)
	}
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(got), `"card_field_in_query"`) {
		t.Errorf("%s %s: %d %s, want 422 card_field_in_query", method, path, resp.StatusCode, got)
	}
	if len(up.requests()) != before {
		t.Errorf("%s %s: the upstream received %s?%s", method, path, up.last(t).Path, up.last(t).Query)
	}
}

// wantQueryForwarded sends POST path without a body to g and fails t
// unless up receives it.
func wantQueryForwarded(t *testing.T, g *gateway, up *upstream, path string) {
	t.Helper()
	before := len(up.requests())
	resp, got := g.do(t, "POST", path, "", nil, nil)
	if resp.StatusCode != http.StatusOK || len(up.requests()) != before+1 {
		t.Errorf("POST %s: %d %s, want forwarded", path, resp.StatusCode, got)
	}
}

// TestQueryFieldUnderAnyKeyOfATargetedArrayIsRefused: a query field that
// reaches an element of a targeted array under any key, or under Rails'
// _json, is refused. PHP nests cards[x][pan] as an array whose element
// "x" holds pan, and an app's foreach over $request->input('cards') reads
// it as it reads cards[0][pan]; Rails parses a top-level JSON array body
// as params[:_json] and merges the query's _json[][pan] over it. Both
// were forwarded in clear: the query check matched '#' to "" and digits
// only, and the first key to the body's own keys.
func TestQueryFieldUnderAnyKeyOfATargetedArrayIsRefused(t *testing.T) {
	up := newUpstream(t, nil)
	g := newGateway(t, parseRoutes(t, arrayQueryRoutes, up.URL), nil, gwOptions{})
	for _, c := range []struct{ path, body string }{
		{"/batch?cards[x][pan]=" + testPAN, `{"cards":[]}`},
		{"/batch?cards[first][pan]=" + testPAN, ""},
		{"/batch?Cards[%20][PAN]=" + testPAN, ""},
		{"/bulk?_json[][pan]=" + testPAN, `[{"pan":"x"}]`},
		{"/bulk?_json[0][pan]=" + testPAN, `[]`},
		{"/bulk?_JSON[a][Pan]=" + testPAN, ""},
		{"/bulk?0[pan]=" + testPAN, `[]`},
	} {
		wantQueryRefused(t, g, up, "POST", c.path, c.body)
	}
	for _, path := range []string{"/bulk?page[number]=2&utm[pan]=x", "/bulk?_json=1", "/bulk?_json[][name]=x", "/batch?cards[x][name]=x", "/batch?cards=2"} {
		before := len(up.requests())
		resp, got := g.do(t, "POST", path, "application/json", strings.NewReader(`[{"pan":"`+testPAN+`"}]`), nil)
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusUnprocessableEntity || strings.Contains(string(got), `"card_field_in_query"`) || len(up.requests()) > before+1 {
			t.Errorf("POST %s: %d %s, want no card_field_in_query", path, resp.StatusCode, got)
		}
	}
}
