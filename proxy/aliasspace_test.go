package proxy

import (
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/vault"
)

// zeroRand draws the same alias every time: the second value of a short
// format finds its alias taken at every draw, as it does once a format's
// few aliases are all used.
type zeroRand struct{}

func (zeroRand) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestExhaustedAliasSpaceIsAConflict: a redaction that finds no free alias
// of its target's format answers 409 alias_space_exhausted (the route
// needs a longer format), not 500 internal_error, and the upstream gets
// nothing.
func TestExhaustedAliasSpaceIsAConflict(t *testing.T) {
	up := newUpstream(t, nil)
	set := parseRoutes(t, `
routes:
  - id: pay
    direction: inbound
    host: "*"
    upstream: {{UP}}
    filters:
      - id: pin
        operation: redact
        targets:
          - {json: pin, format: NUM_LENGTH_PRESERVING}
`, up.URL)
	g := newGateway(t, set, newTestVaultWith(t, vault.Options{Rand: zeroRand{}}), gwOptions{})
	if resp, body := g.do(t, "POST", "/pay", "application/json", strings.NewReader(`{"pin":"1234"}`), nil); resp.StatusCode != 200 {
		t.Fatalf("first value: %d %s", resp.StatusCode, body)
	}
	resp, body := g.do(t, "POST", "/pay", "application/json", strings.NewReader(`{"pin":"5678"}`), nil)
	if resp.StatusCode != 409 || !strings.Contains(string(body), "alias_space_exhausted") || strings.Contains(string(body), "5678") {
		t.Fatalf("no free alias: %d %s", resp.StatusCode, body)
	}
	if n := len(up.requests()); n != 1 {
		t.Fatalf("the upstream got %d requests, want 1", n)
	}
}
