package proxy

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// TestValueThatIsNotTextIsRevealedAsStored: a form field's %E9 is stored
// whole by a route (the byte 0xE9, not UTF-8 text), and a route's reveal
// gives back those bytes as stored (caf%E9 again): the vault API's 422
// value_not_text is the JSON answer's, not the vault's or the routes'.
func TestValueThatIsNotTextIsRevealedAsStored(t *testing.T) {
	var mu sync.Mutex
	var alias string
	up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if strings.HasPrefix(r.URL.Path, "/store") {
			w.Write([]byte("ok"))
			return
		}
		w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
		w.Write([]byte("name=" + url.QueryEscape(alias)))
	})
	g := newGateway(t, parseRoutes(t, `routes:
  - id: store
    direction: inbound
    host: "*"
    path_prefix: /store
    upstream: {{UP}}
    filters:
      - id: name
        operation: redact
        targets: [{form: name}]
  - id: show
    direction: inbound
    host: "*"
    path_prefix: /show
    upstream: {{UP}}
    filters:
      - id: name-reveal
        phase: response
        operation: reveal
        targets: [{form: name}]
`, up.URL), nil, gwOptions{})
	resp, body := g.do(t, "POST", "/store", "application/x-www-form-urlencoded", strings.NewReader("name=caf%E9"), nil)
	if resp.StatusCode != 200 {
		t.Fatalf("store: %d %s", resp.StatusCode, body)
	}
	got := up.requests()
	if len(got) != 1 {
		t.Fatalf("upstream got %d requests", len(got))
	}
	q, err := url.ParseQuery(string(got[0].Body))
	if err != nil || q.Get("name") == "" || strings.Contains(string(got[0].Body), "caf") {
		t.Fatalf("the upstream got %q", got[0].Body)
	}
	mu.Lock()
	alias = q.Get("name")
	mu.Unlock()
	resp, body = g.do(t, "GET", "/show", "", nil, nil)
	if resp.StatusCode != 200 || string(body) != "name=caf%E9" {
		t.Fatalf("reveal: %d %q, want name=caf%%E9", resp.StatusCode, body)
	}
}
