package proxy

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/aliasgate/aliasgate/internal/bodybudget"
	"github.com/aliasgate/aliasgate/vault"
)

// TestRevealedValuesAreBoundedBeforeTheyAreHeld: the values a reveal
// filter puts into a body are bounded by limits.max_body before the vault
// decrypts them, not only once the body is rebuilt. One alias of a long
// stored value, repeated in an answer far under max_body, made the vault
// decrypt a copy of the value for each (and the rewrite another copy, and
// the body a third) before the rewritten body's check refused it: an
// answer of 30 KB made the gateway allocate some 80 MiB past
// max_buffered_bytes (a 1 MiB value repeated: gigabytes, the process
// out of memory). Refused as the body it would have made, 502
// body_too_large, delivered, whatever the filter's on_error.
func TestRevealedValuesAreBoundedBeforeTheyAreHeld(t *testing.T) {
	const maxBody = 1 << 20
	tv := newTestVault(t)
	toks, err := tv.svc.Redact(context.Background(), []vault.RedactRequest{{Value: strings.Repeat("v", 32<<10)}})
	if err != nil {
		t.Fatal(err)
	}
	alias := toks[0].Alias
	for _, c := range []struct {
		name, onError string
		copies        int
		status        int
	}{
		{"a few copies, under max_body", "reject", 8, http.StatusOK},
		{"copies past max_body", "reject", 800, http.StatusBadGateway},
		{"copies past max_body, on_error pass", "pass", 800, http.StatusBadGateway},
	} {
		answer := `{"shown":[` + strings.TrimSuffix(strings.Repeat(`{"a":"`+alias+`"},`, c.copies), ",") + `]}`
		up := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, answer)
		})
		doc := `routes:
  - id: show
    direction: inbound
    host: "*"
    path_prefix: /show
    upstream: {{UP}}
    leak_guard: "off"
    filters:
      - {id: reveal, phase: response, operation: reveal, on_error: ` + c.onError + `, targets: [{json: shown.#.a}]}
`
		b := bodybudget.New(4*maxBody, 0)
		g := newGateway(t, parseRoutes(t, doc, up.URL), tv, gwOptions{budget: b, maxBody: maxBody})
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		resp, body := g.do(t, "GET", "/show", "", nil, nil)
		runtime.ReadMemStats(&after)
		if resp.StatusCode != c.status {
			t.Errorf("%s: %d %.200s, want %d", c.name, resp.StatusCode, body, c.status)
		}
		if c.status != http.StatusOK {
			if !strings.Contains(string(body), `"body_too_large"`) || resp.Header.Get(DeliveredHeader) != "true" {
				t.Errorf("%s: %v %.200s, want body_too_large, delivered", c.name, resp.Header, body)
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > 8*maxBody {
				t.Errorf("%s: the gateway allocated %d MiB for an answer of %d bytes (max_body %d MiB, max_buffered_bytes %d MiB)",
					c.name, got>>20, len(answer), maxBody>>20, b.Max()>>20)
			}
		}
		waitGivenBack(t, b, c.name)
	}
}
