package proxy

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// unmatchedRoutes redact the card number of JSON responses (the guard at
// its default, log, and off); the upstream negotiates its answer's format
// from the client's Accept header, as most frameworks do.
var unmatchedRoutes = "routes:\n" +
	inboundRoute("logguard", "log", responseRedact("{content_type: json}")) +
	inboundRoute("noguard", "off", "    leak_guard: \"off\"\n"+responseRedact("{content_type: json, status: [200]}")) +
	inboundRoute("passes", "pass", "    unmatched_body: pass\n"+responseRedact("{content_type: json}"))

// negotiating answers the card in the format the client's Accept asks
// for, with the status of the status query parameter.
func negotiating(w http.ResponseWriter, r *http.Request) {
	status := http.StatusOK
	if r.URL.Query().Get("status") == "404" {
		status = http.StatusNotFound
	}
	var ct, body string
	switch accept := r.Header.Get("Accept"); {
	case strings.Contains(accept, "xml"):
		ct, body = "application/xml", `<card><number>`+testPAN+`</number></card>`
	case strings.Contains(accept, "csv"):
		ct, body = "text/csv", "number\n"+testPAN+"\n"
	case strings.Contains(accept, "html"):
		ct, body = "text/html", `<td>`+testPAN+`</td>`
	case strings.Contains(accept, "plain"):
		ct, body = "text/plain", `{"card":{"number":"`+testPAN+`"}}` // JSON labelled text
	default:
		ct, body = "application/json", `{"card":{"number":"`+testPAN+`"}}`
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

// TestResponseBodyNoRedactingFilterMatched: on a route whose response
// filters redact the card number of JSON answers, a client that asked for
// another format (Accept: application/xml, text/csv, text/html), or whose
// answer the upstream labelled otherwise, or came with a status the filter
// does not match, got the card number in clear: no filter matched, and the
// guard only logs (or is off). The request phase refuses a body no
// filter matched (no_matching_filter); a response, delivered, is not
// refused: its body is read by its syntax as a request's is (JSON
// labelled text/plain is redacted), and a body no filter with body targets
// matched has every card number that is not an alias masked by the guard,
// as when a response filter fails, unless the route says unmatched_body:
// pass.
func TestResponseBodyNoRedactingFilterMatched(t *testing.T) {
	up := newUpstream(t, negotiating)
	g := newGateway(t, parseRoutes(t, unmatchedRoutes, up.URL), nil, gwOptions{logger: obstest.Logger(t)})
	masked := testPAN[:6] + strings.Repeat("*", len(testPAN)-10) + testPAN[len(testPAN)-4:]
	for _, route := range []string{"/log", "/off"} {
		for _, c := range []struct{ accept, query string }{
			{"application/xml", ""}, {"text/csv", ""}, {"text/html", ""}, {"text/plain", ""},
			{"application/json", "?status=404"}, {"application/json", ""},
		} {
			if route == "/log" && c.query != "" {
				continue // that route's filter matches every status
			}
			resp, body := g.do(t, "GET", route+"/card"+c.query, "", nil, map[string]string{"Accept": c.accept})
			if bytes.Contains(body, []byte(testPAN)) {
				t.Errorf("%s, Accept %s%s: status %d, the client got the card number", route, c.accept, c.query, resp.StatusCode)
				continue
			}
			if want := http.StatusOK; c.query != "" {
				want = http.StatusNotFound
				if resp.StatusCode != want {
					t.Errorf("%s, Accept %s%s: status %d, want %d", route, c.accept, c.query, resp.StatusCode, want)
				}
			} else if resp.StatusCode != want {
				t.Errorf("%s, Accept %s: status %d, want %d", route, c.accept, resp.StatusCode, want)
			}
			switch {
			case c.accept == "application/json" && c.query == "", c.accept == "text/plain":
				if !bytes.Contains(body, []byte(`"number":"tok_`)) {
					t.Errorf("%s, Accept %s: not redacted into an alias: %q", route, c.accept, body)
				}
			case !bytes.Contains(body, []byte(masked)) || resp.Header.Get(RedactedHeader) != "1":
				t.Errorf("%s, Accept %s%s: not masked (%s %q): %q", route, c.accept, c.query, RedactedHeader, resp.Header.Get(RedactedHeader), body)
			}
		}
	}
	// unmatched_body: pass: the route's operator lets such answers through
	// (the guard logs).
	resp, body := g.do(t, "GET", "/pass/card", "", nil, map[string]string{"Accept": "application/xml"})
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(testPAN)) {
		t.Errorf("unmatched_body: pass: status %d", resp.StatusCode)
	}
}

// TestResponseBodyTheFilterMatchedButMissed: on a route whose response
// filter redacts card.number in JSON answers, an answer in JSON of another
// shape (a list endpoint's array, an envelope, an error that echoes the
// number under another key, a second card beside the one the path names)
// got its card number to the client in clear through the guard at its
// default (log) or off: a filter with body targets matched, so the body
// was not "unmatched", and the filter found nothing at its path. Such a
// route's answers now leave with every card number that is not an alias
// masked, whatever filter matched, as an unmatched answer does.
func TestResponseBodyTheFilterMatchedButMissed(t *testing.T) {
	var body string
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	})
	g := newGateway(t, parseRoutes(t, unmatchedRoutes, up.URL), nil, gwOptions{logger: obstest.Logger(t)})
	card := `{"card":{"number":"` + testPAN + `"}}`
	masked := testPAN[:6] + strings.Repeat("*", len(testPAN)-10) + testPAN[len(testPAN)-4:]
	for _, b := range []string{
		`[` + card + `]`,
		`{"data":` + card + `}`,
		`{"error":{"param":"card[number]","value":"` + testPAN + `"}}`,
		`{"card":{"number":"4000056655665556"},"previous":{"number":"` + testPAN + `"}}`,
	} {
		body = b
		for _, route := range []string{"/log", "/off"} {
			resp, got := g.do(t, "GET", route+"/cards", "", nil, nil)
			if bytes.Contains(got, []byte(testPAN)) || !bytes.Contains(got, []byte(masked)) || resp.StatusCode != http.StatusOK {
				t.Errorf("%s, %s: status %d, got %q", route, b, resp.StatusCode, got)
			}
		}
	}
	// unmatched_body: pass lets such answers through as the guard says.
	body = `[` + card + `]`
	if resp, got := g.do(t, "GET", "/pass/cards", "", nil, nil); resp.StatusCode != 200 || !bytes.Contains(got, []byte(testPAN)) {
		t.Errorf("unmatched_body: pass: status %d, %q", resp.StatusCode, got)
	}
}
