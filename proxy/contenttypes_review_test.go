package proxy

import (
	"net/http"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/obs/obstest"
)

// TestRedactingRouteRefusesContentTypesThatDiffer: the filters read a
// request by its first Content-Type field, an app perhaps by its last
// (gunicorn hands Django and Flask the last one). A multipart body sent
// with "application/x-www-form-urlencoded" first and "multipart/form-data"
// second was read as an urlencoded body holding no card_number, and its
// card_number part reached the app in clear on a route whose guard logs.
func TestRedactingRouteRefusesContentTypesThatDiffer(t *testing.T) {
	const doc = `
routes:
  - id: pay
    direction: inbound
    host: "*"
    path_prefix: /pay
    upstream: {{UP}}
    filters:
      - id: multipart
        operation: redact
        match: {content_type: multipart}
        targets: [{form: card_number}]
      - id: form
        operation: redact
        match: {content_type: form}
        targets: [{form: card_number}]
`
	up := newUpstream(t, nil)
	g := newGateway(t, parseRoutes(t, doc, up.URL), nil, gwOptions{logger: obstest.Logger(t)})
	post := func(body string, cts ...string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest("POST", g.URL+"/pay", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header["Content-Type"] = cts
		resp, err := g.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b := make([]byte, 512)
		n, _ := resp.Body.Read(b)
		return resp, string(b[:n])
	}
	mp := "--B\r\nContent-Disposition: form-data; name=\"card_number\"\r\n\r\n" + testPAN + "\r\n--B--\r\n"
	for _, cts := range [][]string{
		{"application/x-www-form-urlencoded", "multipart/form-data; boundary=B"},
		{"text/plain", "multipart/form-data; boundary=B"},
		{"multipart/form-data; boundary=A", "multipart/form-data; boundary=B"},
	} {
		resp, b := post(mp, cts...)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(b, "malformed_body") {
			t.Errorf("Content-Type %q: want 400 malformed_body, got %d %s", cts, resp.StatusCode, b)
		}
	}
	if n := len(up.requests()); n != 0 {
		t.Fatalf("the upstream received %d requests", n)
	}
	// The same type twice is one type: redacted as usual.
	resp, b := post(mp, "multipart/form-data; boundary=B", "multipart/form-data; boundary=B")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the same Content-Type twice: %d %s", resp.StatusCode, b)
	}
	if got := up.last(t).Body; strings.Contains(string(got), testPAN) || !strings.Contains(string(got), "card_number") {
		t.Errorf("the same Content-Type twice: the upstream got %q", obstestMask(string(got)))
	}
}
