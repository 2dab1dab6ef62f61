package routes

import (
	"strings"
	"testing"
)

// TestRevealInTheAnswersOfTheInternalAPIsIsRefused: a response reveal on a
// route whose upstream is internal:cards or internal:aliases would show
// card data to clients the API withholds it from (a client without --pci,
// one without aliases:reveal): refused at load; a response redact there is
// fine.
func TestRevealInTheAnswersOfTheInternalAPIsIsRefused(t *testing.T) {
	for _, up := range []string{UpstreamCards, UpstreamAliases} {
		src := `- {id: a, direction: inbound, host: h, path_prefix: /x, upstream: ` + up +
			`, filters: [{phase: response, operation: reveal, on_error: pass, targets: [{json: data.attributes.pan_alias}]}]}`
		_, err := Parse([]byte(src), "", Options{})
		if err == nil || !strings.Contains(err.Error(), "reveal in the answers of "+up+" is refused") {
			t.Errorf("%s: Parse = %v", up, err)
		}
		src = `- {id: a, direction: inbound, host: h, path_prefix: /x, upstream: ` + up +
			`, filters: [{phase: response, operation: redact, targets: [{json: data.attributes.pan}]}]}`
		if _, err := Parse([]byte(src), "", Options{}); err != nil {
			t.Errorf("%s: a response redact: %v", up, err)
		}
	}
}

// TestMayRevealInResponseReadsTheRequestSideOfTheMatch: a route's response
// reveal may apply to a request when the filter's method, path, path_info
// and request_content_type accept it; its status and content_type are
// not known before the answer, so they never rule a request out.
func TestMayRevealInResponseReadsTheRequestSideOfTheMatch(t *testing.T) {
	src := `- {id: a, direction: inbound, host: h, upstream: "http://app", filters: [
    {phase: response, operation: reveal, match: {methods: [GET], path: ^/orders, status: [200], content_type: json}, targets: [{json: pan}]},
    {phase: response, operation: redact, targets: [{json: pan}]},
    {phase: request, operation: redact, match: {path: ^/cards}, targets: [{json: pan}]}]}`
	set, err := Parse([]byte(src), "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := set.Routes[0]
	for _, c := range []struct {
		x    Exchange
		want bool
	}{
		{Exchange{Method: "GET", Path: "/orders/1"}, true},
		{Exchange{Method: "GET", Path: "/orders/1", Status: 404, MediaType: "text/plain"}, true},
		{Exchange{Method: "POST", Path: "/orders/1"}, false},
		{Exchange{Method: "GET", Path: "/cards/1"}, false},
	} {
		if got := r.MayRevealInResponse(c.x); got != c.want {
			t.Errorf("MayRevealInResponse(%+v) = %v, want %v", c.x, got, c.want)
		}
	}
}
