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
		before := len(up.requests())
		resp, got := g.do(t, "POST", path, "", nil, nil)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(got), `"card_field_in_query"`) {
			t.Errorf("POST %s: %d %s, want 422 card_field_in_query", path, resp.StatusCode, got)
		}
		if len(up.requests()) != before {
			t.Errorf("POST %s: the upstream received %s?%s", path, up.last(t).Path, up.last(t).Query)
		}
	}
	for _, path := range []string{"/checkout?page[number]=2", "/checkout?checkout[card]=visa", "/checkout?filter[card][brand]=visa", "/bulk?batch[pan]=1"} {
		before := len(up.requests())
		resp, got := g.do(t, "POST", path, "", nil, nil)
		if resp.StatusCode != http.StatusOK || len(up.requests()) != before+1 {
			t.Errorf("POST %s: %d %s, want forwarded", path, resp.StatusCode, got)
		}
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
		before := len(up.requests())
		var resp *http.Response
		var got []byte
		if c.body == "" {
			resp, got = g.do(t, "POST", c.path, "", nil, nil)
		} else {
			resp, got = g.do(t, "POST", c.path, "application/json", strings.NewReader(c.body), nil)
		}
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(got), `"card_field_in_query"`) {
			t.Errorf("POST %s: %d %s, want 422 card_field_in_query", c.path, resp.StatusCode, got)
		}
		if len(up.requests()) != before {
			t.Errorf("POST %s: the upstream received %s?%s", c.path, up.last(t).Path, up.last(t).Query)
		}
	}
	for _, path := range []string{"/bulk?page[number]=2&utm[pan]=x", "/bulk?_json=1", "/bulk?_json[][name]=x", "/batch?cards[x][name]=x", "/batch?cards=2"} {
		before := len(up.requests())
		resp, got := g.do(t, "POST", path, "application/json", strings.NewReader(`[{"pan":"`+testPAN+`"}]`), nil)
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusUnprocessableEntity || strings.Contains(string(got), `"card_field_in_query"`) || len(up.requests()) > before+1 {
			t.Errorf("POST %s: %d %s, want no card_field_in_query", path, resp.StatusCode, got)
		}
	}
}
